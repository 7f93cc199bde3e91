"""azure-ai-ml entities -> Azure YAML documents -> our manifests (mlendpoints.sdk.entities + convert).

The entities are azure-ai-ml's own classes; the manifests come from the same converter as
``create -f``, so these tests check what the SDK layer adds: the kind from the class, the values
azure-ai-ml fills in by itself left out (no warnings for them), the read-only fields of an entity
read back by ``get`` not sent, and the warnings for Azure fields the caller did set.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from azure.ai.ml import entities as e

from mlendpoints.convert import azure
from mlendpoints.convert.common import Options
from mlendpoints.sdk import entities


def convert(entity: Any, **options: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """{kind: manifest} and the warnings for one entity."""
    result = azure.convert([entities.to_doc(entity)], Options(namespace="ns", **options))
    return {o["kind"]: o for o in result.objects}, result.warnings


@pytest.fixture
def mlflow_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {python_function: {}}\n")
    return folder


def test_endpoint_with_traffic_and_nothing_the_sdk_filled_in() -> None:
    ep = e.ManagedOnlineEndpoint(name="My-Ep", auth_mode="key", description="d", tags={"team": "a"})
    ep.traffic = {"blue": 100}
    out, warned = convert(ep)
    assert out["OnlineEndpoint"] == {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "my-ep", "namespace": "ns"},  # azure-ai-ml lower-cases names
        "spec": {"authMode": "key", "traffic": {"blue": 100}, "description": "d", "tags": {"team": "a"}},
    }
    assert warned == []


def test_an_endpoint_read_back_sends_no_read_only_field() -> None:
    got = e.ManagedOnlineEndpoint(
        name="ep1", traffic={"blue": 100}, scoring_uri="http://gw/ep1/score", provisioning_state="Succeeded"
    )
    doc = entities.to_doc(got)
    assert "scoring_uri" not in doc.body
    assert "provisioning_state" not in doc.body
    assert doc.where == "ManagedOnlineEndpoint ep1"


def test_kubernetes_endpoint_compute_is_a_warning_with_the_clis_text() -> None:
    out, warned = convert(e.KubernetesOnlineEndpoint(name="kep1", compute="k8s-compute"))
    assert out["OnlineEndpoint"]["spec"] == {"authMode": "key"}
    assert warned == [
        "KubernetesOnlineEndpoint kep1: compute: ignored (the endpoint runs in this cluster "
        "(Azure's attached Kubernetes compute has no counterpart))"
    ]


def test_mlflow_deployment_from_a_local_folder_is_an_upload(mlflow_folder: Path) -> None:
    from azure.ai.ml.constants import AssetTypes

    dep = e.ManagedOnlineDeployment(
        name="blue",
        endpoint_name="ep1",
        model=e.Model(path=str(mlflow_folder), type=AssetTypes.MLFLOW_MODEL),
        instance_type="Standard_DS3_v2",
        instance_count=1,
    )
    result = azure.convert(
        [entities.to_doc(dep)], Options(namespace="ns", model_store="az://up", store_secret="store")
    )
    manifest = next(o for o in result.objects if o["kind"] == "OnlineDeployment")
    model = manifest["spec"]["model"]
    assert model["type"] == "mlflow"
    assert model["path"].startswith("az://up/ep1/blue-model/")
    assert model["credentialsSecretRef"] == {"name": "store"}
    assert manifest["spec"]["instanceType"] == "standard-ds3-v2"
    assert [o["metadata"]["name"] for o in result.objects if o["kind"] == "InstanceType"] == [
        "standard-ds3-v2"
    ]
    assert [(u.local, u.uri) for u in result.uploads] == [(mlflow_folder, model["path"])]
    # the model's generated name (a content hash) and version are not warned about
    assert result.warnings == []


def test_code_environment_settings_and_azure_only_fields(tmp_path: Path, mlflow_folder: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text("def init():\n    pass\n\n\ndef run(raw):\n    return raw\n")
    (tmp_path / "conda.yml").write_text("dependencies:\n  - pip:\n    - azureml-defaults\n    - lightgbm\n")
    dep = e.ManagedOnlineDeployment(
        name="green",
        endpoint_name="ep1",
        model=e.Model(path=str(mlflow_folder)),
        code_configuration=e.CodeConfiguration(code=str(tmp_path / "src"), scoring_script="score.py"),
        environment=e.Environment(
            image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest",
            conda_file=str(tmp_path / "conda.yml"),
        ),
        environment_variables={"A": "1"},
        request_settings=e.OnlineRequestSettings(
            request_timeout_ms=9000, max_concurrent_requests_per_instance=2
        ),
        liveness_probe=e.ProbeSettings(period=5),
        instance_type="my-instance-type",
        egress_public_network_access="disabled",
    )
    out, warned = convert(dep, model_store="az://up", store_secret="store")
    spec = out["OnlineDeployment"]["spec"]
    assert spec["codeConfiguration"] == {"scoringScript": "score.py", "configMap": {"name": "ep1-green-code"}}
    assert out["ConfigMap"]["data"]["score.py"].startswith("def init()")
    assert "lightgbm" in spec["environment"]["condaFile"]
    assert "azureml-defaults" not in spec["environment"]["condaFile"]
    assert spec["environmentVariables"] == {"A": "1"}
    assert spec["requestSettings"] == {"requestTimeoutMs": 9000, "maxConcurrentRequestsPerInstance": 2}
    assert spec["livenessProbe"] == {"period": 5}
    assert spec["instanceType"] == "my-instance-type"
    assert (
        "ManagedOnlineDeployment green: egress_public_network_access: ignored (egress is the cluster's NetworkPolicy)"
        in warned
    )
    assert any("environment.image: mcr.microsoft.com/azureml/" in w for w in warned)
    assert not any("environment.name" in w or "environment.version" in w for w in warned)


def test_a_registered_model_is_refused_naming_the_field() -> None:
    dep = e.ManagedOnlineDeployment(name="blue", endpoint_name="ep1", model="azureml:credit:1")
    with pytest.raises(
        azure.ConvertError,
        match=r"ManagedOnlineDeployment blue: model: azureml:credit:1 is a model registered",
    ):
        convert(dep)


def test_batch_endpoint_and_model_batch_deployment(mlflow_folder: Path) -> None:
    from azure.ai.ml.constants import AssetTypes

    out, warned = convert(e.BatchEndpoint(name="heart", description="b", default_deployment_name="xgb"))
    assert out["BatchEndpoint"]["spec"] == {"defaults": {"deploymentName": "xgb"}, "description": "b"}
    assert warned == []  # auth_mode aad_token is the SDK's default (and Azure's only mode): not warned about
    dep = e.ModelBatchDeployment(
        name="xgb",
        endpoint_name="heart",
        model=e.Model(path=str(mlflow_folder), type=AssetTypes.MLFLOW_MODEL),
        compute="cpu-cluster",
        settings=e.ModelBatchDeploymentSettings(
            mini_batch_size=10,
            instance_count=2,
            max_concurrency_per_instance=3,
            output_action="summary_only",
            output_file_name="out.csv",
            retry_settings=e.BatchRetrySettings(max_retries=4, timeout=300),
            logging_level="warning",
            error_threshold=5,
        ),
    )
    out, warned = convert(dep, model_store="az://up", store_secret="store")
    assert out["BatchDeployment"]["spec"]["settings"] == {
        "miniBatchSize": 10,
        "instanceCount": 2,
        "maxConcurrencyPerInstance": 3,
        "outputAction": "summaryOnly",
        "outputFileName": "out.csv",
        "retrySettings": {"maxRetries": 4, "timeout": 300},
        "loggingLevel": "warning",
        "errorThreshold": 5,
    }
    assert out["BatchDeployment"]["spec"]["model"]["type"] == "mlflow"
    assert warned == [
        "ModelBatchDeployment xgb: compute: azureml:cpu-cluster ignored (Azure ML compute cluster; "
        "batch pods use instanceType/resources in this cluster)"
    ]


def test_the_deprecated_batch_deployment_class_maps_the_same(mlflow_folder: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        dep = e.BatchDeployment(
            name="xgb",
            endpoint_name="heart",
            model=e.Model(path=str(mlflow_folder), type="mlflow_model"),
            instance_count=2,
            mini_batch_size=10,
            retry_settings=e.BatchRetrySettings(max_retries=3, timeout=30),
        )
    out, warned = convert(dep, model_store="az://up", store_secret="store")
    assert out["BatchDeployment"]["spec"]["settings"] == {
        "miniBatchSize": 10,
        "instanceCount": 2,
        "retrySettings": {"maxRetries": 3, "timeout": 30},
    }
    assert warned == []


@pytest.mark.parametrize(
    "entity",
    [
        pytest.param(lambda: e.Model(name="m", version="1", path="https://x/m/"), id="Model"),
        pytest.param(lambda: e.Environment(name="env", image="python:3.11"), id="Environment"),
        pytest.param(lambda: {"name": "ep1"}, id="dict"),
    ],
)
def test_other_classes_are_refused_with_the_supported_list(entity: Any) -> None:
    obj = entity()
    with pytest.raises(
        entities.UnsupportedEntity,
        match=rf"^{type(obj).__name__}: not supported by mlendpoints.sdk .*ManagedOnlineEndpoint",
    ):
        entities.to_doc(obj)


def test_a_deployment_read_back_can_be_changed_and_applied_again() -> None:
    from mlendpoints.sdk import readback

    live = {
        "kind": "OnlineDeployment",
        "metadata": {"name": "blue", "generation": 1},
        "spec": {
            "endpointName": "ep1",
            "model": {"path": "az://up/ep1/blue-model/abc/", "type": "custom"},
            "codeConfiguration": {"scoringScript": "score.py", "configMap": {"name": "ep1-blue-code"}},
            "environment": {"image": "registry.example/score:1"},
            "instanceType": "cpu-small",
            "instanceCount": 1,
        },
    }
    dep = readback.online_deployment(live)
    dep.instance_count = 3
    out, warned = convert(dep)
    assert out["OnlineDeployment"]["spec"] == {
        "endpointName": "ep1",
        "model": {"path": "az://up/ep1/blue-model/abc/", "type": "custom"},
        "codeConfiguration": {"scoringScript": "score.py", "configMap": {"name": "ep1-blue-code"}},
        "environment": {"image": "registry.example/score:1"},
        "instanceType": "cpu-small",
        "instanceCount": 3,
    }
    assert warned == []
