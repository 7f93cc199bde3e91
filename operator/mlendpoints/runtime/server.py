"""Run the runtime under uvicorn (httptools + uvloop when installed, which the ``runtime`` extra does).

One process, one event loop: scoring pods are scaled by replicas, and one process keeps memory at
its floor. ``TCP_NODELAY`` is set on every accepted connection by uvloop's and asyncio's TCP
transports (the single-process path does not hit uvicorn's multi-worker ``TCP_NODELAY`` bug).
"""

from __future__ import annotations

import importlib.util

from mlendpoints.runtime.app import create_app
from mlendpoints.runtime.config import Settings

#: longer than the usual 60 s idle timeout of load balancers, so they close first (no reset races)
KEEP_ALIVE_S = 75


def serve(settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT (graceful: in-flight requests finish); returns the exit code."""
    import uvicorn

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        backlog=2048,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1
