"""The ASGI application: routing, request ids, auth, limits, errors and metrics on one lean path.

:func:`create_app` builds a :class:`Runtime` from :class:`~.config.Settings`. Routes are a dict
lookup (plus a small parser for ``/v2/models/...``) and every request goes through the same steps,
in this order, each cheap: route (404/405) -> request id (431) -> key (401) -> content type (415)
-> body size (413) -> readiness (503) -> decode (400) -> queue and score (429/503/408/500). Errors
are :class:`~.errors.HTTPError` s rendered in one place; 5xx are logged with the request id.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from mlendpoints import __version__
from mlendpoints.api import contract
from mlendpoints.runtime import errors, swagger, v2
from mlendpoints.runtime.asgi import (
    TEXT,
    Receive,
    Reply,
    Request,
    Scope,
    Send,
    is_json_type,
    new_request_id,
    read_body,
    request_ids,
    send_reply,
)
from mlendpoints.runtime.auth import KeyStore
from mlendpoints.runtime.collector import Collector, Item
from mlendpoints.runtime.config import Settings
from mlendpoints.runtime.metrics import Registry
from mlendpoints.runtime.model import Model, Scorer, make_scorer
from mlendpoints.runtime.scheduler import Scheduler
from mlendpoints.runtime.workers import WorkerPool

log = logging.getLogger("mlendpoints.runtime")
access = logging.getLogger("mlendpoints.runtime.access")

Handler = Callable[[Request, Receive, str], Awaitable[Reply]]

#: scorer modes whose /score input is not necessarily JSON (raw-HTTP and plain scripts)
_ANY_BODY = frozenset({"raw", "plain"})
#: the pin request header (ASGI header names are lower-case bytes)
PIN = contract.DEPLOYMENT_HEADER.encode()


class Route:
    __slots__ = ("auth", "handler", "json", "label", "methods")

    def __init__(
        self, label: str, methods: frozenset[str], handler: Handler, *, auth: bool = False, json: bool = False
    ):
        self.label = label
        self.methods = methods
        self.handler = handler
        self.auth = auth
        self.json = json


class Runtime:
    """The scoring server as an ASGI callable (``uvicorn`` or Starlette's ``TestClient`` drive it)."""

    def __init__(self, settings: Settings, scorer: Scorer | None = None) -> None:
        self.settings = settings
        self.metrics = Registry()
        self.keys = KeyStore(settings.auth_key_dir)
        self.model = Model(scorer or make_scorer(settings), settings)
        self.scheduler = Scheduler(
            WorkerPool(settings.max_concurrent_requests),
            self.metrics,
            queue_size=settings.queue_size,
            queue_wait_s=settings.max_queue_wait_ms / 1000,
            timeout_s=settings.request_timeout_ms / 1000,
            max_batch_rows=settings.max_batch_size,
            batch_latency_s=settings.max_batch_latency_ms / 1000,
            cancel_timed_out=settings.cancel_timed_out,
            wedged_after_s=settings.wedged_after_ms / 1000,
        )
        self.collector = Collector(settings, self.metrics) if settings.collector_enabled else None
        self.in_flight = 0
        #: set on SIGTERM (server.py): readiness answers 503 while requests are still served
        self.draining = False
        #: Called on the event loop when the model failed to load (the server sets it to exit).
        self.on_load_failed: Callable[[], None] | None = None
        self.metrics.in_flight.source = lambda: self.in_flight
        self.metrics.ready.source = lambda: 1.0 if self.model.ready else 0.0
        self._swagger: dict[str, dict[str, Any]] = {}
        self._ready_event: asyncio.Event | None = None
        #: ``azureml-model-deployment: <deployment>`` on every response (api/contract.py); only for
        #: a name that is a valid header value (visible ASCII: a Kubernetes name always is).
        name = settings.deployment_name
        self._identity: tuple[tuple[bytes, bytes], ...] = (
            ((contract.DEPLOYMENT_HEADER.encode(), name.encode()),)
            if name and name.isascii() and name.isprintable()
            else ()
        )
        get, post = frozenset({"GET"}), frozenset({"POST"})
        score_methods = frozenset({"GET", "POST"})  # GET reaches scripts (query string), not MLflow
        self.routes: dict[str, Route] = {
            contract.LIVENESS_PATH: Route(contract.LIVENESS_PATH, get, self.liveness),
            "/healthz": Route("/healthz", get, self.liveness),
            contract.READINESS_PATH: Route(contract.READINESS_PATH, get, self.readiness),
            "/ping": Route("/ping", get, self.readiness),
            "/score": Route("/score", score_methods, self.score, auth=True, json=True),
            "/invocations": Route("/invocations", post, self.score, auth=True, json=True),
            "/swagger.json": Route("/swagger.json", get, self.swagger, auth=True),
            "/metrics": Route("/metrics", get, self.metrics_text),
            "/v2": Route("/v2", get, self.v2_server),
            "/v2/health/live": Route("/v2/health/live", get, self.v2_live),
            "/v2/health/ready": Route("/v2/health/ready", get, self.v2_ready),
        }
        self._v2_routes = {
            "": Route("/v2/models/{name}", get, self.v2_metadata, auth=True),
            "ready": Route("/v2/models/{name}/ready", get, self.v2_model_ready),
            "infer": Route("/v2/models/{name}/infer", post, self.v2_infer, auth=True, json=True),
        }

    # -- ASGI entry point ---------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    # One function on purpose (64 lines): every request runs it, and a split adds a call per request
    # (allow-listed in tests/unit/test_code_size.py).
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        self.in_flight += 1
        path: str = scope["path"]
        route = self.routes.get(path)
        model_name = ""
        if route is None and path.startswith("/v2/models/"):
            route, model_name = self._v2_route(path)
        request = Request(scope, "", "")
        headers = request.headers
        common = list(self._identity)
        try:
            raw_id = headers.get(b"x-request-id")
            client_id = headers.get(b"x-ms-client-request-id")
            request.request_id = new_request_id()
            if raw_id is not None or client_id is not None:
                request_ids(request, raw_id, client_id, common)
            common.append((b"x-request-id", request.request_id.encode()))
            if route is None:
                raise errors.NotFound(f"no route {path}")
            if request.method not in route.methods:
                raise errors.MethodNotAllowed(
                    f"{request.method} is not allowed on {path}", ", ".join(sorted(route.methods))
                )
            if route.auth and not self.keys.check(headers.get(b"authorization")):
                self.metrics.auth_failures.inc()
                raise errors.Unauthorized("missing or invalid key (send Authorization: Bearer <key>)")
            if route.auth and self._identity and (pin := headers.get(PIN)) and pin != self._identity[0][1]:
                raise errors.ForeignPin(pin, self.settings.deployment_name or "")
            if route.json:
                # Scripts without schema decorators take any body (Azure ML hands them its text).
                if self.model.scorer.mode not in _ANY_BODY and not is_json_type(headers.get(b"content-type")):
                    raise errors.UnsupportedMediaType("expected Content-Type: application/json")
                request.body = await read_body(
                    receive, self.settings.max_body_bytes, headers.get(b"content-length")
                )
            reply = await route.handler(request, receive, model_name)
        except errors.HTTPError as exc:
            reply = self._error(exc, request, route)
        except Exception as exc:  # a bug of ours; never let it escape as a dropped connection
            reply = self._error(errors.HTTPError("internal server error"), request, route, cause=exc)
        await send_reply(send, reply, common)
        label = route.label if route is not None else "unmatched"
        elapsed = time.perf_counter() - started
        self.metrics.requests.inc((label, reply.status))
        self.metrics.latency.observe(elapsed, (label,))
        self.in_flight -= 1
        if self.collector is not None and route is not None and route.json and reply.status != 401:
            # payload collection (runtime/collector.py): a sampling draw and an append, never I/O
            self.collector.offer(
                Item(
                    time.time(), request.request_id, label, reply.status, elapsed,
                    request.body, headers.get(b"content-type"), reply.body, reply.content_type,
                )
            )  # fmt: skip
        if self.settings.access_log:
            access.info(
                "%s %s %d %.3fms",
                request.method,
                path,
                reply.status,
                elapsed * 1000,
                extra={"request_id": request.request_id, "status": reply.status},
            )

    def _v2_route(self, path: str) -> tuple[Route | None, str]:
        parts = path[len("/v2/models/") :].split("/")
        name, rest = parts[0], parts[1:]
        if len(rest) >= 2 and rest[0] == "versions":  # /v2/models/{name}/versions/{version}[/...]
            rest = rest[2:]
        if not name or len(rest) > 1:
            return None, ""
        return self._v2_routes.get(rest[0] if rest else ""), name

    def _error(
        self,
        exc: errors.HTTPError,
        request: Request,
        route: Route | None,
        cause: BaseException | None = None,
    ) -> Reply:
        cause = cause or exc.__cause__
        extra = {
            "request_id": request.request_id,
            "status": exc.status,
            "route": route.label if route else request.path,
        }
        if exc.status >= 500 and exc.status != 503:
            log.error("%s: %s", exc.code, exc.message, exc_info=cause, extra=extra)
        elif exc.status == 408:
            log.warning("%s: %s", exc.code, exc.message, extra=extra)
        else:
            log.debug("%s: %s", exc.code, exc.message, extra=extra)
        body = errors.render(exc, request.request_id, debug=self.settings.debug, cause=cause)
        return Reply(body, exc.status, b"application/json", list(exc.headers))

    # -- lifecycle ------------------------------------------------------------------------------

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.scheduler.pool.stop()
                if self.collector is not None:  # uvicorn has drained the requests: write the rest
                    await asyncio.to_thread(self.collector.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        """Start the worker threads and the background model load (on the running loop)."""
        loop = asyncio.get_running_loop()
        self._ready_event = asyncio.Event()
        self.scheduler.start(loop, self._score_one, None)
        if self.collector is not None:
            self.collector.start()
        self.model.start_loading(loop, self._loaded)

    def _score_one(self, item: Any) -> Any:
        return self.model.scorer.score_one(item)

    def _loaded(self, model: Model) -> None:
        self.metrics.model_load.set(model.load_seconds)
        if model.ready:
            # Everything loaded so far (the framework, the model: ~200k objects with MLflow) lives
            # as long as the process; moving it out of the collector's reach turns the occasional
            # full collection from ~100 ms into microseconds, which shows directly in p99 latency.
            gc.collect()
            gc.freeze()
            scorer = model.scorer
            if self.scheduler.max_batch_rows and scorer.batchable:
                self.scheduler.enable_batching(scorer.score_many)
            log.info(
                "model ready",
                extra={
                    "model_kind": scorer.kind,
                    "mode": scorer.mode,
                    "load_seconds": round(model.load_seconds, 3),
                    "batching": self.scheduler.batching,
                },
            )
        if self._ready_event is not None:
            self._ready_event.set()
        if model.state == "failed" and self.on_load_failed is not None:
            self.on_load_failed()

    async def wait_loaded(self, timeout: float) -> bool:
        """Wait until loading finished (either way); True when the model is ready."""
        if self._ready_event is not None:
            await asyncio.wait_for(self._ready_event.wait(), timeout)
        return self.model.ready

    # -- handlers -----------------------------------------------------------------------------

    async def liveness(self, request: Request, receive: Receive, _: str) -> Reply:
        if self.model.state == "failed":
            return self._load_failed("Unhealthy", request)
        reason = self.model.liveness() or (
            "every scoring slot is stuck in a timed-out call" if self.scheduler.wedged() else None
        )
        if reason is None:
            return Reply(b"Healthy", 200, TEXT)
        return Reply(f"Unhealthy: {reason}".encode(), 503, TEXT)

    async def readiness(self, request: Request, receive: Receive, _: str) -> Reply:
        if self.draining:
            return Reply(b"Not ready: shutting down", 503, TEXT)
        if self.model.ready and not self.scheduler.wedged():
            return Reply(b"Ready", 200, TEXT)
        if self.model.state == "failed":
            return self._load_failed("Not ready", request)
        if self.model.state == "loading":
            return Reply(b"Not ready: the model is still loading", 503, TEXT)
        return Reply(b"Not ready: every scoring slot is stuck in a timed-out call", 503, TEXT)

    def _load_failed(self, head: str, request: Request) -> Reply:
        """503 for a probe after a failed load: why (it may name server paths) goes to the log
        only; the reply carries the request id that finds that log line."""
        log.warning(
            "%s: model load failed: %s",
            head.lower(),
            self.model.error,
            extra={"request_id": request.request_id},
        )
        return Reply(f"{head}: model load failed (request id {request.request_id})".encode(), 503, TEXT)

    async def score(self, request: Request, receive: Receive, _: str) -> Reply:
        self.model.check_ready()
        if request.method == "GET" and self.model.scorer.mode == "mlflow":
            raise errors.MethodNotAllowed("MLflow models are scored with POST", "POST")
        item, rows = self.model.scorer.parse(request)
        reply: Reply = await self.scheduler.submit(item, rows, request.request_id)
        return reply

    async def swagger(self, request: Request, receive: Receive, _: str) -> Reply:
        self.model.check_ready()
        if not self._swagger:
            self._swagger = self._build_swagger()
        return Reply(orjson.dumps(swagger.select(self._swagger, request.query.get("version"))), 200)

    def _build_swagger(self) -> dict[str, dict[str, Any]]:
        from mlendpoints.runtime import openapi_model

        return openapi_model.documents(self.model.scorer, self.settings, auth=self.keys.enabled)

    async def metrics_text(self, request: Request, receive: Receive, _: str) -> Reply:
        return Reply(self.metrics.render(), 200, b"text/plain; version=0.0.4; charset=utf-8")

    async def v2_server(self, request: Request, receive: Receive, _: str) -> Reply:
        return Reply(orjson.dumps(v2.server_metadata(__version__)), 200)

    async def v2_live(self, request: Request, receive: Receive, _: str) -> Reply:
        live = self.model.liveness() is None and not self.scheduler.wedged()
        return Reply(orjson.dumps({"live": live}), 200 if live else 503)

    async def v2_ready(self, request: Request, receive: Receive, _: str) -> Reply:
        ready = self.model.ready and not self.scheduler.wedged()
        return Reply(orjson.dumps({"ready": ready}), 200 if ready else 503)

    def _check_model(self, name: str) -> None:
        if name != self.settings.model_name:
            raise errors.NotFound(f"unknown model {name!r}; this server serves {self.settings.model_name!r}")

    async def v2_model_ready(self, request: Request, receive: Receive, name: str) -> Reply:
        self._check_model(name)
        ready = self.model.ready
        return Reply(orjson.dumps({"name": name, "ready": ready}), 200 if ready else 503)

    async def v2_metadata(self, request: Request, receive: Receive, name: str) -> Reply:
        self._check_model(name)
        self.model.check_ready()
        from mlendpoints.runtime import openapi_model

        return Reply(orjson.dumps(openapi_model.v2_metadata(self.model.scorer, name)), 200)

    async def v2_infer(self, request: Request, receive: Receive, name: str) -> Reply:
        self._check_model(name)
        self.model.check_ready()
        tensors, request_id = v2.decode_request(request.json())
        item, rows = self.model.scorer.parse_v2(tensors, (name, request_id))
        reply: Reply = await self.scheduler.submit(item, rows, request.request_id)
        return reply


def create_app(settings: Settings | None = None, *, scorer: Scorer | None = None) -> Runtime:
    """The ASGI app for ``settings`` (default: from the environment)."""
    from mlendpoints.runtime import config

    return Runtime(settings or config.from_env(), scorer)
