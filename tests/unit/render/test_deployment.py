"""The scoring Deployment and its pod template (render.deployment, render.pod, render.env)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlendpoints.render import RenderError
from mlendpoints.render.settings import RenderSettings
from tests.unit.render.builders import (
    children,
    container,
    deployment,
    endpoint,
    env_of,
    instance_type,
    pod_spec,
)

CUSTOM = {
    "image": "registry.example.com/my-server:1.2",
    "inferenceConfig": {
        "livenessRoute": {"port": 8080, "path": "/health/live"},
        "readinessRoute": {"port": 8081, "path": "/health/ready"},
        "scoringRoute": {"port": 8080, "path": "/predict"},
    },
}


def _probe_fields(p: dict[str, object]) -> tuple[object, ...]:
    return tuple(
        p[k]
        for k in (
            "initialDelaySeconds",
            "periodSeconds",
            "timeoutSeconds",
            "successThreshold",
            "failureThreshold",
        )
    )


def test_probes_are_mapped_field_by_field() -> None:
    dep = deployment(
        livenessProbe={
            "initialDelay": 7,
            "period": 11,
            "timeout": 3,
            "successThreshold": 1,
            "failureThreshold": 4,
        },
        readinessProbe={
            "initialDelay": 2,
            "period": 5,
            "timeout": 9,
            "successThreshold": 2,
            "failureThreshold": 6,
        },
    )
    c = container(dep)
    assert c["livenessProbe"]["httpGet"] == {"path": "/", "port": "http", "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http", "scheme": "HTTP"}
    assert _probe_fields(c["livenessProbe"]) == (7, 11, 3, 1, 4)
    assert _probe_fields(c["readinessProbe"]) == (2, 5, 9, 2, 6)


def test_default_probes_use_azure_ml_defaults() -> None:
    c = container(deployment())
    assert _probe_fields(c["livenessProbe"]) == (10, 10, 2, 1, 30)
    assert _probe_fields(c["readinessProbe"]) == (10, 10, 2, 1, 30)


def test_custom_container_probes_its_own_routes_and_names_the_scoring_port_http() -> None:
    dep = deployment(model=None, environment=CUSTOM, readinessProbe={"period": 3, "failureThreshold": 2})
    c = container(dep)
    assert c["image"] == "registry.example.com/my-server:1.2"
    assert "command" not in c  # the image runs as is
    assert c["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "readiness", "containerPort": 8081, "protocol": "TCP"},
    ]
    assert c["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": 8080, "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": 8081, "scheme": "HTTP"}
    assert _probe_fields(c["readinessProbe"]) == (10, 3, 2, 1, 2)
    assert "MLENDPOINTS_PORT" not in env_of(c)


def test_runtime_container_contract() -> None:
    dep = deployment(
        model={"path": "https://m.example.com/x/model.pkl", "type": "custom"},
        codeConfiguration={"configMap": {"name": "code"}, "scoringScript": "score.py"},
        requestSettings={
            "requestTimeoutMs": 3000,
            "maxConcurrentRequestsPerInstance": 4,
            "maxQueueWaitMs": 200,
        },
        modelMountPath="/models",
        environmentVariables={"FOO": "bar", "MLENDPOINTS_PORT": "9999", "REF": "$(HOME)"},
    )
    objs = children(dep)
    c = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == RenderSettings().runtime_image
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["command"] == ["mlendpoints", "serve"]
    assert c["ports"] == [{"name": "http", "containerPort": 5001, "protocol": "TCP"}]
    env = env_of(c)
    assert env["AZUREML_MODEL_DIR"] == "/models"
    assert env["MLENDPOINTS_MODEL_TYPE"] == "custom"
    assert env["MLENDPOINTS_PORT"] == "5001"  # the contract wins over the user's value
    assert env["MLENDPOINTS_REQUEST_TIMEOUT_MS"] == "3000"
    assert env["MLENDPOINTS_MAX_CONCURRENT_REQUESTS"] == "4"
    assert env["MLENDPOINTS_MAX_QUEUE_WAIT_MS"] == "200"
    assert env["AZUREML_SOURCE_DIRECTORY"] == "/var/azureml-app/code"
    assert env["AZUREML_ENTRY_SCRIPT"] == "score.py"
    assert env["FOO"] == "bar"
    assert env["REF"] == "$$(HOME)"  # reaches the container literally, as on Azure ML
    names = [e["name"] for e in c["env"]]
    assert len(names) == len(set(names))  # no duplicates (server-side apply would reject them)
    assert names.index("FOO") > names.index("MLENDPOINTS_PORT")  # user variables come after the contract
    ann = objs["Deployment"]["metadata"]["annotations"]
    assert ann["mlendpoints.io/ignored-environment-variables"] == "MLENDPOINTS_PORT"


@pytest.mark.parametrize(
    ("model_type", "expected"), [("mlflow", "mlflow"), ("triton", "custom"), ("custom", "custom")]
)
def test_model_type_env(model_type: str, expected: str) -> None:
    spec = {"path": "https://m.example.com/x/", "type": model_type}
    code = {"configMap": {"name": "c"}, "scoringScript": "score.py"} if model_type == "custom" else None
    dep = deployment(model=spec, codeConfiguration=code) if code else deployment(model=spec)
    assert env_of(container(dep))["MLENDPOINTS_MODEL_TYPE"] == expected


def test_data_collector_env() -> None:
    dep = deployment(dataCollector={"enabled": True, "samplingRate": 0.25, "destination": "s3://logs/ep1"})
    env = env_of(container(dep))
    assert env["MLENDPOINTS_DATA_COLLECTOR_ENABLED"] == "true"
    assert env["MLENDPOINTS_DATA_COLLECTOR_SAMPLING_RATE"] == "0.25"
    assert env["MLENDPOINTS_DATA_COLLECTOR_DESTINATION"] == "s3://logs/ep1"
    assert not any(k.startswith("MLENDPOINTS_DATA_COLLECTOR") for k in env_of(container(deployment())))


def test_data_collector_pvc_destination_is_mounted_writable() -> None:
    dep = deployment(dataCollector={"enabled": True, "destination": "pvc://logs/ep1"})
    spec = pod_spec(dep)
    c = spec["containers"][0]
    assert env_of(c)["MLENDPOINTS_DATA_COLLECTOR_DESTINATION"] == "file:///var/azureml-app/data-collector"
    mount = next(m for m in c["volumeMounts"] if m["name"] == "data-collector")
    assert mount == {
        "name": "data-collector",
        "mountPath": "/var/azureml-app/data-collector",
        "subPath": "ep1",
    }
    assert {"name": "data-collector", "persistentVolumeClaim": {"claimName": "logs"}} in spec["volumes"]


def test_auth_key_mount_present_for_key_absent_for_none() -> None:
    dep = deployment()
    spec = pod_spec(dep, endpoint(authMode="key"))
    c = spec["containers"][0]
    assert env_of(c)["MLENDPOINTS_AUTH_KEY_DIR"] == "/var/run/secrets/mlendpoints/keys"
    assert {"name": "auth-keys", "mountPath": "/var/run/secrets/mlendpoints/keys", "readOnly": True} in c[
        "volumeMounts"
    ]
    assert {"name": "auth-keys", "secret": {"secretName": "ep1-keys"}} in spec["volumes"]

    spec = pod_spec(dep, endpoint(authMode="none"))
    c = spec["containers"][0]
    assert "MLENDPOINTS_AUTH_KEY_DIR" not in env_of(c)
    assert all(v["name"] != "auth-keys" for v in spec["volumes"])
    assert all(m["name"] != "auth-keys" for m in c["volumeMounts"])


def test_secure_defaults_for_the_runtime_image() -> None:
    spec = pod_spec(deployment())
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
    }
    for c in spec["containers"] + spec["initContainers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in spec["volumes"]
    assert spec["terminationGracePeriodSeconds"] >= 30


def test_user_image_keeps_its_own_user_but_stays_non_root() -> None:
    spec = pod_spec(deployment(model=None, environment=CUSTOM))
    assert spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert "imagePullPolicy" not in spec["containers"][0]  # Kubernetes' default for the user's tag


def test_https_model_is_downloaded_by_the_storage_initializer() -> None:
    dep = deployment(
        model={
            "path": "https://m.example.com/x/model.pkl",
            "type": "mlflow",
            "credentialsSecretRef": {"name": "creds"},
        }
    )
    spec = pod_spec(dep)
    (init,) = spec["initContainers"]
    assert init["name"] == "storage-initializer"
    assert init["image"] == RenderSettings().runtime_image
    assert init["command"] == [
        "mlendpoints", "fetch", "--uri", "https://m.example.com/x/model.pkl", "--dest", "/mnt/models",
    ]  # fmt: skip
    assert init["envFrom"] == [{"secretRef": {"name": "creds"}}]
    assert {"name": "model", "mountPath": "/mnt/models"} in init["volumeMounts"]
    assert "nvidia.com/gpu" not in init["resources"].get("limits", {})
    assert {"name": "model", "emptyDir": {}} in spec["volumes"]
    c = spec["containers"][0]
    assert {"name": "model", "mountPath": "/var/azureml-app/azureml-models", "readOnly": True} in c[
        "volumeMounts"
    ]


def test_pvc_model_is_mounted_read_only_without_download() -> None:
    spec = pod_spec(deployment(model={"path": "pvc://model-store/resnet50/v1/", "type": "mlflow"}))
    assert "initContainers" not in spec
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "model-store", "readOnly": True}} in spec[
        "volumes"
    ]
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "model")
    assert mount == {
        "name": "model",
        "mountPath": "/var/azureml-app/azureml-models",
        "readOnly": True,
        "subPath": "resnet50/v1",
    }


def test_pvc_model_without_sub_path_mounts_the_whole_claim() -> None:
    spec = pod_spec(deployment(model={"path": "pvc://model-store", "type": "mlflow"}))
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "model")
    assert "subPath" not in mount


def test_pvc_sub_path_may_not_escape_the_claim() -> None:
    with pytest.raises(RenderError, match=r"model\.path"):
        children(deployment(model={"path": "pvc://store/../etc", "type": "mlflow"}))


@pytest.mark.parametrize(
    ("ref", "policy"),
    [
        ("ghcr.io/acme/models:resnet-v1", "IfNotPresent"),
        ("ghcr.io/acme/models", "Always"),
        ("r/m@sha256:ab", "IfNotPresent"),
    ],
)
def test_oci_model_is_an_image_volume(ref: str, policy: str) -> None:
    spec = pod_spec(deployment(model={"path": f"oci://{ref}", "type": "mlflow"}))
    assert "initContainers" not in spec
    assert {"name": "model", "image": {"reference": ref, "pullPolicy": policy}} in spec["volumes"]
    assert {"name": "model", "mountPath": "/var/azureml-app/azureml-models", "readOnly": True} in spec[
        "containers"
    ][0]["volumeMounts"]


@pytest.mark.parametrize("path", ["azureml:diabetes:3", "azureml://registries/r/models/m/versions/1"])
def test_azureml_model_cannot_be_rendered_for_kubernetes(path: str) -> None:
    with pytest.raises(RenderError, match=r"model\.path: .*Azure ML asset"):
        children(deployment(model={"path": path, "type": "mlflow"}))


def test_code_from_configmap_is_a_read_only_volume() -> None:
    dep = deployment(
        model={"path": "pvc://m/x", "type": "custom"},
        codeConfiguration={"configMap": {"name": "score"}, "scoringScript": "score.py"},
    )
    spec = pod_spec(dep)
    assert {"name": "code", "configMap": {"name": "score"}} in spec["volumes"]
    assert {"name": "code", "mountPath": "/var/azureml-app/code", "readOnly": True} in spec["containers"][0][
        "volumeMounts"
    ]
    assert "initContainers" not in spec


def test_code_from_uri_is_fetched_by_a_second_init_container() -> None:
    dep = deployment(
        model={"path": "https://m.example.com/m.tar.gz", "type": "custom"},
        codeConfiguration={"code": "s3://bucket/code/", "scoringScript": "score.py"},
    )
    spec = pod_spec(dep)
    assert [c["name"] for c in spec["initContainers"]] == ["storage-initializer", "code-initializer"]
    code_init = spec["initContainers"][1]
    assert code_init["command"] == [
        "mlendpoints",
        "fetch",
        "--uri",
        "s3://bucket/code/",
        "--dest",
        "/mnt/code",
    ]
    assert {"name": "code", "emptyDir": {}} in spec["volumes"]
    assert {"name": "code", "mountPath": "/var/azureml-app/code", "readOnly": True} in spec["containers"][0][
        "volumeMounts"
    ]


def test_code_hash_annotation_changes_the_template() -> None:
    dep = deployment(
        model={"path": "pvc://m/x", "type": "custom"},
        codeConfiguration={"configMap": {"name": "score"}, "scoringScript": "score.py"},
    )
    one = children(dep, code_hash="aaaa")["Deployment"]["spec"]["template"]
    two = children(dep, code_hash="bbbb")["Deployment"]["spec"]["template"]
    assert one["metadata"]["annotations"]["mlendpoints.io/code-hash"] == "aaaa"
    assert one != two
    assert (
        "mlendpoints.io/code-hash"
        not in children(dep)["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    )


def test_rendering_is_deterministic() -> None:
    dep = deployment()
    assert children(dep, code_hash="x") == children(dep, code_hash="x")


def test_replicas_follow_instance_count() -> None:
    d = children(deployment(instanceCount=3))["Deployment"]["spec"]
    assert d["replicas"] == 3
    assert d["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
    }


def test_replicas_are_omitted_under_the_hpa() -> None:
    dep = deployment(scaleSettings={"type": "targetUtilization", "minInstances": 2, "maxInstances": 5})
    assert "replicas" not in children(dep)["Deployment"]["spec"]


def test_selector_is_minimal_and_stable() -> None:
    d = children(deployment())["Deployment"]
    assert d["spec"]["selector"] == {
        "matchLabels": {"mlendpoints.io/endpoint": "ep1", "mlendpoints.io/deployment": "blue"}
    }
    labels = d["spec"]["template"]["metadata"]["labels"]
    assert d["spec"]["selector"]["matchLabels"].items() <= labels.items()
    changed = deployment(instanceCount=5, model={"path": "https://other/m.pkl", "type": "mlflow"})
    assert children(changed)["Deployment"]["spec"]["selector"] == d["spec"]["selector"]


def test_default_resources_apply_without_instance_type() -> None:
    assert container(deployment())["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }


def test_instance_type_resources_node_selector_and_tolerations() -> None:
    compute = instance_type(
        nodeSelector={"nvidia.com/gpu.present": "true"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        resources={
            "requests": {"cpu": "1", "memory": "4Gi"},
            "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": 1},
        },
    )
    spec = pod_spec(deployment(), compute=compute)
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["containers"][0]["resources"] == {
        "requests": {"cpu": "1", "memory": "4Gi"},
        "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
    }


def test_spec_resources_override_instance_type_field_by_field() -> None:
    compute = instance_type(
        resources={"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "16Gi"}}
    )
    dep = deployment(resources={"requests": {"cpu": "2"}, "limits": {"memory": "8Gi"}})
    assert container(dep, compute=compute)["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "4", "memory": "8Gi"},
    }


def test_user_request_above_an_inherited_limit_raises_the_limit() -> None:
    dep = deployment(resources={"requests": {"memory": "2Gi"}})
    assert container(dep)["resources"] == {
        "requests": {"cpu": "100m", "memory": "2Gi"},
        "limits": {"memory": "2Gi"},
    }


def test_request_above_limit_in_the_user_spec_is_an_error() -> None:
    # The API rejects it (CEL in the CRD, the same check in the model) before anything renders.
    with pytest.raises(ValidationError, match=r"requests\.cpu must not be above limits\.cpu"):
        deployment(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}})


def test_gpu_is_rendered_as_a_limit_only() -> None:
    res = container(deployment(resources={"requests": {"nvidia.com/gpu": 2}}))["resources"]
    assert res["limits"]["nvidia.com/gpu"] == "2"
    assert "nvidia.com/gpu" not in res["requests"]
    res = container(deployment(resources={"limits": {"nvidia.com/gpu": 1}}))["resources"]
    assert res["limits"]["nvidia.com/gpu"] == "1"


def test_gpu_request_different_from_limit_is_an_error() -> None:
    with pytest.raises(ValidationError, match=r"nvidia\.com/gpu must equal"):
        deployment(resources={"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 2}})


def test_pip_requirements_are_installed_by_an_init_container() -> None:
    conda = "name: env\ndependencies:\n  - python=3.11\n  - pip:\n    - scikit-learn==1.5.2\n    - joblib\n"
    dep = deployment(
        environment={"pipRequirements": ["joblib", "xgboost>=2"], "condaFile": conda},
        environmentVariables={"PYTHONPATH": "/opt/extra"},
    )
    spec = pod_spec(dep)
    pip = next(c for c in spec["initContainers"] if c["name"] == "pip-install")
    assert pip["command"][-3:] == ["joblib", "xgboost>=2", "scikit-learn==1.5.2"]
    assert "--target" in pip["command"]
    c = spec["containers"][0]
    assert env_of(c)["PYTHONPATH"] == "/var/azureml-app/site-packages:/opt/extra"
    assert {"name": "site-packages", "mountPath": "/var/azureml-app/site-packages", "readOnly": True} in c[
        "volumeMounts"
    ]


def test_invalid_conda_file_is_an_error() -> None:
    with pytest.raises(RenderError, match=r"environment\.condaFile"):
        children(deployment(environment={"condaFile": "dependencies: [unclosed"}))


def test_model_mount_path_colliding_with_another_mount_is_an_error() -> None:
    with pytest.raises(RenderError, match="modelMountPath"):
        children(deployment(modelMountPath="/tmp"))


def test_deployment_of_another_endpoint_is_refused() -> None:
    with pytest.raises(RenderError, match="endpointName"):
        children(deployment(endpoint_name="ep1"), endpoint("ep2"))


def test_azureml_target_endpoint_is_refused() -> None:
    ep = endpoint(
        target="azureml",
        azureml={
            "subscriptionId": "00000000-0000-0000-0000-000000000000",
            "resourceGroup": "rg",
            "workspaceName": "ws",
        },
    )
    with pytest.raises(RenderError, match="azureml"):
        children(deployment(), ep)


def test_runtime_home_is_writable_unless_the_user_sets_it() -> None:
    assert env_of(container(deployment()))["HOME"] == "/tmp"
    assert env_of(container(deployment(environmentVariables={"HOME": "/data"})))["HOME"] == "/data"
    assert "HOME" not in env_of(container(deployment(model=None, environment=CUSTOM)))


def test_init_containers_report_why_they_failed() -> None:
    spec = pod_spec(deployment(environment={"pipRequirements": ["joblib"]}))
    assert {c["terminationMessagePolicy"] for c in spec["initContainers"]} == {"FallbackToLogsOnError"}


def test_custom_container_with_code_gets_azures_variables() -> None:
    """Azure's own server inside an Azure inference image finds the script through these."""
    dep = deployment(
        model={"path": "pvc://m/x", "type": "custom"},
        codeConfiguration={"configMap": {"name": "score"}, "scoringScript": "src/score.py"},
        environment={
            "image": "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest",
            "inferenceConfig": {
                "livenessRoute": {"port": 5001, "path": "/"},
                "readinessRoute": {"port": 5001, "path": "/"},
                "scoringRoute": {"port": 5001, "path": "/score"},
            },
        },
        environmentVariables={"WORKER_COUNT": "2", "AML_APP_ROOT": "/elsewhere"},
    )
    c = container(dep)
    env = env_of(c)
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models"
    assert env["AZUREML_ENTRY_SCRIPT"] == "src/score.py"
    assert env["AML_APP_ROOT"] == env["AZUREML_SOURCE_DIRECTORY"] == "/var/azureml-app/code"
    assert env["WORKER_COUNT"] == "2"  # Azure's server reads it itself
    # the runtime's own settings are not set for an image that does not run it
    assert not {"MLENDPOINTS_PORT", "MLENDPOINTS_MODEL_TYPE", "MLENDPOINTS_REQUEST_TIMEOUT_MS"} & env.keys()
    assert "command" not in c  # the image runs as is
    assert c["ports"] == [{"name": "http", "containerPort": 5001, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/", "port": 5001, "scheme": "HTTP"}


def test_ignored_azure_server_settings_are_named() -> None:
    from mlendpoints.render import env as render_env

    dep = deployment(
        environmentVariables={"WORKER_COUNT": "2", "AML_CORS_ORIGINS": "*", "HEALTH_PORT": "5000"}
    )
    notes = render_env.ignored_server_settings(dep)
    assert [n.split(" ")[0] for n in notes] == ["AML_CORS_ORIGINS", "HEALTH_PORT"]
    assert all("(" in n for n in notes)  # each with the reason
    assert render_env.ignored_server_settings(deployment(model=None, environment=CUSTOM)) == []
