"""Custom resources -> Azure ML resource descriptions (pure; every field documented in docs/azureml.md).

The output is a plain, JSON-able dict per Azure resource (keys are azure-ai-ml constructor
arguments, values plain data); :mod:`mlendpoints.clients.azureml` turns it into SDK entities. The
same dict is hashed (:func:`spec_hash`) and the hash kept in status as ``appliedSpecHash``: drift
is decided from it, never from the SDK's read-back (which loses sub-second request timings, fills
in service defaults and lower-cases names; guide §3.4).

Fields that only make sense in a Kubernetes cluster are either *rejected* (:class:`Unsupported`:
the resource is Stalled/InvalidSpec naming the field) when ignoring them would change behaviour,
or *ignored* and named in ``notes`` (shown in the Ready condition's message).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlendpoints.api.v1alpha1 import (
    BatchDeployment,
    BatchEndpoint,
    BatchJob,
    OnlineDeployment,
    OnlineEndpoint,
)
from mlendpoints.api.v1alpha1.common import CodeConfiguration, EnvironmentSpec, ModelSpec
from mlendpoints.api.v1alpha1.online import ScaleSettings

AUTH_MODES = {"key": "key", "amlToken": "aml_token", "aadToken": "aad_token"}
#: References Azure ML resolves without uploading anything (guide §3.5, §10 items 7-9).
ASSET_REF = re.compile(r"^(azureml:[^/]+:[^:]+|azureml://registries/.+|/subscriptions/.+)$", re.I)
ENV_REF = re.compile(r"^(azureml:.+|/subscriptions/.+)$", re.I)
DEFAULT_MODEL_MOUNT = "/var/azureml-app/azureml-models"


class Unsupported(ValueError):
    """The spec uses something Azure ML cannot do; the message names the field."""


@dataclass
class Mapped:
    """One Azure resource to create or update, and the fields that were ignored."""

    spec: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def hash(self) -> str:
        return spec_hash(self.spec)


def spec_hash(spec: dict[str, Any]) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON of ``spec``."""
    canon = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def _asset(value: str, where: str) -> str:
    if not ASSET_REF.match(value):
        raise Unsupported(
            f"{where}: {value!r} is not an Azure ML asset reference; target azureml needs a registered "
            "asset (azureml:<name>:<version>, azureml://registries/..., or an ARM id): the operator "
            "does not upload local or cluster data"
        )
    return value


def _model(model: ModelSpec | None, notes: list[str], where: str) -> str | None:
    if model is None:
        return None
    if model.credentials_secret_ref is not None:
        notes.append(f"{where}.credentialsSecretRef (Azure ML reads registered models itself)")
    return _asset(model.path, f"{where}.path")


def _environment(env: EnvironmentSpec, *, required: bool) -> dict[str, Any] | str | None:
    """An environment reference, or an anonymous environment (image + conda + inference routes)."""
    if env.image and ENV_REF.match(env.image):
        if env.conda_file or env.pip_requirements or env.inference_config:
            raise Unsupported(
                "environment: a registered environment (azureml:...) takes no condaFile, "
                "pipRequirements or inferenceConfig"
            )
        return env.image
    if not env.image:
        if required or env.conda_file or env.pip_requirements or env.inference_config:
            raise Unsupported(
                "environment.image: required for target azureml (an image, or azureml:<environment>:<version>); "
                "the operator's own runtime image is not used on Azure ML"
            )
        return None
    out: dict[str, Any] = {"image": env.image}
    conda: dict[str, Any] | None = None
    if env.conda_file:
        loaded = yaml.safe_load(env.conda_file)
        if not isinstance(loaded, dict):
            raise Unsupported("environment.condaFile: not a conda YAML mapping")
        conda = loaded
    if env.pip_requirements:
        conda = conda or {"name": "mlendpoints", "channels": ["conda-forge"], "dependencies": ["pip"]}
        deps = conda.setdefault("dependencies", [])
        pip = next((d for d in deps if isinstance(d, dict) and "pip" in d), None)
        if pip is None:
            pip = {"pip": []}
            deps.append(pip)
        pip["pip"] = [*pip["pip"], *env.pip_requirements]
    if conda is not None:
        out["conda_file"] = conda
    if env.inference_config is not None:
        ic = env.inference_config
        out["inference_config"] = {
            "liveness_route": ic.liveness_route.to_dict(),
            "readiness_route": ic.readiness_route.to_dict(),
            "scoring_route": ic.scoring_route.to_dict(),
        }
    return out


