"""Graceful shutdown as a rolling update needs it: SIGTERM turns readiness off, requests are still
served during the drain period (the gateway has not yet seen the pod leave its EndpointSlice),
then the server closes and the process exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from mlendpoints.runtime import cli
from tests.runtime.conftest import SCRIPTS, wait_until
from tests.runtime.test_cli import free_port

pytestmark = pytest.mark.timeout(180)


def test_negative_drain_is_rejected_naming_the_variable(capsys):
    assert cli.main(["--shutdown-drain-ms", "-1"]) == 2
    assert "MLENDPOINTS_SHUTDOWN_DRAIN_MS" in capsys.readouterr().err


def test_sigterm_turns_readiness_off_keeps_serving_for_the_drain_then_exits(joblib_dir, trained):
    port = free_port()
    env = dict(
        os.environ,
        AZUREML_MODEL_DIR=str(joblib_dir),
        AZUREML_SOURCE_DIRECTORY=str(SCRIPTS),
        AZUREML_ENTRY_SCRIPT="score.py",
        MLENDPOINTS_HOST="127.0.0.1",
        MLENDPOINTS_PORT=str(port),
        MLENDPOINTS_SHUTDOWN_DRAIN_MS="3000",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "mlendpoints", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    body = {"data": trained.X[:1].tolist()}
    try:

        def ready() -> bool:
            assert process.poll() is None, process.stdout.read().decode()
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=120, interval=0.2)
        with httpx.Client(base_url=base, timeout=10) as kept_alive:
            assert kept_alive.post("/score", json=body).status_code == 200
            process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            wait_until(
                lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 503, timeout=5, interval=0.05
            )
            ready_reply = httpx.get(f"{base}/readyz", timeout=2)
            assert ready_reply.text == "Not ready: shutting down"
            # still serving, on the open connection and on new ones, until the drain ends
            served = 0
            while time.monotonic() - sent < 2.0:
                assert kept_alive.post("/score", json=body).status_code == 200
                assert httpx.post(f"{base}/score", json=body, timeout=5).status_code == 200
                served += 2
            assert served >= 2
            assert process.poll() is None
        process.wait(timeout=30)
        assert time.monotonic() - sent >= 3.0
    finally:
        if process.poll() is None:
            process.kill()
        output = process.stdout.read().decode()
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "readiness off" in output
    assert "Application shutdown complete." in output


def test_failed_init_ends_the_process_at_once_with_status_3_naming_the_error(joblib_dir):
    """Like azureml-inference-server-http ("worker failed to boot"): the container exits, so
    Kubernetes restarts it and reports CrashLoopBackOff without waiting for liveness failures."""
    env = dict(
        os.environ,
        AZUREML_MODEL_DIR=str(joblib_dir),
        AZUREML_SOURCE_DIRECTORY=str(SCRIPTS),
        AZUREML_ENTRY_SCRIPT="score_init_fails.py",
        MLENDPOINTS_HOST="127.0.0.1",
        MLENDPOINTS_PORT=str(free_port()),
        MLENDPOINTS_SHUTDOWN_DRAIN_MS="30000",  # not applied: a server that never served has nothing to drain
    )
    process = subprocess.run(
        [sys.executable, "-m", "mlendpoints", "serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 3, process.stdout + process.stderr
    assert "exiting with status 3: the model failed to load" in process.stderr, process.stderr
    assert "cannot find model weights" in process.stderr
