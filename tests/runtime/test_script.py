"""Azure ML scoring scripts: init()/run() served unchanged, in-process and over real HTTP."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.runtime.conftest import SCRIPTS, script_module

pytestmark = pytest.mark.timeout(120)


def test_joblib_script_scores_like_the_model(make_client, joblib_dir, trained):
    client = make_client(model_dir=str(joblib_dir), entry_script="score.py")
    rows = trained.X[:7].tolist()
    response = client.post("/score", json={"data": rows})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == trained.model.predict(np.asarray(rows)).tolist()
    assert float(response.headers["x-ms-run-fn-exec-ms"]) >= 0


def test_over_real_http(make_server, joblib_dir, trained):
    server = make_server(model_dir=str(joblib_dir), entry_script=str(SCRIPTS / "score.py"))
    with server.client() as client:
        assert client.get("/").text == "Healthy"
        assert client.get("/readyz").status_code == 200
        response = client.post("/score", json={"data": trained.X[:3].tolist()})
    assert response.status_code == 200
    assert response.json() == trained.model.predict(trained.X[:3]).tolist()


@pytest.mark.parametrize(
    ("action", "content_type", "body"),
    [
        ("echo", "application/json", {"action": "echo", "x": [1, 2]}),
        ("json_text", "application/json", '{"already": "json"}'),  # a str is a JSON string (Azure)
        ("plain_text", "application/json", "not json"),
        ("numpy", "application/json", {"array": [0, 1, 2], "scalar": 1.5}),
    ],
)
def test_return_values(make_client, action, content_type, body):
    client = make_client(entry_script="score_control.py")
    payload = {"action": action, "x": [1, 2]} if action == "echo" else {"action": action}
    response = client.post("/score", json=payload)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.json() == body


def test_bytes_are_sent_as_octet_stream(make_client):
    response = make_client(entry_script="score_control.py").post("/score", json={"action": "bytes"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01binary"


def test_request_headers_reach_run_without_the_key(make_client, tmp_path):
    (tmp_path / "primaryKey").write_text("k1")
    client = make_client(entry_script="score_control.py", auth_key_dir=str(tmp_path))
    response = client.post(
        "/score",
        json={"action": "header", "name": "X-Custom"},
        headers={"X-Custom": "hello", "Authorization": "Bearer k1"},
    )
    assert response.json() == {"value": "hello", "has_auth": False}


def test_run_raising_is_a_short_500_with_the_request_id(make_client, caplog):
    client = make_client(entry_script="score_control.py")
    response = client.post("/score", json={"action": "raise"}, headers={"x-request-id": "req-42"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "ScoringError"
    assert body["request_id"] == "req-42" == response.headers["x-request-id"]
    assert "secret detail" not in response.text
    assert "traceback" not in body
    logged = [r for r in caplog.records if getattr(r, "request_id", "") == "req-42"]
    assert logged
    assert logged[0].exc_info is not None


def test_debug_sends_the_traceback(make_client):
    client = make_client(entry_script="score_control.py", debug=True)
    body = client.post("/score", json={"action": "raise"}).json()
    assert "ValueError: secret detail" in body["traceback"]


def test_unserializable_result_is_a_500(make_client):
    response = make_client(entry_script="score_control.py").post("/score", json={"action": "unserializable"})
    assert response.status_code == 500
    assert "JSON-serializable" in response.json()["error"]


def test_init_failure_means_not_ready_and_not_live(make_client, caplog):
    client = make_client(entry_script="score_init_fails.py", expect_ready=False)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "cannot find model weights" not in ready.text  # only in the log (see test_azure_compat)
    assert ready.headers["x-request-id"] in ready.text
    assert client.get("/").status_code == 503  # liveness fails -> Kubernetes restarts the container
    assert client.get("/v2/health/ready").json() == {"ready": False}
    score = client.post("/score", json={})
    assert score.status_code == 503
    assert score.headers["retry-after"]
    assert any("model load failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_init_failure_is_written_to_the_termination_log(make_client, tmp_path, monkeypatch):
    from mlendpoints.runtime import model

    log = tmp_path / "termination-log"
    log.touch()  # the kubelet mounts an empty file there
    monkeypatch.setattr(model, "TERMINATION_LOG", log)
    make_client(entry_script="score_init_fails.py", expect_ready=False)
    text = log.read_text()
    assert text.startswith("model load failed: "), text
    assert "cannot find model weights" in text, text


def test_missing_script_fails_loading(make_client, caplog):
    client = make_client(entry_script="does_not_exist.py", expect_ready=False)
    assert client.get("/readyz").status_code == 503
    assert any("entry script not found" in str(r.exc_info and r.exc_info[1]) for r in caplog.records)


def test_script_globals_and_source_dir_on_path(make_client):
    client = make_client(entry_script="score_control.py")
    client.post("/score", json={"action": "echo"})
    assert script_module(client.app_state).calls == ["echo"]


def test_raw_http_script_gets_binary_payloads(make_client):
    client = make_client(entry_script="score_raw.py")
    payload = bytes(range(256)) * 10
    response = client.post("/score", content=payload, headers={"Content-Type": "image/png"})
    assert response.status_code == 200
    assert response.content == payload[::-1]
    assert response.headers["content-type"] == "application/octet-stream"
    import hashlib

    assert response.headers["x-sha256"] == hashlib.sha256(payload).hexdigest()
    assert client.get("/score?x=1").text == "/score?x=1"
    assert client.post("/score", content=b"").status_code == 400  # the script's own answer


def test_raw_http_flag_without_decorator(make_client, tmp_path):
    (tmp_path / "echo_raw.py").write_text(
        "def init():\n    pass\n\n\ndef run(request):\n    return {'n': len(request.get_data()), 'ct': request.mimetype}\n"
    )
    client = make_client(source_dir=str(tmp_path), entry_script="echo_raw.py", raw_http=True)
    response = client.post("/score", content=b"\xff\xfe", headers={"Content-Type": "audio/wav"})
    assert response.json() == {"n": 2, "ct": "audio/wav"}


def test_get_score_reaches_json_scripts_with_the_query(make_client):
    response = make_client(entry_script="score_control.py").get("/score?action=echo&x=[1,2]&y=a")
    assert response.status_code == 200
    assert response.json() == {"action": "echo", "x": [1, 2], "y": "a"}


def test_run_batch_script_without_batching_enabled(make_client, joblib_dir, trained):
    client = make_client(model_dir=str(joblib_dir), entry_script="score_batch.py")
    response = client.post("/score", content=json.dumps({"data": trained.X[:2].tolist()}))
    assert response.json() == trained.model.predict(trained.X[:2]).tolist()
    assert script_module(client.app_state).batch_sizes == [1]
