"""``maxConcurrencyPerInstance`` worker processes: start, dispatch, deadlines, kill and replace.

Workers are forked from a ``forkserver`` (a single-threaded process started once, which has
already imported pandas, MLflow and the worker module): no threads or open clients are inherited
from the runner, the heavy imports are paid once instead of once per worker (and per replacement),
and each worker still imports the user's script and calls ``init()`` itself. Workers get the
runner's current environment and working directory, not the fork server's. A worker
whose mini-batch passes its deadline (``retry_settings.timeout``) is killed (SIGKILL: a stuck
``run`` may ignore anything gentler) and replaced by a new one, which runs ``init()`` again.

A ready worker holds up to :data:`DEPTH` mini-batches: the one it runs and the next, sent ahead so
that it starts the next as soon as it reports the current one, without waiting for the runner
(which may not be scheduled at once on a busy node). The deadline of the next one starts when the
runner sees the current one done. When a worker is killed or dies, the mini-batches it had not
started are handed back (``returned`` events), not counted as attempts.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from mlendpoints.batch import worker
from mlendpoints.batch.config import RunConfig

#: Mini-batches a ready worker holds: the running one and the next.
DEPTH = 2
PRELOAD = [
    "mlendpoints.batch.worker",
    "pandas",
    "pyarrow",
    "pyarrow.csv",  # appendRow formatting: imported once per pod, not in each worker's first mini-batch
    "mlflow.pyfunc",
    "mlendpoints.runtime.mlflow_model",
]


class InitFailed(Exception):
    """A worker's ``init()`` (or model load) raised; ``detail`` holds the traceback."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass
class Slot:
    number: int
    process: Any = None
    conn: Connection | None = None
    state: str = "starting"
    """starting | ready"""
    tasks: deque[Any] = field(default_factory=deque)
    """Sent to the worker, in order; the first is running."""
    deadline: float = 0.0
    """When the running task times out."""
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Event:
    slot: Slot
    kind: str
    """done | timeout | crashed (a task ended); returned (a task sent but never started, after its
    worker was killed or died); ready (a worker finished init)"""
    task: Any = None
    result: worker.Result | None = None
    detail: str = ""


class Pool:
    def __init__(self, config: RunConfig, size: int, bi_output: str) -> None:
        self.config = config
        self.bi_output = bi_output
        self.ctx = multiprocessing.get_context("forkserver")
        # Imported once in the fork server; a module that is not installed is skipped by CPython.
        self.ctx.set_forkserver_preload(PRELOAD)
        self.slots = [Slot(n) for n in range(size)]
        for slot in self.slots:
            self._spawn(slot)

    def _spawn(self, slot: Slot) -> None:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(
            target=worker.main,
            args=(child, self.config, self.bi_output, dict(os.environ), os.getcwd()),
            name=f"batch-worker-{slot.number}",
            daemon=True,
        )
        proc.start()
        child.close()
        slot.process, slot.conn, slot.state = proc, parent, "starting"
        slot.started = time.monotonic()

    def _kill(self, slot: Slot) -> None:
        if slot.process is not None and slot.process.is_alive():
            slot.process.kill()
        if slot.process is not None:
            slot.process.join(5)
        if slot.conn is not None:
            slot.conn.close()

    def free(self) -> list[Slot]:
        """Ready workers that can take a mini-batch, the emptiest first. While any worker is still
        starting, a worker takes only one (so the others get work when they are ready)."""
        depth = 1 if any(s.state == "starting" for s in self.slots) else DEPTH
        ready = [s for s in self.slots if s.state == "ready" and len(s.tasks) < depth]
        return sorted(ready, key=lambda s: len(s.tasks))

    def busy(self) -> bool:
        return any(s.tasks for s in self.slots)

    def submit(
        self,
        slot: Slot,
        task: Any,
        mb_id: int,
        files: list[tuple[int, str]],
        rows_rel: str | None,
        done_rel: str,
    ) -> None:
        """Send a mini-batch to ``slot``'s worker; when it succeeds, the worker writes its rows to
        ``rows_rel`` (None: no rows) and then its done record to ``done_rel`` in the output."""
        assert slot.conn is not None
        slot.conn.send(("run", mb_id, files, rows_rel, done_rel))
        if not slot.tasks:
            slot.deadline = time.monotonic() + self.config.timeout
        slot.tasks.append(task)

    def poll(self, timeout: float) -> list[Event]:
        """Wait up to ``timeout`` s (less when a deadline is sooner) for workers; returns what happened.

        Raises:
            InitFailed: a starting worker's init() raised (the pool is closed first).
        """
        now = time.monotonic()
        deadlines = [s.deadline for s in self.slots if s.tasks]
        wait_s = max(0.0, min([timeout, *(d - now for d in deadlines)]))
        handles: dict[Any, Slot] = {}
        for slot in self.slots:
            handles[slot.conn] = slot
            handles[slot.process.sentinel] = slot
        ready = wait(list(handles), timeout=wait_s)
        events: list[Event] = []
        seen: set[int] = set()
        for handle in ready:
            slot = handles[handle]
            if slot.number in seen:
                continue
            seen.add(slot.number)
            events.extend(self._receive(slot))
        now = time.monotonic()
        for slot in self.slots:
            if slot.tasks and slot.number not in seen and now >= slot.deadline:
                task = slot.tasks.popleft()
                events.append(
                    Event(slot, "timeout", task, detail=f"timed out after {self.config.timeout:g} s")
                )
                events.extend(self._replace(slot))
        return events

    def _receive(self, slot: Slot) -> list[Event]:
        """Every message the worker has sent (a worker ahead of the runner may have sent several)."""
        assert slot.conn is not None
        events: list[Event] = []
        while True:
            try:
                if not slot.conn.poll():
                    if events:
                        return events
                    raise EOFError  # woken with nothing to read: the worker exited
                message = slot.conn.recv()
            except (EOFError, OSError):
                return events + self._crashed(slot)
            if message[0] == "ready":
                slot.state = "ready"
                events.append(Event(slot, "ready"))
            elif message[0] == "init_failed":
                self.close()
                raise InitFailed(message[1], message[2])
            else:
                task = slot.tasks.popleft()
                slot.deadline = time.monotonic() + self.config.timeout
                events.append(Event(slot, "done", task, result=message[2]))

    def _replace(self, slot: Slot) -> list[Event]:
        """Kill the worker and start another; the tasks it had not started are handed back."""
        returned = [Event(slot, "returned", task) for task in slot.tasks]
        slot.tasks.clear()
        self._kill(slot)
        self._spawn(slot)
        return returned

    def _crashed(self, slot: Slot) -> list[Event]:
        slot.process.join(5)
        code = slot.process.exitcode
        if slot.state == "starting":
            self._kill(slot)
            self.close()
            raise InitFailed(
                f"the worker process exited with code {code} during init()",
                "the process died before init() returned (killed, out of memory, or os._exit)",
            )
        events = []
        if slot.tasks:
            task = slot.tasks.popleft()
            events.append(Event(slot, "crashed", task, detail=f"the worker process exited with code {code}"))
        return events + self._replace(slot)

    def close(self) -> None:
        idle = {s.number for s in self.slots if s.state == "ready" and not s.tasks}
        for slot in self.slots:
            if slot.conn is not None and slot.number in idle:
                with contextlib.suppress(OSError):
                    slot.conn.send(("stop",))
        for slot in self.slots:
            if slot.process is not None:
                slot.process.join(2 if slot.number in idle else 0)
            self._kill(slot)
