"""azure-ai-ml entities from the plain dicts built by backends/azureml/mapping.py."""

from __future__ import annotations

from typing import Any

from azure.ai.ml.entities import (
    BatchRetrySettings,
    CodeConfiguration,
    DataCollector,
    DefaultScaleSettings,
    DeploymentCollection,
    Environment,
    KubernetesOnlineDeployment,
    ManagedOnlineDeployment,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    OnlineRequestSettings,
    ProbeSettings,
    ResourceConfiguration,
    ResourceRequirementsSettings,
    ResourceSettings,
    TargetUtilizationScaleSettings,
)


def _resources(res: dict[str, Any] | None) -> ResourceRequirementsSettings | None:
    if not res:
        return None

    def one(part: dict[str, Any] | None) -> ResourceSettings | None:
        return (
            ResourceSettings(cpu=part.get("cpu"), memory=part.get("memory"), gpu=part.get("gpu"))
            if part
            else None
        )

    return ResourceRequirementsSettings(requests=one(res.get("requests")), limits=one(res.get("limits")))


def _environment(env: dict[str, Any] | str | None) -> Environment | str | None:
    if env is None or isinstance(env, str):
        return env
    return Environment(
        image=env["image"], conda_file=env.get("conda_file"), inference_config=env.get("inference_config")
    )


def online_deployment_entity(spec: dict[str, Any]) -> Any:
    """A Managed/KubernetesOnlineDeployment from the mapping's dict (see mapping.online_deployment)."""
    scale = spec["scale_settings"]
    if scale["type"] == "target_utilization":
        scale_settings: Any = TargetUtilizationScaleSettings(
            min_instances=scale["min_instances"],
            max_instances=scale["max_instances"],
            polling_interval=scale["polling_interval"],
            target_utilization_percentage=scale["target_utilization_percentage"],
        )
    else:
        scale_settings = DefaultScaleSettings()
    code = spec.get("code_configuration")
    collector = spec.get("data_collector")
    kwargs: dict[str, Any] = {
        "name": spec["name"],
        "endpoint_name": spec["endpoint_name"],
        "model": spec.get("model"),
        "code_configuration": CodeConfiguration(code=code["code"], scoring_script=code["scoring_script"])
        if code
        else None,
        "environment": _environment(spec.get("environment")),
        "instance_type": spec["instance_type"],
        "instance_count": spec["instance_count"],
        "scale_settings": scale_settings,
        "request_settings": OnlineRequestSettings(**spec["request_settings"]),
        "liveness_probe": ProbeSettings(**spec["liveness_probe"]),
        "readiness_probe": ProbeSettings(**spec["readiness_probe"]),
        "environment_variables": spec.get("environment_variables") or {},
        "app_insights_enabled": spec.get("app_insights_enabled", False),
        "model_mount_path": spec.get("model_mount_path"),
        "description": spec.get("description"),
        "tags": spec.get("tags") or None,
        "data_collector": DataCollector(
            collections={
                "model_inputs": DeploymentCollection(enabled="true"),
                "model_outputs": DeploymentCollection(enabled="true"),
            },
            sampling_rate=collector["sampling_rate"],
        )
        if collector
        else None,
    }
    if spec["kind"] == "kubernetes":
        return KubernetesOnlineDeployment(resources=_resources(spec.get("resources")), **kwargs)
    return ManagedOnlineDeployment(**kwargs)


def batch_deployment_entity(spec: dict[str, Any]) -> ModelBatchDeployment:
    s = spec["settings"]
    code = spec.get("code_configuration")
    resources = None
    settings_kw = dict(s)
    retry = settings_kw.pop("retry_settings")
    if spec.get("instance_type"):
        resources = ResourceConfiguration(
            instance_count=settings_kw.pop("instance_count"), instance_type=spec["instance_type"]
        )
    return ModelBatchDeployment(
        name=spec["name"],
        endpoint_name=spec["endpoint_name"],
        model=spec.get("model"),
        code_configuration=CodeConfiguration(code=code["code"], scoring_script=code["scoring_script"])
        if code
        else None,
        environment=_environment(spec.get("environment")),
        compute=spec["compute"],
        resources=resources,
        settings=ModelBatchDeploymentSettings(
            retry_settings=BatchRetrySettings(max_retries=retry["max_retries"], timeout=retry["timeout"]),
            **settings_kw,
        ),
        description=spec.get("description"),
        tags=spec.get("tags") or None,
    )
