"""Scoring-runtime tests: a real model, real scripts, in-process and real-HTTP servers.

Inputs (built once per session, in temporary folders):

- ``trained``: a scikit-learn ``LogisticRegression`` on ``make_classification`` (4 features);
- ``joblib_dir``: that model saved with joblib (what Azure ML scoring scripts load);
- ``mlflow_tensor_dir`` / ``mlflow_cols_dir``: the same model saved with ``mlflow.sklearn`` with a
  tensor signature (``float64 (-1, 4)``) and a column signature (``f0..f3`` doubles);
- the scoring scripts in ``scripts/``.

Outputs: ``make_client(...)`` (Starlette ``TestClient`` around :func:`create_app`, model loaded)
and ``make_server(...)`` (the same app under uvicorn on 127.0.0.1, driven with httpx): both take
:class:`~mlendpoints.runtime.config.Settings` fields as keyword arguments. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

with warnings.catch_warnings():  # Starlette suggests httpx2; its TestClient works on httpx as it is
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from mlendpoints.runtime import config
from mlendpoints.runtime.app import Runtime, create_app
from mlendpoints.runtime.collector import Collector

SCRIPTS = Path(__file__).parent / "scripts"
COLUMNS = ["f0", "f1", "f2", "f3"]
LOAD_TIMEOUT_S = 60.0


@dataclass
class Trained:
    model: Any
    X: np.ndarray
    y: np.ndarray


@pytest.fixture(scope="session")
def trained() -> Trained:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=1, random_state=0)
    X = X.round(6)
    return Trained(LogisticRegression(random_state=0).fit(X, y), X, y)


@pytest.fixture(scope="session")
def joblib_dir(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import joblib

    folder = tmp_path_factory.mktemp("joblib-model")
    joblib.dump(trained.model, folder / "model.joblib")
    return folder


def _save_mlflow(model: Any, example: Any, folder: Path) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    signature = infer_signature(example, model.predict(example))
    # cloudpickle: the default (skops) format needs a package the runtime does not ship
    mlflow.sklearn.save_model(model, str(folder), signature=signature, serialization_format="cloudpickle")


@pytest.fixture(scope="session")
def mlflow_tensor_dir(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mlflow-tensor") / "model"
    _save_mlflow(trained.model, trained.X[:5], folder)
    return folder


@pytest.fixture(scope="session")
def cols_model(trained: Trained) -> Any:
    """The same estimator fitted on a DataFrame, so it knows its column names."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=0).fit(pd.DataFrame(trained.X, columns=COLUMNS), trained.y)


@pytest.fixture(scope="session")
def mlflow_cols_dir(trained: Trained, cols_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pandas as pd

    folder = tmp_path_factory.mktemp("mlflow-cols") / "model"
    _save_mlflow(cols_model, pd.DataFrame(trained.X[:5], columns=COLUMNS), folder)
    return folder


def settings_for(**fields: Any) -> config.Settings:
    """Settings from defaults plus ``fields`` (scripts are looked up in ``scripts/``)."""
    fields.setdefault("source_dir", str(SCRIPTS))
    fields.setdefault("host", "127.0.0.1")
    return config.from_env({}, **fields)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def no_payload_writer_left_running(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test that leaves a payload collector's writer thread running, and stop that writer.

    A writer left behind keeps draining into a destination the test has torn down (a stopped
    Azurite, a deleted folder) and logs errors into later tests. ``Collector.start`` is wrapped
    (not replaced) to see which collectors the test started; servers close theirs in the ASGI
    lifespan shutdown, direct users with ``close()``. Collectors of module-scoped servers are
    started before this fixture and are checked by their own fixtures.
    """
    started: list[Collector] = []
    original = Collector.start

    def start(self: Collector) -> None:
        started.append(self)
        original(self)

    monkeypatch.setattr(Collector, "start", start)
    yield
    leaked = [c for c in started if c.running()]
    for collector in leaked:
        collector.close(timeout_s=5)
    assert leaked == [], f"{len(leaked)} payload collector writer(s) still running after the test"


@contextlib.contextmanager
def client_for(settings: config.Settings, *, expect_ready: bool = True) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=True) as client:
        wait_until(lambda: app.model.state != "loading", LOAD_TIMEOUT_S)
        assert app.model.ready is expect_ready, app.model.error
        client.app_state = app  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """``make_client(**settings)`` -> an in-process client whose model has finished loading."""
    stack = contextlib.ExitStack()

    def make(expect_ready: bool = True, **fields: Any) -> TestClient:
        return stack.enter_context(client_for(settings_for(**fields), expect_ready=expect_ready))

    with stack:
        yield make


class LiveServer:
    """The app under a real uvicorn (httptools + uvloop) in a thread, on a free loopback port."""

    def __init__(self, app: Runtime) -> None:
        import uvicorn

        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, loop="uvloop", http="httptools", lifespan="on", log_config=None, access_log=False
            )
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_until(lambda: self.server.started, LOAD_TIMEOUT_S)
        wait_until(lambda: self.app.model.state != "loading", LOAD_TIMEOUT_S)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 20.0)
        return httpx.Client(base_url=self.url, **kwargs)

    def metric(self, name: str) -> float:
        """One unlabelled sample of ``/metrics``."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)


@pytest.fixture
def make_server() -> Iterator[Callable[..., LiveServer]]:
    """``make_server(**settings)`` -> a started :class:`LiveServer` (stopped after the test)."""
    stack = contextlib.ExitStack()

    def make(**fields: Any) -> LiveServer:
        return stack.enter_context(LiveServer(create_app(settings_for(**fields))))

    with stack:
        yield make


def script_module(app: Runtime) -> Any:
    """The loaded scoring script module of an app (tests steer ``score_control`` through it)."""
    return app.model.scorer.module  # type: ignore[attr-defined]
