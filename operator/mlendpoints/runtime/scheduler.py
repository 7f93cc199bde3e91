"""Request limits with Azure ML semantics, and adaptive micro-batching, on the event loop.

Per instance (this process):

- at most ``maxConcurrentRequests`` scoring calls run at once (one worker thread each);
- further requests wait in a FIFO queue; one that waited longer than ``maxQueueWaitMs`` gets
  **503** with ``Retry-After``; when ``queue_size`` requests already wait (default
  2 x maxConcurrentRequests x 32, i.e. Azure's 2 x concurrency rule with room for bursts) a new one
  gets **429** at once;
- a call that runs longer than ``requestTimeoutMs`` gets **408**; its thread is asked to stop
  (see ``workers``) and keeps its slot until it does, so limits stay honest.

Micro-batching (``maxBatchSize`` > 1, for models that can score batches): when a slot frees up,
everything waiting (up to ``maxBatchSize`` rows) goes into *one* call, then the results are split
back per request. Batches therefore form by themselves exactly when the model is the bottleneck,
and a lone request is never delayed. ``maxBatchLatencyMs`` > 0 additionally holds a partial batch
up to that long while a slot is free, to trade latency for larger batches under bursty load.

Everything here runs on the event-loop thread; the only cross-thread step is the worker's
completion callback, delivered through ``call_soon_threadsafe``.

Synchronous hand-off (why fast models pay less for the thread): handing a call to a worker thread
and back costs ~7 context switches on one CPU, because every packet that arrives while the worker
runs wakes the event loop, which preempts the worker only to block on the GIL. So when a call
starts on an otherwise idle pool and recent calls were fast (< 1 ms on average), the loop blocks
on the job for up to 2 ms instead of going back to ``epoll`` (measured: ~25 us less per request).
A slower or stuck call simply turns asynchronous after those 2 ms, and the loop never blocks more
than 2 ms per loop iteration in total, so probes, 429/503 and 408 are still answered within a few
milliseconds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from mlendpoints.runtime import errors
from mlendpoints.runtime.metrics import Registry
from mlendpoints.runtime.workers import Job, WorkerPool

#: score one item -> reply (raises on failure)
ScoreOne = Callable[[Any], Any]
#: score many items -> one outcome (reply or exception) per item
ScoreMany = Callable[[Sequence[Any]], list[Any]]

#: longest the event loop blocks on one call it just started (then the call turns asynchronous)
SYNC_WAIT_S = 0.002
#: most time the loop spends blocked on calls per loop iteration
SYNC_BUDGET_S = 0.002
#: synchronous hand-off only while calls take less than this on average
SYNC_FAST_S = 0.001


class Pending:
    __slots__ = ("enqueued", "future", "item", "request_id", "rows")

    def __init__(self, future: asyncio.Future[Any], item: Any, rows: int, request_id: str) -> None:
        self.future = future
        self.item = item
        self.rows = rows
        self.request_id = request_id
        self.enqueued = time.monotonic()


class Scheduler:
    """Queues, limits and dispatches scoring calls to a :class:`WorkerPool`."""

    def __init__(
        self,
        pool: WorkerPool,
        metrics: Registry,
        *,
        queue_size: int,
        queue_wait_s: float,
        timeout_s: float,
        max_batch_rows: int = 0,
        batch_latency_s: float = 0.0,
        cancel_timed_out: bool = True,
        wedged_after_s: float = 0.0,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self.queue_size = queue_size
        self.queue_wait_s = queue_wait_s
        self.timeout_s = timeout_s
        self.max_batch_rows = max_batch_rows if max_batch_rows > 1 else 0
        self.batch_latency_s = batch_latency_s
        self.cancel_timed_out = cancel_timed_out
        self.wedged_after_s = wedged_after_s
        self.idle = pool.size
        self.queue: collections.deque[Pending] = collections.deque()
        self.running: set[Job] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._one: ScoreOne | None = None
        self._many: ScoreMany | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._fill: asyncio.TimerHandle | None = None
        #: moving average of call durations (seconds), for the synchronous hand-off decision
        self.average_s = 0.0
        self.sync_handoff = True
        self._sync_spent = 0.0
        self._sync_reset: asyncio.Handle | None = None
        self._pump_soon: asyncio.Handle | None = None
        metrics.queue_depth.source = lambda: len(self.queue)
        metrics.running.source = lambda: len(self.running)

    def start(
        self, loop: asyncio.AbstractEventLoop, score_one: ScoreOne, score_many: ScoreMany | None
    ) -> None:
        """Bind to the running loop and the model's scoring functions; starts the worker threads."""
        self._loop = loop
        self._one = score_one
        self._many = score_many if self.max_batch_rows else None
        self.pool.start(self._notify)

    def enable_batching(self, score_many: ScoreMany) -> None:
        """Use ``score_many`` for batches (called once the model says it can score batches)."""
        if self.max_batch_rows:
            self._many = score_many

    @property
    def batching(self) -> bool:
        return self._many is not None

    def _notify(self, job: Job) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            self._loop.call_soon_threadsafe(self._done, job)

    async def submit(self, item: Any, rows: int, request_id: str) -> Any:
        """Score ``item`` (``rows`` rows) under the limits; returns the reply or raises an HTTPError."""
        assert self._loop is not None
        if self.idle > 0 and not self.queue and self._many is None:
            future: asyncio.Future[Any] = self._loop.create_future()
            self.metrics.queue_wait.observe(0.0)
            self._dispatch([Pending(future, item, rows, request_id)])
            return await future
        if len(self.queue) >= self.queue_size:
            self.metrics.rejections.inc(("full",))
            raise errors.TooManyRequests(
                f"too many pending requests ({self.queue_size} already waiting); retry later"
            )
        future = self._loop.create_future()
        self.queue.append(Pending(future, item, rows, request_id))
        if self._expiry is None:
            self._arm_expiry()
        if self.idle > 0 and self._pump_soon is None:
            # Batching: start the batch after this loop iteration, so every request that arrived
            # together (their tasks are already scheduled) joins it.
            self._pump_soon = self._loop.call_soon(self._pump)
        return await future

    # -- queue wait ---------------------------------------------------------------------------

    def _arm_expiry(self) -> None:
        assert self._loop is not None
        if self.queue:
            deadline = self.queue[0].enqueued + self.queue_wait_s
            self._expiry = self._loop.call_at(self._loop.time() + (deadline - time.monotonic()), self._expire)
        else:
            self._expiry = None

    def _expire(self) -> None:
        now = time.monotonic()
        while self.queue and (
            now - self.queue[0].enqueued >= self.queue_wait_s or self.queue[0].future.done()
        ):
            pending = self.queue.popleft()
            if not pending.future.done():
                self.metrics.rejections.inc(("wait",))
                pending.future.set_exception(
                    errors.QueueTimeout(
                        f"request waited more than {self.queue_wait_s * 1000:.0f} ms for a free slot",
                        retry_after_s=1,
                    )
                )
        self._arm_expiry()

    # -- dispatch -------------------------------------------------------------------------------

    def _pump(self) -> None:
        self._pump_soon = None
        now = time.monotonic()
        while self.idle > 0 and self.queue:
            if not self.max_batch_rows:
                pending = self.queue.popleft()
                if pending.future.done():
                    continue
                self.metrics.queue_wait.observe(now - pending.enqueued)
                self._dispatch([pending])
                continue
            if self.batch_latency_s > 0 and not self._batch_ready(now):
                return
            batch: list[Pending] = []
            rows = 0
            while self.queue and (not batch or rows + self.queue[0].rows <= self.max_batch_rows):
                pending = self.queue.popleft()
                if pending.future.done():
                    continue
                self.metrics.queue_wait.observe(now - pending.enqueued)
                batch.append(pending)
                rows += pending.rows
            if batch:
                self._dispatch(batch)

    def _batch_ready(self, now: float) -> bool:
        """With a fill window: dispatch when the batch is full or its oldest request waited long enough."""
        assert self._loop is not None
        rows = sum(p.rows for p in self.queue)
        oldest = self.queue[0].enqueued
        if rows >= self.max_batch_rows or now - oldest >= self.batch_latency_s:
            if self._fill is not None:
                self._fill.cancel()
                self._fill = None
            return True
        if self._fill is None:
            self._fill = self._loop.call_later(oldest + self.batch_latency_s - now, self._fill_due)
        return False

    def _fill_due(self) -> None:
        self._fill = None
        self._pump()

    def _dispatch(self, batch: list[Pending]) -> None:
        assert self._loop is not None
        assert self._one is not None
        if self._many is None:
            job = Job(self._one, batch[0].item, batch[0].request_id, batch)
        else:
            job = Job(self._many, [p.item for p in batch], batch[0].request_id, batch)
        self.metrics.batch_size.observe(sum(p.rows for p in batch))
        self.idle -= 1
        self.running.add(job)
        job.timer = self._loop.call_later(self.timeout_s, self._timed_out, job)
        sync = (
            self.sync_handoff
            and len(self.running) == 1
            and self.average_s < SYNC_FAST_S
            and self._sync_spent < SYNC_BUDGET_S
        )
        if not sync:
            self.pool.submit(job)
            return
        job.waiter = threading.Lock()
        job.waiter.acquire()
        self.pool.submit(job)
        started = time.perf_counter()
        finished = self.pool.wait(job, SYNC_WAIT_S)
        self._sync_spent += time.perf_counter() - started
        if self._sync_reset is None:
            self._sync_reset = self._loop.call_soon(self._reset_sync_budget)
        if finished:
            self._finish(job)

    def _reset_sync_budget(self) -> None:
        self._sync_spent = 0.0
        self._sync_reset = None

    def _timed_out(self, job: Job) -> None:
        job.timed_out_at = time.monotonic()
        self.metrics.timeouts.inc()
        failure = errors.RequestTimeout(f"scoring took longer than {self.timeout_s * 1000:.0f} ms")
        for pending in job.payload:
            if not pending.future.done():
                pending.future.set_exception(failure)
        if self.cancel_timed_out:
            self.pool.cancel(job)

    def _done(self, job: Job) -> None:
        """A worker finished ``job`` (asynchronous path): resolve it and start what waits."""
        self._finish(job)
        if self.queue:
            self._pump()

    def _finish(self, job: Job) -> None:
        job.timer.cancel()
        self.average_s += (job.duration - self.average_s) * 0.2
        self.running.discard(job)
        self.idle += 1
        batch: list[Pending] = job.payload
        outcomes: list[Any]
        if job.fn is self._one:
            outcomes = [job.value if job.ok else job.error]
        elif job.ok and isinstance(job.value, list) and len(job.value) == len(batch):
            outcomes = job.value
        else:
            error = job.error or errors.ScoringError("batch scoring returned the wrong number of results")
            outcomes = [error] * len(batch)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, BaseException):
                failure = errors.classify(outcome)
                if failure is not outcome and failure.__cause__ is None:
                    failure.__cause__ = outcome
                pending.future.set_exception(failure)
            else:
                pending.future.set_result(outcome)

    # -- health -----------------------------------------------------------------------------------

    def wedged(self) -> bool:
        """True when every slot has been held by a timed-out call for ``wedged_after_s`` or more."""
        if self.wedged_after_s <= 0 or self.idle > 0 or not self.running:
            return False
        now = time.monotonic()
        return all(job.timed_out_at and now - job.timed_out_at >= self.wedged_after_s for job in self.running)
