"""Our resources (spec + status) -> azure-ai-ml entities, for ``get``, ``list`` and pollers' results.

The fields that have an Azure counterpart are filled in (the reverse of :mod:`mlendpoints.convert`);
``provisioning_state`` comes from the kstatus conditions (:func:`provisioning_state`), ``scoring_uri``
and ``openapi_uri`` from the status. A model is returned as a ``Model`` named
``<endpoint>-<deployment>-model``, version ``1``, whose ``path`` is the URI the pods load it from;
code in a ConfigMap as ``code: configmap:NAME``; so an entity from ``get`` can be changed and applied
again (:mod:`.entities` drops those generated names).
Online endpoints come back as ``ManagedOnlineEndpoint`` (there is no Azure compute to tell the
kinds apart); a deployment with ``resources`` as ``KubernetesOnlineDeployment``.
"""

from __future__ import annotations

from typing import Any

from azure.ai.ml import entities as e

from mlendpoints.azcli import cluster
from mlendpoints.convert.assets import CONFIGMAP_CODE

#: our model types -> Azure's
MODEL_TYPES = {"custom": "custom_model", "mlflow": "mlflow_model", "triton": "triton_model"}
#: our output actions -> Azure's
OUTPUT_ACTIONS = {"appendRow": "append_row", "summaryOnly": "summary_only"}


def provisioning_state(obj: dict[str, Any]) -> str:
    """Azure's provisioning state from kstatus: ``Deleting`` (deletionTimestamp), ``Succeeded`` (Ready
    for the current generation), ``Failed`` (Stalled), else ``Creating`` (generation 1) or ``Updating``."""
    if obj["metadata"].get("deletionTimestamp"):
        return "Deleting"
    state, _ = cluster.ready_state(obj)
    if state == "ready":
        return "Succeeded"
    if state == "stalled":
        return "Failed"
    return "Creating" if obj["metadata"].get("generation", 1) <= 1 else "Updating"


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _snaked(block: dict[str, Any] | None) -> dict[str, Any]:
    return {_snake(k): v for k, v in (block or {}).items()}


def online_endpoint(obj: dict[str, Any]) -> e.ManagedOnlineEndpoint:
    """An OnlineEndpoint -> ``ManagedOnlineEndpoint`` (traffic, auth mode, scoring URI, state)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return e.ManagedOnlineEndpoint(
        name=obj["metadata"]["name"],
        auth_mode=spec.get("authMode", "key"),
        description=spec.get("description"),
        tags=dict(spec.get("tags") or {}),
        traffic=dict(spec.get("traffic") or {}),
        mirror_traffic=dict(spec.get("mirrorTraffic") or {}),
        scoring_uri=status.get("scoringUri"),
        openapi_uri=status.get("swaggerUri"),
        provisioning_state=provisioning_state(obj),
    )


def _model(spec: dict[str, Any], endpoint: str, name: str) -> e.Model | None:
    model = spec.get("model")
    if not model:
        return None
    return e.Model(
        name=f"{endpoint}-{name}-model",
        version="1",
        path=model.get("path"),
        type=MODEL_TYPES.get(model.get("type", "custom"), "custom_model"),
    )


def _assets(spec: dict[str, Any], endpoint: str, name: str) -> dict[str, Any]:
    """model, code_configuration and environment arguments of a deployment entity."""
    out: dict[str, Any] = {"model": _model(spec, endpoint, name)}
    code = spec.get("codeConfiguration")
    if code:
        where = code.get("code") or f"{CONFIGMAP_CODE}{(code.get('configMap') or {}).get('name')}"
        out["code_configuration"] = e.CodeConfiguration(code=where, scoring_script=code.get("scoringScript"))
    env = spec.get("environment") or {}
    if env.get("image"):
        out["environment"] = e.Environment(name=f"{endpoint}-{name}-env", version="1", image=env["image"])
    return out


def online_deployment(obj: dict[str, Any]) -> e.OnlineDeployment:
    """An OnlineDeployment -> ``ManagedOnlineDeployment`` (``KubernetesOnlineDeployment`` with resources)."""
    spec = obj.get("spec") or {}
    name, endpoint = obj["metadata"]["name"], spec.get("endpointName", "")
    kwargs: dict[str, Any] = {
        "name": name,
        "endpoint_name": endpoint,
        "description": spec.get("description"),
        "tags": dict(spec.get("tags") or {}),
        "instance_type": spec.get("instanceType"),
        "instance_count": spec.get("instanceCount", 1),
        "environment_variables": dict(spec.get("environmentVariables") or {}),
        "provisioning_state": provisioning_state(obj),
        **_assets(spec, endpoint, name),
    }
    if spec.get("requestSettings"):
        kwargs["request_settings"] = e.OnlineRequestSettings(**_snaked(spec["requestSettings"]))
    for ours, theirs in (("livenessProbe", "liveness_probe"), ("readinessProbe", "readiness_probe")):
        if spec.get(ours):
            kwargs[theirs] = e.ProbeSettings(**_snaked(spec[ours]))
    resources = spec.get("resources")
    if resources:
        return e.KubernetesOnlineDeployment(
            resources=e.ResourceRequirementsSettings(
                requests=e.ResourceSettings(**(resources.get("requests") or {})),
                limits=e.ResourceSettings(**(resources.get("limits") or {})),
            ),
            **kwargs,
        )
    return e.ManagedOnlineDeployment(**kwargs)


def batch_endpoint(obj: dict[str, Any]) -> e.BatchEndpoint:
    """A BatchEndpoint -> ``BatchEndpoint`` (default deployment, state)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    default = (spec.get("defaults") or {}).get("deploymentName")
    return e.BatchEndpoint(
        name=obj["metadata"]["name"],
        description=spec.get("description"),
        tags=dict(spec.get("tags") or {}),
        defaults={"deployment_name": default} if default else None,
        scoring_uri=status.get("scoringUri"),
        provisioning_state=provisioning_state(obj),
    )


