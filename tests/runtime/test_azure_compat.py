"""Azure ML's script contract, without Azure's server: request object, bodies, GET, str results,
failed init, azmlinfsrv settings and print() in the JSON logs (tests/differential compares with
Azure's server itself)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import httpx
import pytest

from mlendpoints.runtime import config
from tests.runtime.conftest import wait_until
from tests.runtime.test_cli import free_port

pytestmark = pytest.mark.timeout(180)

RAW_SCRIPT = """
from azureml_inference_server_http.api.aml_request import rawhttp


def init():
    pass


@rawhttp
def run(request):
    files = {k: [(f.filename, f.content_type, len(f.read())) for f in request.files.getlist(k)] for k in request.files}
    return {"method": request.method, "args": request.args.to_dict(flat=False), "form": request.form.to_dict(),
            "files": files, "path": request.path, "id": request.request_id,
            "auth": "Authorization" in request.headers}
"""

PLAIN_SCRIPT = """
import sys


def init():
    print("init output")


def run(raw_data):
    print("scoring", len(raw_data))
    print("no newline", end="")
    sys.stderr.write("to stderr\\n")
    return raw_data
"""


@pytest.fixture
def script(tmp_path):
    def write(name: str, text: str) -> str:
        (tmp_path / name).write_text(textwrap.dedent(text))
        return name

    return write


def test_raw_script_gets_werkzeugs_request(make_client, script, tmp_path):
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "primaryKey").write_text("key")
    client = make_client(
        source_dir=str(tmp_path), entry_script=script("raw.py", RAW_SCRIPT), auth_key_dir=str(tmp_path / "k")
    )
    files = [("file[]", ("a.png", b"\x89PNG" * 10, "image/png")), ("file[]", ("b.txt", b"hi", "text/plain"))]
    response = client.post(
        "/score?x=1&x=2",
        data={"name": "v"},
        files=files,
        headers={"Authorization": "Bearer key", "x-request-id": "r-1"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "method": "POST",
        "args": {"x": ["1", "2"]},
        "form": {"name": "v"},
        "files": {"file[]": [["a.png", "image/png", 40], ["b.txt", "text/plain", 2]]},
        "path": "/score",
        "id": "r-1",
        "auth": False,  # keys never reach scripts
    }
    got = client.get("/score?q=a", headers={"Authorization": "Bearer key"}).json()
    assert (got["method"], got["args"]) == ("GET", {"q": ["a"]})


def test_plain_script_gets_any_body_as_text(make_client, script, tmp_path):
    client = make_client(source_dir=str(tmp_path), entry_script=script("plain.py", PLAIN_SCRIPT))
    for content_type, body in [
        ("text/csv", "a,b\n1,2\n"),
        ("application/json", "{broken"),
        ("text/plain", ""),
    ]:
        response = client.post("/score", content=body.encode(), headers={"Content-Type": content_type})
        assert response.status_code == 200
        assert response.json() == body  # the str comes back as a JSON string (Azure's default)


def test_plain_script_get_gets_the_query_as_json_text(make_client, script, tmp_path):
    client = make_client(source_dir=str(tmp_path), entry_script=script("plain.py", PLAIN_SCRIPT))
    response = client.get("/score?a=1&b=[1,2]&c=x&c=y&d=")
    assert json.loads(response.json()) == {"a": 1, "b": [1, 2], "c": ["x", "y"], "d": ""}


@pytest.mark.parametrize(
    ("action", "raw_json_strings", "expected"),
    [
        ("json_text", False, json.dumps({"already": "json"})),  # Azure: a JSON string, decoded twice
        ("plain_text", False, "not json"),
        ("json_text", True, {"already": "json"}),  # opt-in: JSON text sent as is
        ("plain_text", True, "not json"),
    ],
)
def test_str_results(make_client, action, raw_json_strings, expected):
    client = make_client(entry_script="score_control.py", raw_json_strings=raw_json_strings)
    response = client.post("/score", json={"action": action})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected


def test_schema_script_ignores_extra_fields_and_wants_json(make_client, joblib_dir, trained):
    client = make_client(model_dir=str(joblib_dir), entry_script="score_schema.py")
    rows = trained.X[:2].tolist()
    response = client.post("/score", json={"data": rows, "threshold": 0.5, "extra": {"x": 1}})
    assert response.status_code == 200, response.text
    assert client.post("/score", json={"threshold": 0.5}).status_code == 400  # data is required
    csv = client.post("/score", content=b"1,2,3,4", headers={"Content-Type": "text/csv"})
    assert csv.status_code == 415
    bad = client.post("/score", content=b"{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert "malformed JSON" in bad.json()["error"]


def test_get_is_405_for_mlflow_models(make_client, mlflow_tensor_dir):
    response = make_client(model_dir=str(mlflow_tensor_dir)).get("/score")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_failed_init_details_only_in_the_log(make_client, caplog):
    client = make_client(entry_script="score_init_fails.py", expect_ready=False)
    for path in ("/readyz", "/", "/ping"):
        response = client.get(path, headers={"x-request-id": f"probe{path}"})
        assert response.status_code == 503
        assert response.text.startswith(("Not ready", "Unhealthy"))
        assert f"request id probe{path}" in response.text
        assert "weights" not in response.text
        assert os.sep + "scripts" not in response.text
        logged = [r for r in caplog.records if getattr(r, "request_id", "") == f"probe{path}"]
        assert logged
        assert "cannot find model weights" in logged[0].getMessage()
    score = client.post("/score", json={})
    assert score.status_code == 503
    assert "weights" not in score.text
    assert score.json()["request_id"] == score.headers["x-request-id"]


def test_azure_server_settings():
    env = {
        "MLENDPOINTS_REQUEST_TIMEOUT_MS": "5000",
        "MLENDPOINTS_MAX_CONCURRENT_REQUESTS": "1",
        "WORKER_COUNT": "3",
        "SCORING_TIMEOUT_MS": "2000",
        "WORKER_TIMEOUT": "30",
        "AZUREML_LOG_LEVEL": "DEBUG",
        "SERVICE_NAME": "my-service",
        "AML_CORS_ORIGINS": "*",
        "AZUREML_DEBUG_PORT": "5678",
    }
    settings = config.from_env(env)
    assert settings.max_concurrent_requests == 3
    assert settings.request_timeout_ms == 2000
    assert settings.wedged_after_ms == 30_000
    assert settings.log_level == "DEBUG"
    assert settings.service_name == "my-service"
    assert [s.split(" ")[0] for s in settings.ignored_azure_settings] == [
        "AML_CORS_ORIGINS",
        "AZUREML_DEBUG_PORT",
    ]
    # the server's timeout only lowers the front end's
    assert (
        config.from_env(
            {"MLENDPOINTS_REQUEST_TIMEOUT_MS": "1000", "SCORING_TIMEOUT_MS": "9000"}
        ).request_timeout_ms
        == 1000
    )
    with pytest.raises(ValueError, match="WORKER_COUNT"):
        config.from_env({"WORKER_COUNT": "zero"})


def test_swagger_title_from_service_name(make_client):
    client = make_client(entry_script="score_schema.py", service_name="fraud", service_version="7")
    info = client.get("/swagger.json").json()["info"]
    assert (info["title"], info["version"]) == ("fraud", "7")


def test_print_output_is_tagged_with_the_request_id(script, tmp_path):
    """A real ``mlendpoints serve``: run()'s print() lines are JSON log lines with the request id;
    ignored Azure settings are warned about at start-up."""
    port = free_port()
    env = dict(
        os.environ,
        AZUREML_SOURCE_DIRECTORY=str(tmp_path),
        AZUREML_ENTRY_SCRIPT=script("plain.py", PLAIN_SCRIPT),
        MLENDPOINTS_HOST="127.0.0.1",
        MLENDPOINTS_PORT=str(port),
        AML_APP_INSIGHTS_ENABLED="true",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "mlendpoints", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert process.poll() is None
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=120, interval=0.2)
        response = httpx.post(
            f"{base}/score", content=b"abc", headers={"x-request-id": "print-1"}, timeout=10
        )
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    tagged = {(line["message"], line["logger"]) for line in lines if line.get("request_id") == "print-1"}
    assert ("scoring 3", "mlendpoints.runtime.script.stdout") in tagged
    assert ("no newline", "mlendpoints.runtime.script.stdout") in tagged
    assert ("to stderr", "mlendpoints.runtime.script.stderr") in tagged
    assert b"init output" in output  # outside a request: passed through unchanged
    warnings = [line["message"] for line in lines if line["level"] == "WARNING"]
    assert any("AML_APP_INSIGHTS_ENABLED" in w for w in warnings)
