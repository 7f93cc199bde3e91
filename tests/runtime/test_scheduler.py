"""The scheduler on its own: greedy batching, row accounting, expiry order, sync hand-off fallback."""

from __future__ import annotations

import asyncio
import threading

import pytest

from mlendpoints.runtime import errors
from mlendpoints.runtime.metrics import Registry
from mlendpoints.runtime.scheduler import Scheduler
from mlendpoints.runtime.workers import WorkerPool

pytestmark = pytest.mark.timeout(60)


class Model:
    """Scores items (ints) by doubling them; the first call can be held on a gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.batches: list[list[int]] = []

    def one(self, item: int) -> int:
        self.entered.set()
        self.gate.wait(10)
        return item * 2

    def many(self, items: list[int]) -> list[int]:
        self.entered.set()
        self.gate.wait(10)
        self.batches.append(list(items))
        return [item * 2 for item in items]


def make(model: Model, **kwargs) -> Scheduler:
    options = {"queue_size": 100, "queue_wait_s": 10.0, "timeout_s": 10.0}
    options.update(kwargs)
    scheduler = Scheduler(WorkerPool(1), Registry(), **options)
    scheduler.start(asyncio.get_running_loop(), model.one, model.many)
    return scheduler


async def wait_for(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)


def test_requests_queued_behind_a_busy_slot_form_one_batch():
    async def scenario():
        model = Model()
        scheduler = make(model, max_batch_rows=64)
        model.gate.clear()
        first = asyncio.ensure_future(scheduler.submit(1, 1, "a"))
        await wait_for(model.entered.is_set)
        rest = [asyncio.ensure_future(scheduler.submit(i, 1, f"r{i}")) for i in range(2, 7)]
        await wait_for(lambda: len(scheduler.queue) == 5)
        model.gate.set()
        results = await asyncio.gather(first, *rest)
        assert results == [2, 4, 6, 8, 10, 12]
        assert model.batches == [[1], [2, 3, 4, 5, 6]]
        scheduler.pool.stop()

    asyncio.run(scenario())


def test_batches_count_rows_not_requests():
    async def scenario():
        model = Model()
        scheduler = make(model, max_batch_rows=5)
        model.gate.clear()
        first = asyncio.ensure_future(scheduler.submit(0, 1, "a"))
        await wait_for(model.entered.is_set)
        rest = [asyncio.ensure_future(scheduler.submit(i, 3, f"r{i}")) for i in (1, 2, 3)]
        await wait_for(lambda: len(scheduler.queue) == 3)
        model.gate.set()
        await asyncio.gather(first, *rest)
        assert model.batches == [[0], [1], [2], [3]]  # 3 + 3 rows > 5: one request per batch
        scheduler.pool.stop()

    asyncio.run(scenario())


def test_queue_wait_expires_in_arrival_order():
    async def scenario():
        model = Model()
        scheduler = make(model, queue_wait_s=0.05)
        model.gate.clear()
        first = asyncio.ensure_future(scheduler.submit(1, 1, "a"))
        await wait_for(model.entered.is_set)
        waiting = [asyncio.ensure_future(scheduler.submit(i, 1, f"w{i}")) for i in range(3)]
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(o, errors.QueueTimeout) for o in outcomes)
        assert not scheduler.queue
        model.gate.set()
        assert await first == 2
        assert await scheduler.submit(5, 1, "after") == 10
        scheduler.pool.stop()

    asyncio.run(scenario())


def test_slow_calls_turn_off_the_synchronous_hand_off():
    async def scenario():
        model = Model()
        scheduler = make(model)
        assert await scheduler.submit(1, 1, "fast") == 2
        assert scheduler.average_s < 0.001
        scheduler.average_s = 0.5  # as if calls took 500 ms
        loop = asyncio.get_running_loop()
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = loop.create_task(ticker())
        model.gate.clear()
        call = asyncio.ensure_future(scheduler.submit(2, 1, "slow"))
        await wait_for(model.entered.is_set)
        before = ticks
        await asyncio.sleep(0.05)
        assert ticks > before  # the loop kept running while the call was in progress
        model.gate.set()
        assert await call == 4
        task.cancel()
        scheduler.pool.stop()

    asyncio.run(scenario())
