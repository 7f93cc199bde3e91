"""Every setting of the scoring runtime, read from environment variables and ``mlendpoints serve`` flags.

The operator's pod renderer sets the environment variables; a person running ``mlendpoints serve``
locally uses the flags. A flag always wins over its variable. One table (:data:`OPTIONS`) drives
both, so the two can never drift apart, and ``mlendpoints serve --help`` lists the variable next to
each flag. The table lives in :mod:`mlendpoints.runtime.options`; ``config.OPTIONS`` is the same object.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from mlendpoints import azmlinfsrv
from mlendpoints.api import collector as dc
from mlendpoints.runtime.options import OPTION_BY_FIELD, OPTIONS, parse_bool

MiB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Settings:
    """The runtime's configuration; build it with :func:`from_env` or :func:`parse_args`."""

    #: folder holding the model files (``AZUREML_MODEL_DIR``); ``MLmodel`` here means an MLflow model
    model_dir: str | None = None
    #: folder holding the scoring code; the entry script is resolved relative to it
    source_dir: str | None = None
    #: the scoring script (``score.py``), relative to ``source_dir`` unless absolute
    entry_script: str | None = None
    #: ``auto`` (MLmodel present and no entry script -> mlflow), ``mlflow`` or ``custom``
    model_type: str = "auto"
    #: model name on the Open Inference Protocol routes (``/v2/models/{name}``)
    model_name: str = "model"
    host: str = "0.0.0.0"
    port: int = 5001
    #: longest a ``run``/``predict`` call may take before the client gets 408
    request_timeout_ms: int = 5000
    #: ``run``/``predict`` calls in flight at once (Azure: ``maxConcurrentRequestsPerInstance``)
    max_concurrent_requests: int = 1
    #: longest a request may wait for a free slot before it gets 503
    max_queue_wait_ms: int = 500
    #: requests allowed to wait at once; beyond it 429. 0 = 2 x max_concurrent_requests x 32
    max_queue_size: int = 0
    #: folder with ``primaryKey`` / ``secondaryKey`` files (the mounted Secret); unset = auth off
    auth_key_dir: str | None = None
    #: requests with a larger body get 413
    max_body_bytes: int = 100 * MiB
    #: send stack traces to clients on 500 (never in production)
    debug: bool = False
    log_level: str = "INFO"
    #: one JSON log line per request (off by default: it costs ~10% throughput)
    access_log: bool = False
    #: micro-batching: most rows merged into one predict call; 0 or 1 = off
    max_batch_size: int = 0
    #: micro-batching: longest a request is held back waiting for others to fill its batch
    max_batch_latency_ms: float = 0.0
    #: hand ``run`` the raw request object (binary payloads), like Azure's ``@rawhttp``
    raw_http: bool = False
    #: interrupt a timed-out ``run`` with an asynchronous exception (pure-Python code only)
    cancel_timed_out: bool = True
    #: liveness fails once every slot has been held this long by timed-out calls (0 = never)
    wedged_after_ms: int = 60_000
    #: liveness fails when init()/model load has not finished after this long (0 = never)
    init_timeout_ms: int = 0
    #: a ``str`` that ``run()`` returns and that is JSON text is sent as is (Azure ML, the default,
    #: sends every ``str`` as a JSON string)
    raw_json_strings: bool = False
    #: ``/swagger.json`` title and version (Azure's ``SERVICE_NAME`` / ``SERVICE_VERSION``)
    service_name: str | None = None
    service_version: str | None = None
    #: azureml-inference-server-http settings found in the environment that have no effect here
    ignored_azure_settings: tuple[str, ...] = ()
    #: names of the endpoint and deployment (set by the operator; the collector records them)
    endpoint_name: str = ""
    deployment_name: str = ""
    #: payload collection (``spec.dataCollector``; see ``runtime/collector.py``)
    collector_enabled: bool = False
    #: fraction of scoring requests collected
    collector_sampling_rate: float = 1.0
    #: fsspec URI (``file://``, ``az://``, ``s3://``...); unset = JSON lines on stdout
    collector_destination: str | None = None
    #: comma-separated collections: ``model_inputs``, ``model_outputs``
    collector_collections: str = ",".join(dc.COLLECTIONS)
    #: a new file at least this often: ``minute``, ``hour`` or ``day``
    collector_rolling_rate: str = dc.DEFAULT_ROLLING_RATE
    #: non-JSON bodies: ``reference`` (side file) or ``skip``
    collector_binary: str = "reference"
    #: records waiting for the writer; beyond it records are dropped (and counted)
    collector_queue_size: int = 10_000
    #: a file is closed once it holds this many bytes
    collector_max_file_bytes: int = 16 * MiB
    #: request line plus headers larger than this get 431 (checked before auth, as bytes arrive)
    max_header_bytes: int = 32 * 1024
    #: requests with more header fields get 431
    max_headers: int = 100
    #: a request head not complete this long after its first byte gets 408
    header_timeout_ms: int = 10_000
    #: a connection with no request in progress (before its first one or between two) is closed
    #: after this long idle; keep it above the idle timeout of the gateway in front (see
    #: docs/online-endpoints.md), so the gateway always closes first and never reuses a connection
    #: the runtime is closing (Google Cloud's 620 s advice; above Traefik's 90 s, NGINX's and ALB's 60 s)
    keep_alive_ms: int = 620_000
    #: a request body with no new bytes for this long gets 408
    body_timeout_ms: int = 30_000
    #: open connections per process; more are answered 503 and closed
    max_connections: int = 1024
    #: on SIGTERM: answer readiness 503 but keep serving this long before closing (load balancers
    #: and gateways stop sending first, so no request is refused); 0 = close at once
    shutdown_drain_ms: int = 5000

    @property
    def queue_size(self) -> int:
        """The effective queue bound (see ``max_queue_size``)."""
        if self.max_queue_size > 0:
            return self.max_queue_size
        return 2 * max(1, self.max_concurrent_requests) * 32

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 1

    def validate(self) -> Settings:
        """Reject impossible values early, with the setting's name in the message."""
        if self.model_type not in {"auto", "mlflow", "custom"}:
            raise ValueError(
                f"MLENDPOINTS_MODEL_TYPE must be auto, mlflow or custom, not {self.model_type!r}"
            )
        positive = (
            "request_timeout_ms",
            "max_concurrent_requests",
            "max_body_bytes",
            "max_header_bytes",
            "max_headers",
            "header_timeout_ms",
            "keep_alive_ms",
            "body_timeout_ms",
            "max_connections",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{OPTION_BY_FIELD[name].env} must be > 0")
        for name in (
            "max_queue_wait_ms",
            "max_queue_size",
            "max_batch_size",
            "wedged_after_ms",
            "init_timeout_ms",
            "shutdown_drain_ms",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{OPTION_BY_FIELD[name].env} must be >= 0")
        if self.max_batch_latency_ms < 0:
            raise ValueError("MLENDPOINTS_MAX_BATCH_LATENCY_MS must be >= 0")
        if self.batching and self.max_batch_latency_ms >= self.max_queue_wait_ms:
            raise ValueError(
                "MLENDPOINTS_MAX_BATCH_LATENCY_MS must be below MLENDPOINTS_MAX_QUEUE_WAIT_MS "
                "(time spent filling a batch counts as queue wait)"
            )
        self._validate_collector()
        if not 0 < self.port < 65536:
            raise ValueError("MLENDPOINTS_PORT must be a TCP port")
        return self

    def _validate_collector(self) -> None:
        if not 0.0 <= self.collector_sampling_rate <= 1.0:
            raise ValueError(f"{dc.ENV_SAMPLING_RATE} must be between 0 and 1")
        unknown = set(self.collections) - set(dc.COLLECTIONS)
        if unknown:
            raise ValueError(
                f"{dc.ENV_COLLECTIONS}: unknown {sorted(unknown)}; use {', '.join(dc.COLLECTIONS)}"
            )
        if self.collector_rolling_rate not in dc.ROLLING_RATES:
            raise ValueError(f"{dc.ENV_ROLLING_RATE} must be one of {', '.join(dc.ROLLING_RATES)}")
        if self.collector_binary not in dc.BINARY_MODES:
            raise ValueError(f"{dc.ENV_BINARY} must be one of {', '.join(dc.BINARY_MODES)}")
        if self.collector_queue_size <= 0 or self.collector_max_file_bytes <= 0:
            raise ValueError(f"{dc.ENV_QUEUE_SIZE} and {dc.ENV_MAX_FILE_BYTES} must be > 0")

    @property
    def collections(self) -> tuple[str, ...]:
        """The enabled payload collections, in :data:`dc.COLLECTIONS` order."""
        return tuple(c.strip() for c in self.collector_collections.split(",") if c.strip())


def from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from environment variables, then apply ``overrides`` (by field name).

    Raises:
        ValueError: a variable cannot be parsed or a value is out of range; the message names it.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for option in OPTIONS:
        for name in (option.env, *option.aliases):
            raw = env.get(name)
            if raw is not None and raw != "":
                try:
                    values[option.field] = option.parse(raw)
                except ValueError as exc:
                    raise ValueError(f"{name}={raw!r}: {exc}") from None
                break
    values.update(_azure_server_settings(env, values))
    values.update(overrides)
    return Settings(**values).validate()


def _int_env(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: not an integer") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r}: must be > 0")
    return value


def _azure_server_settings(env: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, Any]:
    """What azureml-inference-server-http's own variables mean here (see ``mlendpoints.azmlinfsrv``).

    ``WORKER_COUNT`` sets the run() calls in flight; ``SCORING_TIMEOUT_MS`` lowers the scoring
    timeout (the smaller of it and ``MLENDPOINTS_REQUEST_TIMEOUT_MS`` applies, as on Azure where
    the front end's and the server's timeouts both run); ``WORKER_TIMEOUT`` (seconds) is how long
    stuck calls may hold every slot before liveness fails, unless ``MLENDPOINTS_WEDGED_AFTER_MS``
    is set. The ignored ones are listed for the start-up warning.
    """
    out: dict[str, Any] = {}
    workers = _int_env(env, "WORKER_COUNT")
    if workers is not None:
        out["max_concurrent_requests"] = workers
    timeout = _int_env(env, "SCORING_TIMEOUT_MS")
    if timeout is not None:
        out["request_timeout_ms"] = min(timeout, values.get("request_timeout_ms", timeout))
    worker_timeout = _int_env(env, "WORKER_TIMEOUT")
    if worker_timeout is not None and "wedged_after_ms" not in values:
        out["wedged_after_ms"] = worker_timeout * 1000
    ignored = azmlinfsrv.ignored(env)
    if "SERVER_PORT" in env and not env.get("MLENDPOINTS_PORT"):
        ignored = [i for i in ignored if not i.startswith("SERVER_PORT ")]  # the port alias applied
    out["ignored_azure_settings"] = tuple(ignored)
    return out


def build_parser(prog: str = "mlendpoints serve") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve one model (Azure ML scoring script or MLflow model) over HTTP.",
        epilog="Every flag has an environment variable (shown in brackets); the flag wins.",
    )
    for option in OPTIONS:
        default = getattr(Settings(), option.field)
        parser.add_argument(
            option.flag,
            dest=option.field,
            type=option.parse,
            default=None,
            metavar=option.field.upper() if option.parse is not parse_bool else "BOOL",
            help=f"{option.help} [{option.env}; default {default!r}]",
        )
    return parser


def parse_args(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Flags over environment variables over defaults."""
    namespace = build_parser().parse_args(list(argv))
    flags = {key: value for key, value in vars(namespace).items() if value is not None}
    return from_env(environ, **flags)


__all__ = ["OPTIONS", "MiB", "Settings", "build_parser", "from_env", "parse_args"]
