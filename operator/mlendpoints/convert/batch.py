"""Azure ML batch endpoint / batch deployment YAML -> BatchEndpoint / BatchDeployment.

Model, code and environment are converted by :mod:`mlendpoints.convert.azure` (shared with
online deployments); this module maps the batch-only fields. Both of Azure's deployment shapes
are read: the current one (``settings:`` block, ``resources.instance_count``) and the older one
with the settings at the top level.
"""

from __future__ import annotations

from typing import Any

from mlendpoints.api.v1alpha1.base import API_VERSION
from mlendpoints.convert.common import Doc, camel

_SETTINGS = {
    "mini_batch_size",
    "max_concurrency_per_instance",
    "output_action",
    "output_file_name",
    "retry_settings",
    "error_threshold",
    "logging_level",
    "environment_variables",
}
#: Azure's output_action spellings -> ours
_OUTPUT_ACTIONS = {"append_row": "appendRow", "summary_only": "summaryOnly"}


def _meta(doc: Doc, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": doc.body.get("name")}
    if namespace:
        meta["namespace"] = namespace
    return meta


def endpoint(doc: Doc, namespace: str | None, warnings: list[str]) -> dict[str, Any]:
    """A BatchEndpoint manifest (not yet validated)."""
    body = doc.body
    spec: dict[str, Any] = {}
    default = (body.get("defaults") or {}).get("deployment_name")
    if default:
        spec["defaults"] = {"deploymentName": default}
    if body.get("description"):
        spec["description"] = body["description"]
    if body.get("tags"):
        spec["tags"] = {str(k): str(v) for k, v in body["tags"].items()}
    for key in sorted(set(body) - {"$schema", "name", "defaults", "description", "tags"}):
        why = (
            "batch jobs are started with the endpoint's key or kubectl"
            if key == "auth_mode"
            else "no counterpart"
        )
        warnings.append(f"{doc.where}: {key}: ignored ({why})")
    return {
        "apiVersion": API_VERSION,
        "kind": "BatchEndpoint",
        "metadata": _meta(doc, namespace),
        "spec": spec,
    }


def _settings(doc: Doc, raw: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _SETTINGS:
            warnings.append(f"{doc.where}: settings.{key}: ignored (no counterpart)")
            continue
        if key == "output_action":
            value = _OUTPUT_ACTIONS.get(str(value).lower(), value)
        elif key == "retry_settings":
            value = {camel(k): v for k, v in (value or {}).items()}
        elif key == "environment_variables":
            value = {str(k): str(v) for k, v in (value or {}).items()}
        elif key == "logging_level":
            value = str(value).lower()
        out[camel(key)] = value
    return out


def deployment(doc: Doc, namespace: str | None, warnings: list[str]) -> dict[str, Any]:
    """A BatchDeployment manifest without model/code/environment (the caller adds them)."""
    body = doc.body
    raw_settings = dict(body.get("settings") or {})
    raw_settings |= {k: body[k] for k in _SETTINGS if k in body}
    settings = _settings(doc, raw_settings, warnings)
    resources = dict(body.get("resources") or {})
    if "instance_count" in resources:
        settings["instanceCount"] = resources.pop("instance_count")
    spec: dict[str, Any] = {"endpointName": body.get("endpoint_name"), "settings": settings}
    if resources:
        spec["resources"] = resources
    compute = body.get("compute")
    if compute:
        warnings.append(
            f"{doc.where}: compute: {compute} ignored (Azure ML compute cluster; batch pods use "
            "instanceType/resources in this cluster)"
        )
    if body.get("instance_type"):
        spec["instanceType"] = str(body["instance_type"])
    if body.get("description"):
        spec["description"] = body["description"]
    if body.get("tags"):
        spec["tags"] = {str(k): str(v) for k, v in body["tags"].items()}
    handled = {"$schema", "name", "endpoint_name", "settings", "resources", "compute", "instance_type",
               "description", "tags", "model", "code_configuration", "environment", "type"} | _SETTINGS  # fmt: skip
    for key in sorted(set(body) - handled):
        warnings.append(f"{doc.where}: {key}: ignored (no counterpart)")
    if body.get("type") not in (None, "model"):
        warnings.append(f"{doc.where}: type: {body['type']} ignored (only model deployments are converted)")
    return {
        "apiVersion": API_VERSION,
        "kind": "BatchDeployment",
        "metadata": _meta(doc, namespace),
        "spec": spec,
    }
