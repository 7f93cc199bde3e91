"""The runner's settings: from the pod's environment (:func:`from_env`) or given directly (local runs).

Names and defaults are Azure ML's batch deployment settings (``mini_batch_size``,
``max_concurrency_per_instance``, ``output_action``, ``output_file_name``,
``retry_settings.max_retries``/``timeout``, ``error_threshold``, ``logging_level``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlendpoints.batch import contract

APPEND_ROW = "appendRow"
SUMMARY_ONLY = "summaryOnly"
LEVELS = ("debug", "info", "warning", "error")


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable or field."""


@dataclass(frozen=True)
class Input:
    name: str
    path: str
    """A local path or an fsspec URI."""
    type: str = "uri_folder"
    """``uri_folder`` (every file below, recursively) or ``uri_file`` (that one file)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything one runner process needs. Times are seconds."""

    inputs: tuple[Input, ...]
    output: str
    model_dir: str | None = None
    source_dir: str | None = None
    entry_script: str | None = None
    """Scoring script relative to ``source_dir``; None: an MLflow model scored without a script."""
    mini_batch_size: int = 10
    max_concurrency_per_instance: int = 1
    output_action: str = APPEND_ROW
    output_file_name: str = "predictions.csv"
    max_retries: int = 3
    timeout: float = 30.0
    error_threshold: int = -1
    logging_level: str = "info"
    instance_count: int = 1
    """Indexes of the Job (``completions``); each takes its share of the mini-batches."""
    index: int = 0
    """This process's index (``JOB_COMPLETION_INDEX``)."""
    job_name: str = "local"
    termination_log: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    """Variables for the workers (``environment_variables``); the pod gets them from Kubernetes."""

    def item_name(self, input_index: int, rel: str) -> str:
        """How logs and records name a listed file: its path below the input, prefixed by the
        input's name when there are several inputs."""
        return rel if len(self.inputs) == 1 else f"{self.inputs[input_index].name}/{rel}"

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ConfigError("no inputs")
        checks = [
            (self.mini_batch_size >= 1, "mini_batch_size must be >= 1"),
            (self.max_concurrency_per_instance >= 1, "max_concurrency_per_instance must be >= 1"),
            (self.output_action in (APPEND_ROW, SUMMARY_ONLY), "output_action: appendRow or summaryOnly"),
            (self.max_retries >= 0, "retry_settings.max_retries must be >= 0"),
            (self.timeout > 0, "retry_settings.timeout must be > 0"),
            (self.error_threshold >= -1, "error_threshold must be >= -1"),
            (self.logging_level in LEVELS, f"logging_level: one of {', '.join(LEVELS)}"),
            (0 <= self.index < self.instance_count, "JOB_COMPLETION_INDEX outside 0..instance_count-1"),
            ("/" not in self.output_file_name, "output_file_name may not contain '/'"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}: not an integer: {raw!r}") from None


def parse_inputs(raw: str) -> tuple[Input, ...]:
    """``{"name": {"type": ..., "path": ...}}`` (JSON) -> inputs in name order."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{contract.INPUTS}: not JSON: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{contract.INPUTS}: expected a non-empty JSON object")
    out = []
    for name in sorted(data):
        value = data[name]
        if not isinstance(value, dict) or not isinstance(value.get("path"), str):
            raise ConfigError(f"{contract.INPUTS}: input {name!r} needs a path")
        kind = value.get("type", "uri_folder")
        if kind not in ("uri_folder", "uri_file"):
            raise ConfigError(f"{contract.INPUTS}: input {name!r}: type must be uri_folder or uri_file")
        out.append(Input(name, value["path"], kind))
    return tuple(out)


def from_env(env: Mapping[str, str] | None = None) -> RunConfig:
    """The configuration the operator's Job renderer wrote into the pod's environment.

    Raises:
        ConfigError: a variable is missing or invalid (named in the message).
    """
    env = os.environ if env is None else env
    for required in (contract.INPUTS, contract.OUTPUT):
        if not env.get(required):
            raise ConfigError(f"{required} is not set")
    return RunConfig(
        inputs=parse_inputs(env[contract.INPUTS]),
        output=env[contract.OUTPUT],
        model_dir=env.get(contract.MODEL_DIR) or None,
        source_dir=env.get(contract.SOURCE_DIR) or None,
        entry_script=env.get(contract.ENTRY_SCRIPT) or None,
        mini_batch_size=_int(env, contract.MINI_BATCH_SIZE, 10),
        max_concurrency_per_instance=_int(env, contract.MAX_CONCURRENCY, 1),
        output_action=env.get(contract.OUTPUT_ACTION) or APPEND_ROW,
        output_file_name=env.get(contract.OUTPUT_FILE_NAME) or "predictions.csv",
        max_retries=_int(env, contract.MAX_RETRIES, 3),
        timeout=float(_int(env, contract.TIMEOUT, 30)),
        error_threshold=_int(env, contract.ERROR_THRESHOLD, -1),
        logging_level=(env.get(contract.LOGGING_LEVEL) or "info").lower(),
        instance_count=_int(env, contract.INSTANCE_COUNT, 1),
        index=_int(env, contract.JOB_INDEX, 0),
        job_name=env.get(contract.JOB_NAME) or "batch",
        termination_log=env.get(contract.TERMINATION_LOG) or None,
    )