def batch_deployment(obj: dict[str, Any]) -> e.ModelBatchDeployment:
    """A BatchDeployment -> ``ModelBatchDeployment`` (settings, model, state)."""
    spec = obj.get("spec") or {}
    name, endpoint = obj["metadata"]["name"], spec.get("endpointName", "")
    settings = _snaked(spec.get("settings"))
    if "retry_settings" in settings:
        settings["retry_settings"] = e.BatchRetrySettings(**_snaked(settings["retry_settings"]))
    if "output_action" in settings:
        settings["output_action"] = OUTPUT_ACTIONS.get(settings["output_action"], settings["output_action"])
    settings.setdefault("mini_batch_size", 10)  # required by the SDK; our default (Azure's too)
    known = {"mini_batch_size", "instance_count", "max_concurrency_per_instance", "output_action",
             "output_file_name", "retry_settings", "environment_variables", "error_threshold", "logging_level"}  # fmt: skip
    return e.ModelBatchDeployment(
        name=name,
        endpoint_name=endpoint,
        description=spec.get("description"),
        tags=dict(spec.get("tags") or {}),
        settings=e.ModelBatchDeploymentSettings(**{k: v for k, v in settings.items() if k in known}),
        provisioning_state=provisioning_state(obj),
        **_assets(spec, endpoint, name),
    )


def batch_job(obj: dict[str, Any]) -> Any:
    """A BatchJob -> azure-ai-ml's ``BatchJob`` (what ``batch_endpoints.invoke`` returns): id, name, status (phase)."""
    from azure.ai.ml.entities._deployment.batch_job import BatchJob

    meta = obj["metadata"]
    return BatchJob(
        id=f"{meta.get('namespace')}/{meta['name']}",
        name=meta["name"],
        type="BatchJob",
        status=(obj.get("status") or {}).get("phase") or "Pending",
    )


def resource(kind: str, obj: dict[str, Any]) -> Any:
    """The entity for ``obj`` of our ``kind``."""
    return {
        "OnlineEndpoint": online_endpoint,
        "OnlineDeployment": online_deployment,
        "BatchEndpoint": batch_endpoint,
        "BatchDeployment": batch_deployment,
    }[kind](obj)
