"""Azure ML CLI v2 YAML (``$schema: https://azuremlschemas.azureedge.net/...``) -> mlendpoints manifests.

Called by ``mlendpoints convert`` and by ``create``/``update -f`` of the az-ml-style verbs. Pure:
it reads the YAML's local files (conda files, code folders) but talks to no cluster; uploads it
needs are returned as :class:`~mlendpoints.convert.local.Upload` s for the caller to perform.

Each Azure field is either mapped (snake_case -> camelCase, Azure's enum spellings -> ours), or
listed in :attr:`Result.warnings` as ignored with the reason, or, when ignoring it would change
what is served (a registered ``azureml:`` model, an image build), a :class:`ConvertError` naming
the file and the field. The manifests are validated with the operator's own models.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from mlendpoints.api import errors
from mlendpoints.api.v1alpha1 import BatchDeployment, BatchEndpoint, OnlineDeployment, OnlineEndpoint
from mlendpoints.api.v1alpha1.base import API_VERSION
from mlendpoints.convert import assets, batch
from mlendpoints.convert.common import ConvertError, Doc, Options, Result, camel, take

SCHEMA_HOST = "azuremlschemas.azureedge.net"
#: $schema file name -> our kind
SCHEMAS = {
    "managedonlineendpoint": "OnlineEndpoint",
    "kubernetesonlineendpoint": "OnlineEndpoint",
    "managedonlinedeployment": "OnlineDeployment",
    "kubernetesonlinedeployment": "OnlineDeployment",
    "batchendpoint": "BatchEndpoint",
    "batchdeployment": "BatchDeployment",
    "modelbatchdeployment": "BatchDeployment",
}
_PROBE = {"initial_delay", "period", "timeout", "success_threshold", "failure_threshold"}
_REQUEST = {"request_timeout_ms", "max_concurrent_requests_per_instance", "max_queue_wait_ms"}
_SCALE = {"type", "min_instances", "max_instances", "polling_interval", "target_utilization_percentage"}


def is_azure(doc: dict[str, Any]) -> bool:
    """Whether a YAML document is Azure ML CLI YAML rather than a Kubernetes object."""
    return SCHEMA_HOST in str(doc.get("$schema", "")) or ("kind" not in doc and "apiVersion" not in doc)


def kind_of(doc: Doc) -> str:
    """Our kind for an Azure document: from its ``$schema``, else from its shape.

    Raises:
        ConvertError: a ``$schema`` we do not convert (jobs, components, pipelines...).
    """
    schema = str(doc.body.get("$schema", ""))
    if schema:
        stem = schema.rstrip("/").rsplit("/", 1)[-1].removesuffix(".schema.json").lower()
        if stem in SCHEMAS:
            return SCHEMAS[stem]
        raise ConvertError(
            f"{doc.where}: $schema {schema} is not an online/batch endpoint or deployment "
            f"(convert reads {', '.join(sorted({s + '.schema.json' for s in SCHEMAS}))})"
        )
    body = doc.body
    batchy = bool({"settings", "mini_batch_size", "output_action", "defaults"} & set(body))
    if "endpoint_name" in body:
        return "BatchDeployment" if batchy else "OnlineDeployment"
    return "BatchEndpoint" if batchy else "OnlineEndpoint"


def _meta(doc: Doc, opts: Options) -> dict[str, Any]:
    name = doc.body.get("name")
    if not isinstance(name, str) or not name:
        raise ConvertError(f"{doc.where}: name: required")
    meta: dict[str, Any] = {"name": name}
    if opts.namespace:
        meta["namespace"] = opts.namespace
    return meta


def endpoint(doc: Doc, opts: Options, result: Result) -> dict[str, Any]:
    """An OnlineEndpoint from Azure's managed/Kubernetes online endpoint YAML."""
    body = dict(doc.body)
    meta = _meta(doc, opts)
    spec: dict[str, Any] = {}
    take(body, "$schema", "name")
    auth = take(body, "auth_mode").get("auth_mode")
    if auth is not None:
        auth = str(auth).lower()
        if opts.azureml is not None:
            auth = camel(auth)  # aml_token -> amlToken: Azure ML issues the tokens
        elif auth in ("aml_token", "aad_token"):
            result.warnings.append(
                f"{doc.where}: auth_mode: {auth} needs Azure ML's token service; converted to key "
                "(read the keys with `mlendpoints online-endpoint get-credentials`)"
            )
            auth = "key"
        spec["authMode"] = auth
    for src, dst in (
        ("traffic", "traffic"),
        ("mirror_traffic", "mirrorTraffic"),
        ("description", "description"),
    ):
        if src in body:
            spec[dst] = body.pop(src)
    if "tags" in body:
        spec["tags"] = {str(k): str(v) for k, v in (body.pop("tags") or {}).items()}
    if opts.azureml is not None:
        spec["target"], spec["azureml"] = "azureml", _azureml(body, opts.azureml)
    reasons = {
        "compute": "the endpoint runs in this cluster (Azure's attached Kubernetes compute has no counterpart)",
        "identity": "pods use their ServiceAccount, not an Azure managed identity",
        "public_network_access": "exposure is the Gateway's/Ingress's (spec.routing)",
        "kind": "the kind is decided by $schema",
    }
    _ignored(doc, body, reasons, result)
    if opts.gateway and opts.azureml is None:
        namespace, _, name = opts.gateway.rpartition("/")
        ref = {"name": name, "namespace": namespace} if namespace else {"name": name}
        spec["routing"] = {"type": "gatewayAPI", "parentRefs": [ref]}
    return _validated(
        doc, {"apiVersion": API_VERSION, "kind": "OnlineEndpoint", "metadata": meta, "spec": spec}
    )


