"""A BatchDeployment's settings with a job's overrides, as a :class:`RunConfig` (local runs).

Field for field Azure ML's batch deployment settings: ``mini_batch_size``, ``instance_count``,
``max_concurrency_per_instance``, ``output_action``, ``output_file_name``,
``retry_settings.max_retries``/``timeout``, ``error_threshold``, ``logging_level``,
``environment_variables`` (the job's variables are merged over the deployment's).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlendpoints.api.v1alpha1.batch import BatchDeployment, BatchSettings, SettingsOverrides
from mlendpoints.batch.config import ConfigError, Input, RunConfig


class ManifestError(ValueError):
    """The manifest cannot be used; the message names the file and the field."""


def load_deployment(path: Path) -> BatchDeployment:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"{path}: {exc}") from None
    found = [d for d in docs if isinstance(d, dict) and d.get("kind") == "BatchDeployment"]
    if len(found) != 1:
        raise ManifestError(f"{path}: expected one BatchDeployment, found {len(found)}")
    try:
        return BatchDeployment.model_validate(found[0])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(f"{path}: {where}: {first['msg']}") from None


def _camel(key: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)


def parse_overrides(pairs: list[str]) -> SettingsOverrides:
    """``["miniBatchSize=5", "retry_settings.timeout=60", "environmentVariables.A=1"]`` -> overrides."""
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected key=value")
        parts = key.split(".")
        head = [_camel(p) for p in parts[:1]] + (
            parts[1:]
            if parts[0] in ("environmentVariables", "environment_variables")
            else [_camel(p) for p in parts[1:]]
        )
        node = data
        for part in head[:-1]:
            node = node.setdefault(part, {})
        node[head[-1]] = value
    try:
        return SettingsOverrides.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"--set {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def merge(dep: BatchDeployment, overrides: SettingsOverrides | None) -> BatchSettings:
    """The deployment's settings with the job's overrides applied (variables merged, job's win)."""
    base = dep.spec.settings
    if overrides is None:
        return base
    changes = {
        k: v for k, v in overrides.model_dump(exclude_none=True).items() if k != "environment_variables"
    }
    if "retry_settings" in overrides.model_fields_set and overrides.retry_settings is not None:
        changes["retry_settings"] = overrides.retry_settings
    merged = base.model_copy(update=changes)
    if overrides.environment_variables:
        merged = merged.model_copy(
            update={
                "environment_variables": {**base.environment_variables, **overrides.environment_variables}
            }
        )
    return merged


def local_source(uri: str, base: Path, scratch: Path, what: str) -> str:
    """A local folder for a model or code URI: local paths as they are, downloads fetched."""
    if uri.startswith(("pvc://", "oci://", "azureml:")):
        raise ConfigError(
            f"{what}: {uri} exists only in a cluster or workspace; pass a local copy "
            "(--model-dir / --code-dir)"
        )
    if "://" not in uri or uri.startswith("file://"):
        path = Path(uri[len("file://") :] if uri.startswith("file://") else uri)
        return str(path if path.is_absolute() else (base / path).resolve())
    from mlendpoints.storage.errors import FetchError
    from mlendpoints.storage.fetch import fetch

    try:
        fetch(uri, scratch)
    except FetchError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    return str(scratch)


def run_config(
    s: BatchSettings,
    *,
    inputs: tuple[Input, ...],
    output: str,
    model_dir: str | None,
    source_dir: str | None,
    entry_script: str | None,
    extra_env: bool,
) -> RunConfig:
    """Local runs: one process plays every index (``instance_count`` is reported, not parallel)."""
    return RunConfig(
        inputs=inputs,
        output=output,
        model_dir=model_dir,
        source_dir=source_dir,
        entry_script=entry_script,
        mini_batch_size=s.mini_batch_size,
        max_concurrency_per_instance=s.max_concurrency_per_instance,
        output_action=s.output_action.value,
        output_file_name=s.output_file_name,
        max_retries=s.retry_settings.max_retries,
        timeout=float(s.retry_settings.timeout),
        error_threshold=s.error_threshold,
        logging_level=s.logging_level.value,
        extra_env=dict(s.environment_variables) if extra_env else {},
    )
