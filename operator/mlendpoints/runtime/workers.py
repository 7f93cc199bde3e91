"""Worker threads that run ``run()`` / ``predict()`` off the event loop, with best-effort cancellation.

Why threads: the event loop must keep answering health probes, 429/503 and 408 while user code
runs, and a pod usually has one CPU, so a second process per model would double memory (the
scoring stack is ~150 MB) and add serialization to every call. The pool has exactly
``maxConcurrentRequests`` threads, so a script is never called more concurrently than configured.

Timeouts: the event loop answers 408 when a call overruns (see ``scheduler``); the thread itself
cannot be killed. :meth:`WorkerPool.cancel` then raises :class:`~.errors.Cancelled` *inside* the
thread with ``PyThreadState_SetAsyncExc``, which stops code that is running Python bytecode (loops
in the script, pandas/sklearn Python layers) at the next bytecode boundary. A call blocked in C
(``time.sleep``, a socket read, one long BLAS call) finishes its C call first. Until a call
returns, its thread keeps its slot; if every slot stays stuck past ``wedgedAfterMs`` the liveness
probe fails and Kubernetes restarts the container.

Delivery of an asynchronous exception is racy by nature, so the worker loop below is written to
survive one arriving at any bytecode: arming/disarming happen under a lock, the pending exception
is cleared after disarming, and every step after user code is idempotent.
"""

from __future__ import annotations

import ctypes
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from mlendpoints.runtime import logs
from mlendpoints.runtime.errors import Cancelled

_set_async_exc = ctypes.pythonapi["PyThreadState_SetAsyncExc"]
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int
_clear_async_exc = ctypes.pythonapi["PyThreadState_SetAsyncExc"]
_clear_async_exc.argtypes = (ctypes.c_ulong, ctypes.c_void_p)
_clear_async_exc.restype = ctypes.c_int


class Job:
    """One call to run in a worker thread: ``fn(arg)``; the outcome lands in ``value``/``error``."""

    __slots__ = (
        "arg",
        "duration",
        "error",
        "finished",
        "fn",
        "injected",
        "ok",
        "payload",
        "request_id",
        "started",
        "thread_id",
        "timed_out_at",
        "timer",
        "value",
        "waiter",
    )

    def __init__(self, fn: Callable[[Any], Any], arg: Any, request_id: str, payload: Any = None) -> None:
        self.fn = fn
        self.arg = arg
        self.request_id = request_id
        #: whatever the submitter wants back with the outcome (e.g. the waiting requests)
        self.payload = payload
        self.value: Any = None
        self.error: BaseException | None = None
        self.ok = False
        self.thread_id: int | None = None
        self.injected = False
        self.started = 0.0
        self.duration = 0.0
        self.finished = False
        self.timed_out_at = 0.0
        self.timer: Any = None
        #: set (and held) by an event loop that waits for this job synchronously (see :meth:`WorkerPool.wait`)
        self.waiter: threading.Lock | None = None


class WorkerPool:
    """``size`` daemon threads taking :class:`Job` s from one queue.

    ``on_done(job)`` is called on the event loop (via ``call_soon_threadsafe``) when a job finishes,
    whether it returned, raised or was cancelled.
    """

    def __init__(self, size: int, *, name: str = "mlendpoints-worker") -> None:
        self.size = size
        self.name = name
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._notify: Callable[[Job], None] | None = None

    def start(self, notify: Callable[[Job], None]) -> None:
        """Start the threads; ``notify`` must be thread-safe (e.g. wraps ``call_soon_threadsafe``)."""
        self._notify = notify
        for index in range(self.size):
            thread = threading.Thread(target=self._work, name=f"{self.name}-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Ask idle threads to exit; stuck ones are daemons and die with the process."""
        for _ in self._threads:
            self._queue.put(None)

    def submit(self, job: Job) -> None:
        self._queue.put(job)

    def cancel(self, job: Job) -> bool:
        """Raise :class:`Cancelled` inside the thread running ``job``; False if it is not running."""
        with self._lock:
            if job.thread_id is None or job.injected:
                return False
            job.injected = True
            return bool(_set_async_exc(job.thread_id, Cancelled) == 1)

    def wait(self, job: Job, timeout: float) -> bool:
        """Block the caller up to ``timeout`` for a job submitted with a held ``job.waiter``.

        Returns True when the job finished: its outcome is ready and *no* ``notify`` will follow.
        On False the job keeps running and ``notify`` reports it as usual.
        """
        assert job.waiter is not None
        job.waiter.acquire(timeout=timeout)
        with self._lock:
            if job.finished:
                return True
            job.waiter = None
            return False

    def _work(self) -> None:
        tid = threading.get_ident()
        job: Job | None = None
        while True:
            try:
                if job is None:
                    job = self._queue.get()
                    if job is None:
                        return
                    with self._lock:
                        job.thread_id = tid
                    logs.current.request_id = job.request_id
                    job.started = time.monotonic()
                    try:
                        job.value = job.fn(job.arg)
                        job.ok = True
                    except BaseException as exc:  # user code: anything, including Cancelled
                        job.error = exc
                    job.duration = time.monotonic() - job.started
                    logs.flush_script_output()
                waiter = self._disarm(job, tid)
                logs.current.request_id = ""
                finished, job = job, None
                if waiter is not None:
                    waiter.release()  # the loop is waiting for it synchronously: no notify
                elif self._notify is not None:
                    self._notify(finished)
            except Cancelled:
                # A late delivery, after user code returned: keep the outcome if there is one.
                if job is not None and not job.ok and job.error is None:
                    job.error = Cancelled()

    def _disarm(self, job: Job, tid: int) -> threading.Lock | None:
        with self._lock:
            job.thread_id = None
            job.finished = True
            injected = job.injected
            waiter = job.waiter
        if injected:
            _clear_async_exc(tid, None)
        return waiter