def _azureml(body: dict[str, Any], workspace: dict[str, str]) -> dict[str, Any]:
    """``spec.azureml`` for target azureml: the workspace, plus the endpoint's compute and network access."""
    out: dict[str, Any] = dict(workspace)
    compute = take(body, "compute").get("compute")
    if compute:
        out["compute"] = str(compute).removeprefix("azureml:")
    access = take(body, "public_network_access").get("public_network_access")
    if access:
        out["publicNetworkAccess"] = str(access).lower()
    return out


def parse_workspace(value: str) -> dict[str, str]:
    """``SUBSCRIPTION_ID/RESOURCE_GROUP/WORKSPACE`` -> ``spec.azureml``'s workspace fields.

    Raises:
        ValueError: not three non-empty parts.
    """
    parts = value.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{value!r}: expected SUBSCRIPTION_ID/RESOURCE_GROUP/WORKSPACE")
    return {"subscriptionId": parts[0], "resourceGroup": parts[1], "workspaceName": parts[2]}


def _ignored(doc: Doc, body: dict[str, Any], reasons: dict[str, str], result: Result) -> None:
    for key in body:
        why = reasons.get(key, "no mlendpoints counterpart")
        result.warnings.append(f"{doc.where}: {key}: ignored ({why})")


def _validated(doc: Doc, obj: dict[str, Any]) -> dict[str, Any]:
    model = {
        "OnlineEndpoint": OnlineEndpoint,
        "OnlineDeployment": OnlineDeployment,
        "BatchEndpoint": BatchEndpoint,
        "BatchDeployment": BatchDeployment,
    }[obj["kind"]]
    try:
        model.model_validate(obj)
    except ValidationError as exc:
        raise ConvertError(
            f"{doc.where}: {obj['kind']} {obj['metadata']['name']}: {errors.validation_message(exc)}"
        ) from exc
    return obj


def deployment(doc: Doc, opts: Options, result: Result) -> dict[str, Any]:
    """An OnlineDeployment from Azure's managed/Kubernetes online deployment YAML."""
    body = dict(doc.body)
    meta = _meta(doc, opts)
    take(body, "$schema", "name")
    owner = f"OnlineDeployment {meta['name']}"
    spec: dict[str, Any] = {"endpointName": body.pop("endpoint_name", None)}
    if "model" in body:
        spec["model"] = assets.model_block(doc, body.pop("model"), owner, opts, result)
    if "code_configuration" in body:
        spec["codeConfiguration"] = assets.code_block(doc, body.pop("code_configuration"), opts, result)
    if "environment" in body:
        spec["environment"] = assets.environment_block(doc, body.pop("environment"), opts, result)
    if "instance_type" in body:
        spec["instanceType"] = assets.instance_type(doc, str(body.pop("instance_type")), opts, result)
    for src, keys, dst in (
        ("request_settings", _REQUEST, "requestSettings"),
        ("liveness_probe", _PROBE, "livenessProbe"),
        ("readiness_probe", _PROBE, "readinessProbe"),
        ("scale_settings", _SCALE, "scaleSettings"),
    ):
        if src in body:
            spec[dst] = _block(doc, src, body.pop(src) or {}, keys, result)
    if spec.get("scaleSettings", {}).get("type") == "target_utilization":
        spec["scaleSettings"]["type"] = "targetUtilization"
    for src, dst in (
        ("instance_count", "instanceCount"),
        ("resources", "resources"),
        ("app_insights_enabled", "appInsightsEnabled"),
        ("model_mount_path", "modelMountPath"),
        ("description", "description"),
    ):
        if src in body:
            spec[dst] = body.pop(src)
    for src, dst in (("environment_variables", "environmentVariables"), ("tags", "tags")):
        if src in body:
            spec[dst] = {str(k): str(v) for k, v in (body.pop(src) or {}).items()}
    if "data_collector" in body:
        spec["dataCollector"] = _data_collector(doc, body.pop("data_collector") or {}, result)
    reasons = {
        "egress_public_network_access": "egress is the cluster's NetworkPolicy",
        "private_network_connection": "egress is the cluster's NetworkPolicy",
        "type": "the kind is decided by $schema",
        "with_package": "models are downloaded at pod start, not packaged",
        "code_path": "use code_configuration.code",
    }
    _ignored(doc, body, reasons, result)
    return _validated(
        doc, {"apiVersion": API_VERSION, "kind": "OnlineDeployment", "metadata": meta, "spec": spec}
    )


