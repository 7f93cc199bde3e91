"""The work queue coalesces events per key, never runs a key twice at once, and retries with backoff."""

from __future__ import annotations

import asyncio

from mlendpoints.controller.queue import Item, Result, WorkQueue


def test_events_for_one_key_coalesce_and_a_key_never_runs_concurrently() -> None:
    async def scenario() -> tuple[list[Item], int]:
        runs: list[Item] = []
        running: set[Item] = set()
        overlap = 0
        gate = asyncio.Event()

        async def reconcile(item: Item) -> None:
            nonlocal overlap
            if item in running:
                overlap += 1
            running.add(item)
            runs.append(item)
            await gate.wait()
            running.discard(item)

        q = WorkQueue(reconcile, workers=4)
        q.start()
        a = ("K", "ns", "a")
        for _ in range(10):
            q.add(a)
        await asyncio.sleep(0.01)
        for _ in range(10):  # arrive while a is running: one more pass, not ten
            q.add(a)
        gate.set()
        await asyncio.wait_for(q._idle.wait(), 5)
        await q.stop()
        return runs, overlap

    runs, overlap = asyncio.run(scenario())
    assert runs == [("K", "ns", "a")] * 2
    assert overlap == 0


def test_failures_are_retried_and_requeue_after_is_honoured() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []

        async def reconcile(item: Item) -> Result | None:
            log.append(item[2])
            if item[2] == "flaky" and log.count("flaky") < 3:
                raise RuntimeError("boom")
            if item[2] == "later" and log.count("later") == 1:
                return Result(requeue_after=0.05)
            return None

        q = WorkQueue(reconcile, workers=2, base_backoff=0.01)
        q.start()
        q.add(("K", "", "flaky"))
        q.add(("K", "", "later"))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if log.count("flaky") == 3 and log.count("later") == 2:
                break
        await q.stop()
        return log

    log = asyncio.run(scenario())
    assert log.count("flaky") == 3
    assert log.count("later") == 2


def test_a_nearer_requeue_replaces_a_later_timer() -> None:
    """A long resync timer must not swallow a short poll asked for later (target azureml)."""

    async def scenario() -> list[float]:
        runs: list[float] = []
        loop = asyncio.get_running_loop()

        async def reconcile(item: Item) -> None:
            runs.append(loop.time())

        q = WorkQueue(reconcile, workers=1)
        q.start()
        start = loop.time()
        q.add(("K", "", "x"), delay=30)
        q.add(("K", "", "x"), delay=0.05)
        q.add(("K", "", "x"), delay=10)  # later than the pending one: ignored
        for _ in range(100):
            await asyncio.sleep(0.01)
            if runs:
                break
        await asyncio.sleep(0.1)
        await q.stop()
        return [t - start for t in runs]

    runs = asyncio.run(scenario())
    assert len(runs) == 1
    assert runs[0] < 5
