"""Differential tests: the same script and request to our runtime and to Azure ML's own server.

Azure's server is ``azureml-inference-server-http`` (:data:`AZURE_PACKAGES`, pinned), installed once
in its own cached virtualenv by :func:`tests.venvs.ensure` (skipped only when PyPI is unreachable).
For each script under ``scripts/`` one ``azmlinfsrv`` process (gunicorn, 1 worker) is started on a
free port, bound to 127.0.0.1, and kept for the session; ours is the runtime under uvicorn in this
process (:class:`tests.runtime.conftest.LiveServer`). :func:`pair` returns both as httpx clients and
:func:`assert_same` compares status, media type and body (JSON bodies by value: Azure escapes
non-ASCII, orjson does not, which is the same JSON).

Deliberate differences are named in the tests that show them (``DIFFERENCE:`` in their
docstrings) and listed in docs/runtime.md, *Differences from azureml-inference-server-http*.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import venvs
from tests.runtime.conftest import LiveServer, settings_for, wait_until

SCRIPTS = Path(__file__).parent / "scripts"
AZURE_VERSION = "1.5.1"
#: Azure's server and what the scripts import (same numpy/pandas majors as our runtime)
AZURE_PACKAGES = (
    f"azureml-inference-server-http=={AZURE_VERSION}",
    "inference-schema[numpy-support,pandas-support]==1.8",
    "numpy==2.4.6",
    "pandas==3.1.1",
)
START_TIMEOUT_S = 120.0
# azmlinfsrv hard-codes host 0.0.0.0; the tests bind it to loopback only.
_LAUNCH = (
    "import sys, azureml_inference_server_http.amlserver as s; s.DEFAULT_HOST = '127.0.0.1'; "
    "sys.argv[0] = 'azmlinfsrv'; sys.exit(s.run())"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AzureServer:
    """``azmlinfsrv --entry_script <script> --port <free port>`` from the pinned venv."""

    def __init__(self, venv: Path, script: Path, model_dir: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZUREML_", "AML_", "PYTHON"))}
        env |= {"AZUREML_MODEL_DIR": str(model_dir), "WORKER_COUNT": "1"}
        command = [str(venv / "bin" / "python"), "-c", _LAUNCH]
        command += ["--entry_script", str(script), "--port", str(self.port)]
        self._out = open(log, "wb")  # noqa: SIM115 -- closed in stop()
        self.proc = subprocess.Popen(
            command, stdout=self._out, stderr=subprocess.STDOUT, env=env, cwd=str(script.parent)
        )

    def wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"azmlinfsrv exited {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"azmlinfsrv not up after {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._out.close()


@pytest.fixture(scope="session")
def azure_venv(request: pytest.FixtureRequest) -> Path:
    return venvs.ensure(f"azmlinfsrv-{AZURE_VERSION}", AZURE_PACKAGES, config=request.config)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("differential-model")


class Pair:
    """One script served by both servers."""

    def __init__(self, azure: AzureServer, ours: LiveServer) -> None:
        self.azure = httpx.Client(base_url=azure.url, timeout=30)
        self.ours = ours.client(timeout=30)
        self.azure_server = azure

    def both(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        """(ours, Azure's) answer to the same request."""
        return self.ours.request(method, url, **kwargs), self.azure.request(method, url, **kwargs)


@pytest.fixture(scope="session")
def pair(azure_venv: Path, model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``pair("script.py")`` -> :class:`Pair`; servers are started once per script and session."""
    logs = tmp_path_factory.mktemp("azmlinfsrv-logs")
    started: dict[str, Pair] = {}
    stack = contextlib.ExitStack()

    def get(script: str) -> Pair:
        if script not in started:
            azure = AzureServer(azure_venv, SCRIPTS / script, model_dir, logs / f"{script}.log")
            stack.callback(azure.stop)
            settings = settings_for(model_dir=str(model_dir), source_dir=str(SCRIPTS), entry_script=script)
            from mlendpoints.runtime.app import create_app

            ours = stack.enter_context(LiveServer(create_app(settings)))
            assert ours.app.model.ready, ours.app.model.error
            azure.wait()
            started[script] = Pair(azure, ours)
        return started[script]

    with stack:
        yield get


def media(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def assert_same(ours: httpx.Response, azure: httpx.Response) -> None:
    """Same status, media type and body; for errors, both JSON with a ``message``.

    Error bodies are not compared word for word: ours also carry ``error``, ``code`` and
    ``request_id`` (a deliberate difference; docs/runtime.md).
    """
    context = f"ours {ours.status_code} {ours.text[:300]!r} / azure {azure.status_code} {azure.text[:300]!r}"
    assert ours.status_code == azure.status_code, context
    assert media(ours) == media(azure), context
    if ours.status_code >= 400:
        assert "message" in ours.json(), context
        assert "message" in azure.json(), context
    elif media(ours) == "application/json":
        assert ours.json() == azure.json(), context
    else:
        assert ours.content == azure.content, context


__all__ = ["AZURE_PACKAGES", "AzureServer", "Pair", "assert_same", "media", "wait_until"]
