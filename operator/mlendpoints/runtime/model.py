"""The served model: which scorer (script or MLflow), loading it in the background, and its state.

:func:`make_scorer` decides the model type (``auto``: an ``MLmodel`` file and no entry script means
MLflow); :class:`Model` runs ``init()`` / the MLflow load in a background thread at start-up, so
the server answers liveness probes while a large model loads, and flips ``ready`` only when the
load succeeded. A failed load is logged with its traceback, keeps readiness false and makes
liveness fail, so Kubernetes restarts the container; public replies never carry its message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from mlendpoints.runtime import errors
from mlendpoints.runtime.asgi import Request
from mlendpoints.runtime.config import Settings

log = logging.getLogger("mlendpoints.runtime.model")

#: Kubernetes' default ``terminationMessagePath``: what is written here becomes the container's
#: ``lastState.terminated.message`` once liveness restarts it, so the operator can name the cause.
TERMINATION_LOG = Path("/dev/termination-log")


def _report_termination(message: str) -> None:
    """Write ``message`` (at most 4000 bytes, Kubernetes keeps 4096) to the termination log, if mounted."""
    if TERMINATION_LOG.exists():
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(f"model load failed: {message}"[:4000])


LOADING, READY, FAILED = "loading", "ready", "failed"


class Scorer(Protocol):
    """What the app needs from a model type (see ``script.ScriptScorer``, ``mlflow_model.MlflowScorer``)."""

    kind: str
    mode: str

    @property
    def batchable(self) -> bool: ...

    def load(self) -> None: ...

    def parse(self, request: Request) -> tuple[Any, int]: ...

    def parse_v2(self, tensors: list[Any], context: tuple[str, str | None]) -> tuple[Any, int]: ...

    def score_one(self, item: Any) -> Any: ...

    def score_many(self, items: Sequence[Any]) -> list[Any]: ...


def make_scorer(settings: Settings) -> Scorer:
    """Pick and construct the scorer for ``settings`` (``ValueError`` when nothing can be served)."""
    from mlendpoints.runtime import mlflow_model

    kind = settings.model_type
    mlflow_path = mlflow_model.find_model(settings.model_dir)
    if kind == "auto":
        kind = "custom" if settings.entry_script else "mlflow" if mlflow_path else ""
    if kind == "custom":
        from mlendpoints.runtime import script

        return script.ScriptScorer(settings)
    if kind == "mlflow":
        if mlflow_path is None:
            raise ValueError(f"no MLmodel file under the model folder {settings.model_dir!r}")
        return mlflow_model.MlflowScorer(mlflow_path)
    raise ValueError(
        "nothing to serve: set AZUREML_ENTRY_SCRIPT (a scoring script) or point AZUREML_MODEL_DIR "
        "at an MLflow model (a folder with an MLmodel file)"
    )


class Model:
    """A scorer plus its lifecycle state, owned by the app."""

    def __init__(self, scorer: Scorer, settings: Settings) -> None:
        self.scorer = scorer
        self.settings = settings
        self.state = LOADING
        self.error = ""
        self.load_seconds = 0.0
        self._started = time.monotonic()

    @property
    def ready(self) -> bool:
        return self.state == READY

    def start_loading(self, loop: asyncio.AbstractEventLoop, on_loaded: Callable[[Model], None]) -> None:
        """Load in a background thread; ``on_loaded(self)`` runs on ``loop`` when it is done."""
        self._started = time.monotonic()

        def load() -> None:
            try:
                self.scorer.load()
            except BaseException as exc:  # init() may raise anything, even SystemExit
                self.error = f"{type(exc).__name__}: {exc}"[:500]
                log.error(
                    "model load failed; not ready, liveness fails (`mlendpoints serve` exits)",
                    exc_info=exc,
                    extra={"model_kind": self.scorer.kind},
                )
                state = FAILED
                _report_termination(self.error)
            else:
                state = READY
            self.load_seconds = time.monotonic() - self._started

            def finish() -> None:
                self.state = state
                on_loaded(self)

            with contextlib.suppress(RuntimeError):  # the loop closed while loading
                loop.call_soon_threadsafe(finish)

        threading.Thread(target=load, name="mlendpoints-load", daemon=True).start()

    def liveness(self) -> str | None:
        """``None`` when alive, else why not."""
        if self.state == FAILED:
            return f"model load failed: {self.error}"
        timeout_ms = self.settings.init_timeout_ms
        if self.state == LOADING and timeout_ms and (time.monotonic() - self._started) * 1000 > timeout_ms:
            return f"model still loading after {timeout_ms} ms"
        return None

    def check_ready(self) -> None:
        if self.state == LOADING:
            raise errors.NotReady("the model is still loading", retry_after_s=5)
        if self.state == FAILED:  # why is in the log (it may name server paths), not in the reply
            raise errors.NotReady("not ready: the model failed to load", retry_after_s=30)
