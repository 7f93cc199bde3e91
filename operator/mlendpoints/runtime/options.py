"""The table of the scoring runtime's settings: field, environment variable, flag, parser and help.

:mod:`mlendpoints.runtime.config` builds :class:`~mlendpoints.runtime.config.Settings` from it,
both from the environment (what the operator's pod renderer sets) and from ``mlendpoints serve``
flags, so the two cannot drift apart; ``mlendpoints serve --help`` lists each variable next to
its flag.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mlendpoints.api import collector as dc
from mlendpoints.api import contract


def parse_bool(value: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case; empty is false); raises ValueError otherwise."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r} (use true/false)")


def optional_str(value: str) -> str | None:
    """The text, or None for an empty value."""
    return value or None


@dataclasses.dataclass(frozen=True)
class Option:
    """One setting: its field, environment variable, flag, parser and help text."""

    field: str
    env: str
    flag: str
    parse: Any
    help: str
    #: older/Azure names read when ``env`` is unset
    aliases: tuple[str, ...] = ()


OPTIONS: tuple[Option, ...] = (
    Option("model_dir", "AZUREML_MODEL_DIR", "--model-dir", optional_str, "model folder"),
    Option(
        "source_dir",
        "AZUREML_SOURCE_DIRECTORY",
        "--source-dir",
        optional_str,
        "code folder",
        aliases=("AML_APP_ROOT",),
    ),
    Option("entry_script", "AZUREML_ENTRY_SCRIPT", "--entry-script", optional_str, "scoring script"),
    Option("model_type", contract.ENV_MODEL_TYPE, "--model-type", str, "auto | mlflow | custom"),
    Option("model_name", contract.ENV_MODEL_NAME, "--model-name", str, "name on /v2/models/{name}"),
    Option("host", "MLENDPOINTS_HOST", "--host", str, "listen address"),
    Option("port", contract.ENV_PORT, "--port", int, "listen port", aliases=("SERVER_PORT",)),
    Option(
        "request_timeout_ms",
        contract.ENV_REQUEST_TIMEOUT_MS,
        "--request-timeout-ms",
        int,
        "scoring timeout -> 408",
    ),
    Option(
        "max_concurrent_requests",
        contract.ENV_MAX_CONCURRENT_REQUESTS,
        "--max-concurrent-requests",
        int,
        "run() calls in flight",
    ),
    Option(
        "max_queue_wait_ms",
        contract.ENV_MAX_QUEUE_WAIT_MS,
        "--max-queue-wait-ms",
        int,
        "queue wait -> 503",
    ),
    Option(
        "max_queue_size",
        "MLENDPOINTS_MAX_QUEUE_SIZE",
        "--max-queue-size",
        int,
        "waiting requests before 429 (0 = 2 x concurrency x 32)",
    ),
    Option(
        "auth_key_dir",
        contract.ENV_AUTH_KEY_DIR,
        "--auth-key-dir",
        optional_str,
        "folder with primaryKey/secondaryKey; unset = no auth",
    ),
    Option("max_body_bytes", "MLENDPOINTS_MAX_BODY_BYTES", "--max-body-bytes", int, "body limit -> 413"),
    Option("debug", "MLENDPOINTS_DEBUG", "--debug", parse_bool, "stack traces in 500 responses"),
    Option(
        "log_level",
        "MLENDPOINTS_LOG_LEVEL",
        "--log-level",
        str,
        "DEBUG, INFO, WARNING, ERROR",
        aliases=("AZUREML_LOG_LEVEL",),
    ),
    Option("access_log", "MLENDPOINTS_ACCESS_LOG", "--access-log", parse_bool, "log every request"),
    Option(
        "max_batch_size",
        "MLENDPOINTS_MAX_BATCH_SIZE",
        "--max-batch-size",
        int,
        "micro-batching: rows per predict (0/1 = off)",
    ),
    Option(
        "max_batch_latency_ms",
        "MLENDPOINTS_MAX_BATCH_LATENCY_MS",
        "--max-batch-latency-ms",
        float,
        "micro-batching: fill window",
    ),
    Option("raw_http", "MLENDPOINTS_RAW_HTTP", "--raw-http", parse_bool, "pass the request object to run()"),
    Option(
        "cancel_timed_out",
        "MLENDPOINTS_CANCEL_TIMED_OUT",
        "--cancel-timed-out",
        parse_bool,
        "interrupt timed-out run() calls",
    ),
    Option(
        "wedged_after_ms",
        "MLENDPOINTS_WEDGED_AFTER_MS",
        "--wedged-after-ms",
        int,
        "liveness fails when all slots are stuck this long",
    ),
    Option(
        "init_timeout_ms",
        "MLENDPOINTS_INIT_TIMEOUT_MS",
        "--init-timeout-ms",
        int,
        "liveness fails when loading takes longer (0 = never)",
    ),
    Option(
        "raw_json_strings",
        "MLENDPOINTS_RAW_JSON_STRINGS",
        "--raw-json-strings",
        parse_bool,
        "send a str result that is JSON text as is (default: as a JSON string, like Azure ML)",
    ),
    Option("service_name", "SERVICE_NAME", "--service-name", optional_str, "title of /swagger.json"),
    Option(
        "service_version", "SERVICE_VERSION", "--service-version", optional_str, "version of /swagger.json"
    ),
    Option("endpoint_name", dc.ENV_ENDPOINT, "--endpoint-name", str, "endpoint name (logs, collector)"),
    Option("deployment_name", dc.ENV_DEPLOYMENT, "--deployment-name", str, "deployment name"),
    Option("collector_enabled", dc.ENV_ENABLED, "--collect", parse_bool, "collect request/response payloads"),
    Option(
        "collector_sampling_rate",
        dc.ENV_SAMPLING_RATE,
        "--collect-sampling-rate",
        float,
        "fraction of scoring requests collected",
    ),
    Option(
        "collector_destination",
        dc.ENV_DESTINATION,
        "--collect-destination",
        optional_str,
        "fsspec URI for payload files (unset = stdout)",
    ),
    Option(
        "collector_collections",
        dc.ENV_COLLECTIONS,
        "--collect-collections",
        str,
        "model_inputs,model_outputs",
    ),
    Option(
        "collector_rolling_rate",
        dc.ENV_ROLLING_RATE,
        "--collect-rolling-rate",
        str,
        "new file at least every minute | hour | day",
    ),
    Option("collector_binary", dc.ENV_BINARY, "--collect-binary", str, "non-JSON bodies: reference | skip"),
    Option(
        "collector_queue_size",
        dc.ENV_QUEUE_SIZE,
        "--collect-queue-size",
        int,
        "records waiting for the writer before drops",
    ),
    Option(
        "collector_max_file_bytes",
        dc.ENV_MAX_FILE_BYTES,
        "--collect-max-file-bytes",
        int,
        "a payload file is closed at this size",
    ),
    Option(
        "max_header_bytes",
        "MLENDPOINTS_MAX_HEADER_BYTES",
        "--max-header-bytes",
        int,
        "request line + headers limit -> 431",
    ),
    Option("max_headers", "MLENDPOINTS_MAX_HEADERS", "--max-headers", int, "header field count limit -> 431"),
    Option(
        "header_timeout_ms",
        "MLENDPOINTS_HEADER_TIMEOUT_MS",
        "--header-timeout-ms",
        int,
        "time to receive a request head -> 408",
    ),
    Option(
        "keep_alive_ms",
        "MLENDPOINTS_KEEP_ALIVE_MS",
        "--keep-alive-ms",
        int,
        "idle connection lifetime; keep above the gateway's idle timeout",
    ),
    Option(
        "body_timeout_ms",
        "MLENDPOINTS_BODY_TIMEOUT_MS",
        "--body-timeout-ms",
        int,
        "idle time while reading a body -> 408",
    ),
    Option(
        "max_connections",
        "MLENDPOINTS_MAX_CONNECTIONS",
        "--max-connections",
        int,
        "open connections; more get 503",
    ),
    Option(
        "shutdown_drain_ms",
        "MLENDPOINTS_SHUTDOWN_DRAIN_MS",
        "--shutdown-drain-ms",
        int,
        "after SIGTERM, readiness fails but requests are served this long before the server closes",
    ),
)
#: Field name -> its option (error messages name the variable).
OPTION_BY_FIELD = {option.field: option for option in OPTIONS}
