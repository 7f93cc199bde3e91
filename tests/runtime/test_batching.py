"""Micro-batching: concurrent requests merged into one predict call, answers split back per request."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.runtime.conftest import script_module

pytestmark = pytest.mark.timeout(180)

#: a long fill window, so a batch is dispatched exactly when it is full (deterministic); the queue
#: wait must be longer, since time in the fill window counts as queue wait
WINDOW_MS = 5000
QUEUE_MS = 20_000


def post_all(server, bodies, path="/score"):
    clients = [server.client() for _ in bodies]
    try:
        with ThreadPoolExecutor(len(bodies)) as pool:
            futures = [pool.submit(c.post, path, json=b) for c, b in zip(clients, bodies, strict=True)]
            return [f.result(30) for f in futures]
    finally:
        for client in clients:
            client.close()


def batch_stats(app):
    ((counts, total),) = app.metrics.batch_size.series.values()
    return sum(counts), total[0]


def test_mlflow_requests_share_one_predict_call(make_server, mlflow_tensor_dir, trained):
    server = make_server(
        model_dir=str(mlflow_tensor_dir),
        max_batch_size=6,
        max_batch_latency_ms=WINDOW_MS,
        max_queue_wait_ms=QUEUE_MS,
    )
    bodies = [{"inputs": [trained.X[i].tolist()]} for i in range(6)]
    responses = post_all(server, bodies)
    expected = trained.model.predict(trained.X[:6]).tolist()
    assert [r.status_code for r in responses] == [200] * 6, responses[0].text
    assert sorted(r.json()["predictions"][0] for r in responses) == sorted(expected)
    for body, response in zip(bodies, responses, strict=True):  # each request gets its own row back
        assert response.json()["predictions"] == trained.model.predict(body["inputs"]).tolist()
    assert batch_stats(server.app) == (1, 6)  # one call, six rows


def test_a_bad_request_does_not_fail_its_batch(make_server, mlflow_tensor_dir, trained):
    server = make_server(
        model_dir=str(mlflow_tensor_dir),
        max_batch_size=3,
        max_batch_latency_ms=WINDOW_MS,
        max_queue_wait_ms=QUEUE_MS,
    )
    bodies = [
        {"inputs": [trained.X[0].tolist()]},
        {"inputs": [[1.0, 2.0, 3.0]]},
        {"inputs": [trained.X[1].tolist()]},
    ]
    responses = post_all(server, bodies)
    assert [r.status_code for r in responses] == [200, 400, 200]
    assert "shape" in responses[1].json()["error"]
    assert responses[2].json()["predictions"] == trained.model.predict(trained.X[1:2]).tolist()


def test_multi_row_requests_count_rows(make_server, mlflow_tensor_dir, trained):
    server = make_server(
        model_dir=str(mlflow_tensor_dir),
        max_batch_size=4,
        max_batch_latency_ms=WINDOW_MS,
        max_queue_wait_ms=QUEUE_MS,
    )
    bodies = [{"input_data": trained.X[2 * i : 2 * i + 2].tolist()} for i in range(2)]
    responses = post_all(server, bodies)
    assert [r.json() for r in responses] == [
        trained.model.predict(trained.X[2 * i : 2 * i + 2]).tolist() for i in range(2)
    ]
    assert batch_stats(server.app) == (1, 4)


def test_column_models_batch_too(make_server, mlflow_cols_dir, cols_model, trained):
    import pandas as pd

    from tests.runtime.conftest import COLUMNS

    server = make_server(
        model_dir=str(mlflow_cols_dir),
        max_batch_size=3,
        max_batch_latency_ms=WINDOW_MS,
        max_queue_wait_ms=QUEUE_MS,
    )
    bodies = [{"dataframe_split": {"columns": COLUMNS, "data": [trained.X[i].tolist()]}} for i in range(3)]
    responses = post_all(server, bodies)
    for i, response in enumerate(responses):
        expected = cols_model.predict(pd.DataFrame(trained.X[i : i + 1], columns=COLUMNS)).tolist()
        assert response.json() == {"predictions": expected}
    assert batch_stats(server.app) == (1, 3)


def test_scripts_opt_in_with_run_batch(make_server, joblib_dir, trained):
    server = make_server(
        model_dir=str(joblib_dir),
        entry_script="score_batch.py",
        max_batch_size=4,
        max_batch_latency_ms=WINDOW_MS,
        max_queue_wait_ms=QUEUE_MS,
    )
    bodies = [{"data": [trained.X[i].tolist()]} for i in range(4)]
    responses = post_all(server, bodies)
    for i, response in enumerate(responses):
        assert response.json() == trained.model.predict(trained.X[i : i + 1]).tolist()
    assert script_module(server.app).batch_sizes == [4]


def test_scripts_without_run_batch_are_not_batched(make_server, joblib_dir, trained):
    server = make_server(
        model_dir=str(joblib_dir), entry_script="score.py", max_batch_size=4, max_batch_latency_ms=0
    )
    assert not server.app.scheduler.batching
    responses = post_all(server, [{"data": [trained.X[i].tolist()]} for i in range(3)])
    assert all(r.status_code == 200 for r in responses)
