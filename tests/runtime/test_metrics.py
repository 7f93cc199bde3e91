"""``/metrics``: Prometheus text that parses, with the families operators alert on."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.timeout(120)


def scrape(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_request_queue_timeout_and_load_metrics(make_client, tmp_path):
    (tmp_path / "primaryKey").write_text("k")
    client = make_client(entry_script="score_control.py", request_timeout_ms=100, auth_key_dir=str(tmp_path))
    auth = {"Authorization": "Bearer k"}
    for _ in range(3):
        assert client.post("/score", json={"action": "echo"}, headers=auth).status_code == 200
    assert (
        client.post(
            "/score", content=b"\xff", headers={**auth, "Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert client.post("/score", json={}).status_code == 401
    assert client.post("/score", json={"action": "spin", "max_s": 30}, headers=auth).status_code == 408
    assert client.get("/missing").status_code == 404
    samples = scrape(client)

    def value(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("mlendpoints_requests_total", route="/score", code="200") == 3
    assert value("mlendpoints_requests_total", route="/score", code="400") == 1
    assert value("mlendpoints_requests_total", route="/score", code="401") == 1
    assert value("mlendpoints_requests_total", route="/score", code="408") == 1
    assert value("mlendpoints_requests_total", route="unmatched", code="404") == 1
    assert value("mlendpoints_request_duration_seconds_count", route="/score") == 6
    assert value("mlendpoints_request_timeouts_total") == 1
    assert value("mlendpoints_auth_failures_total") == 1
    assert value("mlendpoints_queue_wait_seconds_count") == 4  # requests that reached the queue
    assert value("mlendpoints_batch_size_count") == 4
    assert value("mlendpoints_model_load_seconds") > 0
    assert value("mlendpoints_model_ready") == 1
    assert value("mlendpoints_requests_in_flight") == 1  # the scrape itself
    assert ("mlendpoints_queue_depth", ()) in samples
    assert ("mlendpoints_scoring_in_progress", ()) in samples
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)


def test_rejections_are_counted(make_server):
    from concurrent.futures import ThreadPoolExecutor

    from tests.runtime.conftest import script_module, wait_until

    server = make_server(entry_script="score_control.py", max_queue_size=1, max_queue_wait_ms=200)
    module = script_module(server.app)
    with ThreadPoolExecutor(2) as pool, server.client() as a, server.client() as b, server.client() as c:
        held = pool.submit(a.post, "/score", json={"action": "gate"})
        assert module.STARTED.wait(10)
        queued = pool.submit(b.post, "/score", json={"action": "echo"})
        wait_until(lambda: len(server.app.scheduler.queue) == 1)
        assert c.post("/score", json={"action": "echo"}).status_code == 429
        assert queued.result(10).status_code == 503
        module.GATE.set()
        assert held.result(10).status_code == 200
        samples = scrape(c)
    assert samples[("mlendpoints_queue_rejections_total", (("reason", "full"),))] == 1
    assert samples[("mlendpoints_queue_rejections_total", (("reason", "wait"),))] == 1