def _block(doc: Doc, name: str, raw: dict[str, Any], keys: set[str], result: Result) -> dict[str, Any]:
    out = {}
    for k, v in raw.items():
        if k in keys:
            out[camel(k)] = v
        else:
            result.warnings.append(f"{doc.where}: {name}.{k}: ignored (no mlendpoints counterpart)")
    return out


def _data_collector(doc: Doc, raw: dict[str, Any], result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": True}
    if "sampling_rate" in raw:
        out["samplingRate"] = raw["sampling_rate"]
    if "rolling_rate" in raw:
        out["rollingRate"] = str(raw["rolling_rate"]).lower()
    cols: dict[str, Any] = {}
    for name, c in (raw.get("collections") or {}).items():
        if name in ("model_inputs", "model_outputs"):
            enabled = str((c or {}).get("enabled", "true")).lower() == "true"
            cols[camel(name)] = {"enabled": enabled}
        else:
            result.warnings.append(
                f"{doc.where}: data_collector.collections.{name}: ignored (custom collections)"
            )
    if cols:
        out["collections"] = cols
    for key in sorted(set(raw) - {"sampling_rate", "rolling_rate", "collections"}):
        result.warnings.append(f"{doc.where}: data_collector.{key}: ignored (set dataCollector.destination)")
    return out


def convert(docs: list[Doc], opts: Options) -> Result:
    """Convert Azure ML documents into mlendpoints manifests.

    Args:
        docs: the Azure documents, each with where it came from and the folder its paths are relative to.
        opts: see :class:`Options`.

    Returns:
        :class:`Result`: InstanceTypes, ConfigMaps, endpoints, deployments (in this order), warnings
        naming file and field, and the uploads local paths need.

    Raises:
        ConvertError: a document that cannot be converted (file and field in the message).
    """
    result = Result()
    converted: list[dict[str, Any]] = []
    for doc in docs:
        kind = kind_of(doc)
        if kind == "OnlineEndpoint":
            converted.append(endpoint(doc, opts, result))
        elif kind == "OnlineDeployment":
            converted.append(deployment(doc, opts, result))
        elif kind == "BatchEndpoint":
            converted.append(_validated(doc, batch.endpoint(doc, opts.namespace, result.warnings)))
        else:
            spec = batch.deployment(doc, opts.namespace, result.warnings)
            raw_model = doc.body.get("model")
            if raw_model is not None:
                owner = f"BatchDeployment {doc.body.get('name')}"
                spec["spec"]["model"] = assets.model_block(doc, raw_model, owner, opts, result)
            if doc.body.get("code_configuration") is not None:
                spec["spec"]["codeConfiguration"] = assets.code_block(
                    doc, doc.body["code_configuration"], opts, result
                )
            if doc.body.get("environment") is not None:
                spec["spec"]["environment"] = assets.environment_block(
                    doc, doc.body["environment"], opts, result
                )
            converted.append(_validated(doc, spec))
    order = {"OnlineEndpoint": 0, "BatchEndpoint": 0, "OnlineDeployment": 1, "BatchDeployment": 1}
    result.objects += sorted(converted, key=lambda o: order[o["kind"]])
    return result


__all__ = [
    "SCHEMAS",
    "Options",
    "Result",
    "convert",
    "deployment",
    "endpoint",
    "is_azure",
    "kind_of",
    "parse_workspace",
]
