"""Worker threads: outcomes come back, and a timed-out Python call can be interrupted safely."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from mlendpoints.runtime.errors import Cancelled
from mlendpoints.runtime.workers import Job, WorkerPool

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pool():
    done: queue.SimpleQueue[Job] = queue.SimpleQueue()
    workers = WorkerPool(1)
    workers.start(done.put)
    yield workers, done
    workers.stop()


def test_values_and_exceptions_come_back(pool):
    workers, done = pool
    workers.submit(Job(lambda x: x * 2, 21, "r1"))
    job = done.get(timeout=10)
    assert job.ok
    assert job.value == 42
    assert job.finished
    workers.submit(Job(lambda x: 1 / x, 0, "r2"))
    job = done.get(timeout=10)
    assert not job.ok
    assert isinstance(job.error, ZeroDivisionError)


def test_cancel_interrupts_python_code_and_the_thread_survives(pool):
    workers, done = pool
    started = threading.Event()

    def spin(_):
        started.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pass
        return "finished"

    job = Job(spin, None, "spin")
    workers.submit(job)
    assert started.wait(10)
    assert workers.cancel(job)
    result = done.get(timeout=10)
    assert isinstance(result.error, Cancelled)
    assert not workers.cancel(job)  # no longer running: nothing to interrupt
    workers.submit(Job(lambda x: x + 1, 1, "next"))  # the same thread serves the next call
    assert done.get(timeout=10).value == 2


def test_user_except_exception_does_not_swallow_cancellation(pool):
    workers, done = pool
    started = threading.Event()

    def stubborn(_):
        started.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                sum(range(100))
            except Exception:  # Cancelled is a BaseException: not caught here
                return "swallowed"
        return "finished"

    job = Job(stubborn, None, "stubborn")
    workers.submit(job)
    assert started.wait(10)
    workers.cancel(job)
    assert isinstance(done.get(timeout=10).error, Cancelled)


def test_cancel_racing_completion_never_leaks_into_the_next_job(pool):
    workers, done = pool
    for i in range(200):  # cancel right as tiny jobs finish: no stray exception may hit the next one
        job = Job(lambda x: x, i, f"r{i}")
        workers.submit(job)
        workers.cancel(job)
        finished = done.get(timeout=10)
        assert finished.ok or isinstance(finished.error, Cancelled)
    workers.submit(Job(lambda x: x, "after", "last"))
    last = done.get(timeout=10)
    assert last.ok
    assert last.value == "after"


def test_synchronous_wait(pool):
    workers, done = pool
    job = Job(lambda x: x, 7, "sync")
    job.waiter = threading.Lock()
    job.waiter.acquire()
    workers.submit(job)
    assert workers.wait(job, 10)
    assert job.value == 7
    assert done.empty()  # a synchronously awaited job is not notified

    slow = Job(lambda x: time.sleep(0.3) or x, 8, "slow")
    slow.waiter = threading.Lock()
    slow.waiter.acquire()
    workers.submit(slow)
    assert not workers.wait(slow, 0.01)  # gave up waiting: the job is notified instead
    assert done.get(timeout=10).value == 8
