"""A coalescing work queue with per-key backoff (controller-runtime's workqueue, in asyncio).

Many watch events for one object collapse into one pending reconcile; a key is never reconciled
by two workers at once (an event arriving mid-reconcile marks it dirty and it runs again after);
failures retry with exponential backoff, and a reconcile may ask to be requeued after a delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Item = tuple[str, str, str]  # (kind, namespace, name)


@dataclass
class Result:
    """What a reconcile wants next: nothing, or another pass after ``requeue_after`` seconds."""

    requeue_after: float | None = None


Reconciler = Callable[[Item], Awaitable[Result | None]]


@dataclass
class WorkQueue:
    reconcile: Reconciler
    workers: int = 8
    base_backoff: float = 0.5
    max_backoff: float = 60.0
    on_error: Callable[[Item, BaseException], None] | None = None
    on_done: Callable[[Item, float, bool], None] | None = None
    #: Called as a worker takes an item, with the seconds it waited since it was added.
    on_start: Callable[[Item, float], None] | None = None
    _queue: asyncio.Queue[Item] = field(default_factory=asyncio.Queue)
    _pending: dict[Item, float] = field(default_factory=dict)  # -> monotonic time it was added
    _active: set[Item] = field(default_factory=set)
    _dirty: set[Item] = field(default_factory=set)
    _failures: dict[Item, int] = field(default_factory=dict)
    _timers: dict[Item, asyncio.TimerHandle] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"reconcile-{i}") for i in range(self.workers)
        ]

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def add(self, item: Item, *, delay: float = 0.0) -> None:
        """Schedule a reconcile of ``item`` (now, or after ``delay`` seconds)."""
        if delay > 0:
            loop = asyncio.get_running_loop()
            timer = self._timers.get(item)
            if timer is not None:
                if timer.when() <= loop.time() + delay:
                    return  # an earlier timer will fire; a nearer event will add it directly anyway
                timer.cancel()  # e.g. a long resync timer, and now a short poll is asked for
            self._timers[item] = loop.call_later(delay, self._fire, item)
            return
        if item in self._active:
            self._dirty.add(item)
            return
        if item in self._pending:
            return
        self._pending[item] = time.monotonic()
        self._idle.clear()
        self._queue.put_nowait(item)

    def _fire(self, item: Item) -> None:
        self._timers.pop(item, None)
        self.add(item)

    def depth(self) -> int:
        return len(self._pending) + len(self._active)

    async def _worker(self) -> None:
        while True:
            item = await self._queue.get()
            added = self._pending.pop(item, None)
            self._active.add(item)
            started = time.perf_counter()
            if self.on_start is not None and added is not None:
                self.on_start(item, time.monotonic() - added)
            ok = True
            try:
                result = await self.reconcile(item)
                self._failures.pop(item, None)
                if result is not None and result.requeue_after is not None:
                    self.add(item, delay=result.requeue_after)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                ok = False
                n = self._failures.get(item, 0) + 1
                self._failures[item] = n
                delay = min(self.max_backoff, self.base_backoff * 2 ** (n - 1))
                log.warning(
                    "reconcile of %s/%s/%s failed (attempt %d, retry in %.1fs): %s", *item, n, delay, exc
                )
                if self.on_error is not None:
                    self.on_error(item, exc)
                self.add(item, delay=delay)
            finally:
                self._active.discard(item)
                if self.on_done is not None:
                    self.on_done(item, time.perf_counter() - started, ok)
                if item in self._dirty:
                    self._dirty.discard(item)
                    self.add(item)
                if not self._pending and not self._active:
                    self._idle.set()
