"""Run the runtime under uvicorn (httptools + uvloop when installed, which the ``runtime`` extra does).

One process, one event loop: scoring pods are scaled by replicas, and one process keeps memory at
its floor. ``TCP_NODELAY`` is set on every accepted connection by uvloop's and asyncio's TCP
transports (the single-process path does not hit uvicorn's multi-worker ``TCP_NODELAY`` bug).
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from mlendpoints.runtime.app import Runtime, create_app
from mlendpoints.runtime.config import Settings

if TYPE_CHECKING:
    import uvicorn

    from mlendpoints.runtime.limits import Limits

log = logging.getLogger("mlendpoints.runtime")

#: Exit status when ``init()``/the model load failed (gunicorn's "worker failed to boot", which is
#: how azureml-inference-server-http ends then).
EXIT_LOAD_FAILED = 3


def serve(settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT (graceful: in-flight requests finish); returns the exit code.

    A failed model load (``init()`` raised, no usable model) ends the process with
    :data:`EXIT_LOAD_FAILED` as soon as it happens, after writing the error to the termination
    log: Kubernetes then restarts the container and reports ``CrashLoopBackOff`` within seconds,
    instead of after the liveness probe's failures (minutes with Azure ML's defaults).
    """
    import uvicorn

    app = create_app(settings)
    server = _draining_server(uvicorn.Server)(
        uvicorn_config(app, settings), app, settings.shutdown_drain_ms / 1000
    )

    def load_failed() -> None:
        log.error("exiting with status %d: the model failed to load: %s", EXIT_LOAD_FAILED, app.model.error)
        server.should_exit = True  # uvicorn's graceful shutdown, without the drain: it never served

    app.on_load_failed = load_failed
    server.run()
    if app.model.state == "failed":
        return EXIT_LOAD_FAILED
    return 0 if server.started else 1


def limits_of(settings: Settings) -> Limits:
    """The connection limits of ``settings`` (imports httptools: call only where it is installed)."""
    from mlendpoints.runtime.limits import Limits

    return Limits(
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout_s=settings.header_timeout_ms / 1000,
        body_timeout_s=settings.body_timeout_ms / 1000,
        max_connections=settings.max_connections,
        idle_timeout_s=settings.keep_alive_ms / 1000,
    )


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    """uvicorn's configuration with the client limits of ``settings`` (see :mod:`.limits`).

    With httptools (the runtime image) every limit is enforced by
    :class:`~mlendpoints.runtime.limits.LimitedHttpToolsProtocol`; uvicorn's ``limit_concurrency``
    sits one above ``max_connections`` so its own 503 only ever counts tasks. The h11 fallback gets
    uvicorn's ``h11_max_incomplete_event_size`` (answered 400, not 431) and ``limit_concurrency``,
    but no header or body timeouts.
    """
    import uvicorn

    if importlib.util.find_spec("httptools"):
        from mlendpoints.runtime.limits import protocol_class

        http: Any = protocol_class(limits_of(settings))
    else:
        http = "h11"
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http=http,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # typed int by uvicorn, but only handed to loop.call_later (seconds, float)
        timeout_keep_alive=settings.keep_alive_ms / 1000,  # type: ignore[arg-type]
        backlog=2048,
        limit_concurrency=settings.max_connections + 1,
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )


def _draining_server(base: Any) -> Any:
    """``uvicorn.Server`` that drains on the first SIGTERM before shutting down.

    Kubernetes removes a terminating pod from EndpointSlices at the same time as it sends SIGTERM,
    and gateways notice a moment later; a server that stopped accepting at once would refuse the
    requests sent in that moment. So the first SIGTERM only flips readiness to 503 and keeps
    serving for ``drain_s``; then uvicorn's graceful shutdown runs (stop accepting, finish
    in-flight requests). SIGINT, or a second SIGTERM, shuts down at once.
    """

    class DrainingServer(base):  # type: ignore[misc]
        def __init__(self, config: Any, app: Runtime, drain_s: float) -> None:
            super().__init__(config)
            self._app, self._drain_s, self._draining = app, drain_s, False

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if sig == signal.SIGTERM and self._drain_s > 0 and not self._draining:
                self._draining = True
                self._app.draining = True
                log.info("SIGTERM: readiness off, serving for %.1fs more before shutting down", self._drain_s)
                timer = threading.Timer(self._drain_s, super().handle_exit, (sig, frame))
                timer.daemon = True
                timer.start()
                return
            super().handle_exit(sig, frame)

    return DrainingServer
