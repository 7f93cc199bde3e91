"""``mlendpoints serve`` as the scoring pod runs it: configured by env vars, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from mlendpoints.runtime import cli
from tests.runtime.conftest import SCRIPTS, wait_until

pytestmark = pytest.mark.timeout(180)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def keep_logging():
    """``cli.main`` configures the root logger for the process; restore the test run's afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_bad_flag_value_exits_2(capsys):
    assert cli.main(["--port", "not-a-port"]) == 2
    assert cli.main(["--max-concurrent-requests", "0"]) == 2
    assert "MLENDPOINTS_MAX_CONCURRENT_REQUESTS" in capsys.readouterr().err


def test_nothing_to_serve_exits_2(tmp_path):
    assert cli.main(["--model-dir", str(tmp_path), "--port", str(free_port())]) == 2


def test_serve_subprocess_with_the_operator_env(joblib_dir, trained, tmp_path):
    port = free_port()
    (tmp_path / "primaryKey").write_text("pod-key")
    env = dict(
        os.environ,
        AZUREML_MODEL_DIR=str(joblib_dir),
        AZUREML_SOURCE_DIRECTORY=str(SCRIPTS),
        AZUREML_ENTRY_SCRIPT="score.py",
        MLENDPOINTS_HOST="127.0.0.1",
        MLENDPOINTS_PORT=str(port),
        MLENDPOINTS_AUTH_KEY_DIR=str(tmp_path),
        MLENDPOINTS_LOG_LEVEL="INFO",
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
            assert process.poll() is None, process.stdout.read().decode()
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=120, interval=0.2)
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/").text == "Healthy"
            headers = {"Authorization": "Bearer pod-key", "x-request-id": "cli-1"}
            response = http.post("/score", json={"data": trained.X[:2].tolist()}, headers=headers)
            assert response.status_code == 200
            assert response.json() == trained.model.predict(trained.X[:2]).tolist()
            assert http.post("/score", json={"data": []}).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why it stopped
    assert process.returncode in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 30
    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]  # every line is structured JSON
    assert "model ready" in messages
    assert "Application shutdown complete." in messages
    assert "pod-key" not in output.decode()
