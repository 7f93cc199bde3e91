"""Request limits with Azure ML semantics, over real HTTP, made deterministic with script events.

``score_control.py`` blocks on ``GATE`` (``gate``: a C-level wait that cannot be interrupted) or
spins in Python (``spin``: cancellable); the tests hold requests there, observe the scheduler, and
release them. Every wait is bounded.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.runtime.conftest import script_module, wait_until

pytestmark = pytest.mark.timeout(120)


def _limits(**overrides):
    settings = {
        "entry_script": "score_control.py",
        "max_concurrent_requests": 1,
        "max_queue_wait_ms": 10_000,
        "request_timeout_ms": 10_000,
    }
    settings.update(overrides)
    return settings


def test_queue_wait_over_the_limit_is_503_with_retry_after(make_server):
    server = make_server(**_limits(max_queue_wait_ms=150))
    module = script_module(server.app)
    with ThreadPoolExecutor(1) as pool, server.client() as first, server.client() as second:
        held = pool.submit(first.post, "/score", json={"action": "gate"})
        assert module.STARTED.wait(10)
        response = second.post("/score", json={"action": "echo"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["code"] == "QueueWaitTimeout"
        assert second.get("/").status_code == 200  # liveness unaffected while the slot is busy
        module.GATE.set()
        assert held.result(10).json() == {"released": True}
        assert second.post("/score", json={"action": "echo"}).status_code == 200
    assert module.calls == ["gate", "echo"]  # the rejected request never reached run()


def test_full_queue_is_429_at_once(make_server):
    server = make_server(**_limits(max_queue_size=1))
    module = script_module(server.app)
    scheduler = server.app.scheduler
    with ThreadPoolExecutor(2) as pool, server.client() as a, server.client() as b, server.client() as c:
        held = pool.submit(a.post, "/score", json={"action": "gate"})
        assert module.STARTED.wait(10)
        queued = pool.submit(b.post, "/score", json={"action": "echo", "n": 2})
        wait_until(lambda: len(scheduler.queue) == 1)
        response = c.post("/score", json={"action": "echo", "n": 3})
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.json()["code"] == "TooManyRequests"
        module.GATE.set()
        assert held.result(10).status_code == 200
        assert queued.result(10).json() == {"action": "echo", "n": 2}
    assert server.app.metrics.rejections.values == {("full",): 1.0}


def test_concurrency_limit_runs_that_many_at_once(make_server):
    server = make_server(**_limits(max_concurrent_requests=2))
    module = script_module(server.app)
    scheduler = server.app.scheduler
    clients = [server.client() for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(client.post, "/score", json={"action": "gate"}) for client in clients]
        wait_until(lambda: len(scheduler.running) == 2 and len(scheduler.queue) == 1)
        assert module.calls == ["gate", "gate"]
        module.GATE.set()
        assert [f.result(10).status_code for f in futures] == [200, 200, 200]
    for client in clients:
        client.close()


def test_timeout_is_408_and_a_python_loop_is_cancelled(make_server):
    server = make_server(**_limits(request_timeout_ms=200))
    with server.client() as http:
        response = http.post("/score", json={"action": "spin", "max_s": 60})
        assert response.status_code == 408
        assert response.json()["code"] == "RequestTimeout"
        # Cancellation interrupted the loop (it would spin for 60 s): the slot comes back.
        wait_until(lambda: server.app.scheduler.idle == 1, timeout=10)
        assert http.get("/").status_code == 200
        assert http.post("/score", json={"action": "echo"}).status_code == 200
    assert server.app.metrics.timeouts.values[()] == 1


def test_timeout_without_cancellation_keeps_the_slot_until_run_returns(make_server):
    server = make_server(**_limits(request_timeout_ms=200, cancel_timed_out=False))
    module = script_module(server.app)
    scheduler = server.app.scheduler
    with ThreadPoolExecutor(1) as pool, server.client() as http, server.client() as other:
        assert http.post("/score", json={"action": "gate"}).status_code == 408
        assert scheduler.idle == 0  # the stuck call still holds its slot ...
        queued = pool.submit(other.post, "/score", json={"action": "echo"})
        wait_until(lambda: len(scheduler.queue) == 1)
        assert http.get("/readyz").status_code == 200  # ... but the server answers
        module.GATE.set()
        assert queued.result(10).status_code == 200  # and the queue moves once it returns


def test_every_slot_stuck_fails_liveness_until_it_recovers(make_server):
    server = make_server(**_limits(request_timeout_ms=100, wedged_after_ms=200))
    module = script_module(server.app)
    with server.client() as http:
        assert (
            http.post("/score", json={"action": "gate"}).status_code == 408
        )  # C-level wait: not cancellable
        wait_until(lambda: http.get("/").status_code == 503, timeout=10)
        assert "stuck" in http.get("/").text
        assert http.get("/readyz").status_code == 503
        assert http.get("/v2/health/live").json() == {"live": False}
        module.GATE.set()
        wait_until(lambda: http.get("/").status_code == 200, timeout=10)
        assert http.post("/score", json={"action": "echo"}).status_code == 200


def test_the_loop_keeps_serving_while_run_blocks(make_server):
    server = make_server(**_limits())
    module = script_module(server.app)
    with ThreadPoolExecutor(1) as pool, server.client() as http, server.client() as other:
        held = pool.submit(other.post, "/score", json={"action": "gate"})
        assert module.STARTED.wait(10)
        for path in ("/", "/readyz", "/metrics", "/v2/health/ready"):
            assert http.get(path).status_code == 200, path
        module.GATE.set()
        assert held.result(10).status_code == 200