def online_endpoint(ep: OnlineEndpoint, *, traffic: dict[str, int], mirror: dict[str, int]) -> Mapped:
    """``ManagedOnlineEndpoint`` (or ``KubernetesOnlineEndpoint`` with ``azureml.compute``) arguments.

    ``traffic``/``mirror`` are what to send now (the reconciler gates spec.traffic on the named
    deployments having Succeeded). Raises Unsupported for authMode none.
    """
    spec, notes = ep.spec, []
    assert spec.azureml is not None
    if spec.auth_mode.value not in AUTH_MODES:
        raise Unsupported("authMode: none is not available on Azure ML (use key, amlToken or aadToken)")
    if spec.routing.to_dict() != {"type": "auto", "parentRefs": []}:
        notes.append("spec.routing (Azure ML serves its own scoring URI)")
    out: dict[str, Any] = {
        "kind": "kubernetes" if spec.azureml.compute else "managed",
        "name": ep.metadata.name,
        "auth_mode": AUTH_MODES[spec.auth_mode.value],
        "description": spec.description,
        "tags": dict(spec.tags),
        "traffic": {k: v for k, v in traffic.items() if v},
        "mirror_traffic": {k: v for k, v in mirror.items() if v},
    }
    if spec.azureml.compute:
        out["compute"] = spec.azureml.compute
        if spec.azureml.public_network_access:
            notes.append("spec.azureml.publicNetworkAccess (managed endpoints only)")
    elif spec.azureml.public_network_access:
        out["public_network_access"] = spec.azureml.public_network_access
    return Mapped(out, notes)


def _code(configuration: CodeConfiguration | None) -> dict[str, Any] | None:
    """``CodeConfiguration`` arguments: a registered code asset and the scoring script.

    Raises:
        Unsupported: the code is a ConfigMap (Azure ML has none).
    """
    if configuration is None:
        return None
    if configuration.config_map is not None:
        raise Unsupported(
            "codeConfiguration.configMap: not available on Azure ML; register the code "
            "and use codeConfiguration.code: azureml:<code>:<version>"
        )
    return {
        "code": _asset(configuration.code or "", "codeConfiguration.code"),
        "scoring_script": configuration.scoring_script,
    }


def _scale(scale: ScaleSettings, *, kubernetes: bool, notes: list[str]) -> dict[str, Any]:
    """``scale_settings`` arguments; appends to ``notes`` what Azure ML ignores.

    Raises:
        Unsupported: targetUtilization on a managed (not Kubernetes-attached) deployment.
    """
    if scale.type.value == "targetUtilization":
        if not kubernetes:
            raise Unsupported(
                "scaleSettings.type: managed online deployments support only default "
                "(fixed instanceCount); autoscale them with Azure Monitor"
            )
        scale_out: dict[str, Any] = {
            "type": "target_utilization",
            "min_instances": scale.min_instances,
            "max_instances": scale.max_instances,
            "polling_interval": scale.polling_interval,
            "target_utilization_percentage": scale.target_utilization_percentage,
        }
        if scale.behavior is not None:
            notes.append("scaleSettings.behavior (HorizontalPodAutoscaler only)")
        return scale_out
    return {"type": "default"}


def online_deployment(dep: OnlineDeployment, endpoint: OnlineEndpoint) -> Mapped:
    """``ManagedOnlineDeployment`` / ``KubernetesOnlineDeployment`` arguments."""
    spec = dep.spec
    notes: list[str] = []
    assert endpoint.spec.azureml is not None
    kubernetes = bool(endpoint.spec.azureml.compute)
    code = _code(spec.code_configuration)
    scale_out = _scale(spec.scale_settings, kubernetes=kubernetes, notes=notes)
    if not spec.instance_type:
        raise Unsupported(
            "instanceType: required for target azureml (an Azure VM size such as "
            "Standard_DS3_v2, or the attached compute's instance type)"
        )
    out: dict[str, Any] = {
        "kind": "kubernetes" if kubernetes else "managed",
        "name": dep.metadata.name,
        "endpoint_name": spec.endpoint_name,
        "model": _model(spec.model, notes, "model"),
        "code_configuration": code,
        "environment": _environment(
            spec.environment, required=spec.model is None or spec.model.type != "mlflow"
        ),
        "instance_type": spec.instance_type,
        "instance_count": spec.instance_count,
        "scale_settings": scale_out,
        "request_settings": spec.request_settings.model_dump(),
        "liveness_probe": spec.liveness_probe.model_dump(),
        "readiness_probe": spec.readiness_probe.model_dump(),
        "environment_variables": dict(spec.environment_variables),
        "app_insights_enabled": spec.app_insights_enabled,
        "description": spec.description,
        "tags": dict(spec.tags),
    }
    if spec.model_mount_path != DEFAULT_MODEL_MOUNT:
        out["model_mount_path"] = spec.model_mount_path
    if spec.resources is not None:
        if kubernetes:
            out["resources"] = spec.resources.model_dump(by_alias=False, exclude_none=True)
        else:
            notes.append("resources (managed deployments get the resources of instanceType)")
    if spec.data_collector is not None and spec.data_collector.enabled:
        if spec.data_collector.destination:
            notes.append("dataCollector.destination (Azure ML writes to the workspace blob store)")
        out["data_collector"] = {"sampling_rate": spec.data_collector.sampling_rate}
    return Mapped(out, notes)


