"""``maxConcurrencyPerInstance`` worker processes: start, dispatch, deadlines, kill and replace.

Workers are forked from a ``forkserver`` (a single-threaded process started once, which has
already imported pandas, MLflow and the worker module): no threads or open clients are inherited
from the runner, the heavy imports are paid once instead of once per worker (and per replacement),
and each worker still imports the user's script and calls ``init()`` itself. Workers get the
runner's current environment and working directory, not the fork server's. A worker
whose mini-batch passes its deadline (``retry_settings.timeout``) is killed (SIGKILL: a stuck
``run`` may ignore anything gentler) and replaced by a new one, which runs ``init()`` again.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from mlendpoints.batch import worker
from mlendpoints.batch.config import RunConfig

PRELOAD = ["mlendpoints.batch.worker", "pandas", "mlflow.pyfunc", "mlendpoints.runtime.mlflow_model"]


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
    """starting | idle | busy"""
    task: Any = None
    deadline: float = 0.0
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Event:
    slot: Slot
    kind: str
    """done | timeout | crashed (a task ended); ready (a worker finished init)"""
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
        slot.process, slot.conn, slot.state, slot.task = proc, parent, "starting", None
        slot.started = time.monotonic()

    def _kill(self, slot: Slot) -> None:
        if slot.process is not None and slot.process.is_alive():
            slot.process.kill()
        if slot.process is not None:
            slot.process.join(5)
        if slot.conn is not None:
            slot.conn.close()

    def idle(self) -> list[Slot]:
        return [s for s in self.slots if s.state == "idle"]

    def busy(self) -> bool:
        return any(s.state == "busy" for s in self.slots)

    def submit(self, slot: Slot, task: Any, mb_id: int, files: list[tuple[int, str]]) -> None:
        assert slot.conn is not None
        slot.conn.send(("run", mb_id, files))
        slot.state, slot.task = "busy", task
        slot.deadline = time.monotonic() + self.config.timeout

    def poll(self, timeout: float) -> list[Event]:
        """Wait up to ``timeout`` s (less when a deadline is sooner) for workers; returns what happened.

        Raises:
            InitFailed: a starting worker's init() raised (the pool is closed first).
        """
        now = time.monotonic()
        deadlines = [s.deadline for s in self.slots if s.state == "busy"]
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
            if slot.state == "busy" and slot.number not in seen and now >= slot.deadline:
                task = slot.task
                self._kill(slot)
                self._spawn(slot)
                events.append(
                    Event(slot, "timeout", task, detail=f"timed out after {self.config.timeout:g} s")
                )
        return events

    def _receive(self, slot: Slot) -> list[Event]:
        assert slot.conn is not None
        try:
            if slot.conn.poll():
                message = slot.conn.recv()
            else:
                raise EOFError
        except (EOFError, OSError):
            return self._crashed(slot)
        if message[0] == "ready":
            slot.state = "idle"
            return [Event(slot, "ready")]
        if message[0] == "init_failed":
            self.close()
            raise InitFailed(message[1], message[2])
        task = slot.task
        slot.state, slot.task = "idle", None
        return [Event(slot, "done", task, result=message[2])]

    def _crashed(self, slot: Slot) -> list[Event]:
        slot.process.join(5)
        code = slot.process.exitcode
        task, state = slot.task, slot.state
        self._kill(slot)
        if state == "starting":
            self.close()
            raise InitFailed(
                f"the worker process exited with code {code} during init()",
                "the process died before init() returned (killed, out of memory, or os._exit)",
            )
        self._spawn(slot)
        return [Event(slot, "crashed", task, detail=f"the worker process exited with code {code}")]

    def close(self) -> None:
        for slot in self.slots:
            if slot.conn is not None and slot.state == "idle":
                with contextlib.suppress(OSError):
                    slot.conn.send(("stop",))
        for slot in self.slots:
            if slot.process is not None:
                slot.process.join(2 if slot.state == "idle" else 0)
            self._kill(slot)