def batch_endpoint(ep: BatchEndpoint, *, default_deployment: str | None) -> Mapped:
    """``BatchEndpoint`` arguments (auth is always aadToken on Azure ML batch endpoints)."""
    spec = ep.spec
    out: dict[str, Any] = {
        "name": ep.metadata.name,
        "description": spec.description,
        "tags": dict(spec.tags),
        "default_deployment_name": default_deployment,
    }
    return Mapped(out, [])


def batch_deployment(dep: BatchDeployment) -> Mapped:
    """``ModelBatchDeployment`` + ``ModelBatchDeploymentSettings`` arguments."""
    spec, notes = dep.spec, []
    if not spec.compute:
        raise Unsupported("compute: required for target azureml (the name of an Azure ML compute cluster)")
    if spec.resources is not None:
        notes.append("resources (the compute cluster's VM size decides)")
    if spec.egress is not None and spec.egress.enabled:
        notes.append("egress (a Kubernetes NetworkPolicy; the compute cluster's network decides)")
    code = None
    if spec.code_configuration is not None:
        if spec.code_configuration.config_map is not None:
            raise Unsupported(
                "codeConfiguration.configMap: not available on Azure ML; use codeConfiguration.code"
            )
        code = {
            "code": _asset(spec.code_configuration.code or "", "codeConfiguration.code"),
            "scoring_script": spec.code_configuration.scoring_script,
        }
    s = spec.settings
    summary = s.output_action.value == "summaryOnly"
    if summary and s.output_file_name != "predictions.csv":
        notes.append("settings.outputFileName (not used with outputAction summaryOnly)")
    out: dict[str, Any] = {
        "name": dep.metadata.name,
        "endpoint_name": spec.endpoint_name,
        "model": _model(spec.model, notes, "model"),
        "code_configuration": code,
        "environment": _environment(spec.environment, required=spec.model.type != "mlflow"),
        "compute": spec.compute,
        "instance_type": spec.instance_type,
        "settings": {
            "mini_batch_size": s.mini_batch_size,
            "instance_count": s.instance_count,
            "max_concurrency_per_instance": s.max_concurrency_per_instance,
            "output_action": "summary_only" if summary else "append_row",
            "output_file_name": None if summary else s.output_file_name,
            "retry_settings": {
                "max_retries": s.retry_settings.max_retries,
                "timeout": s.retry_settings.timeout,
            },
            "error_threshold": s.error_threshold,
            "logging_level": s.logging_level.value,
            "environment_variables": dict(s.environment_variables),
        },
        "description": spec.description,
        "tags": dict(spec.tags),
    }
    return Mapped(out, notes)


def batch_job(job: BatchJob, deployment: str) -> Mapped:
    """``batch_endpoints.invoke`` arguments: inputs, outputs and the explicit deployment name."""
    spec, notes = job.spec, []
    inputs = {}
    for name, inp in spec.inputs.items():
        if inp.path.startswith("pvc://"):
            raise Unsupported(f"inputs.{name}.path: pvc:// is not reachable from Azure ML")
        inputs[name] = {"type": inp.type.value, "path": inp.path}
    out: dict[str, Any] = {
        "endpoint_name": spec.endpoint_name,
        "deployment_name": deployment,
        "inputs": inputs,
    }
    if spec.output is not None:
        if spec.output.path.startswith("pvc://"):
            raise Unsupported("output.path: pvc:// is not reachable from Azure ML")
        out["output"] = spec.output.path
    if spec.overrides is not None:
        notes.append("overrides (Azure ML batch invocations use the deployment's settings)")
    return Mapped(out, notes)
