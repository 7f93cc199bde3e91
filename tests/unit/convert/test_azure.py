"""Azure ML CLI v2 YAML -> manifests, on the shapes of Azure's public samples (tests/data/azure/)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlendpoints.convert import ConvertError, azure, load, sizes
from mlendpoints.render import cli as render_cli

DATA = Path(__file__).resolve().parents[2] / "data" / "azure"


def convert(*files: str, **opts: Any) -> azure.Result:
    objects, docs = load([str(DATA / f) for f in files])
    assert objects == []
    return azure.convert(docs, azure.Options(**opts))


def by_kind(result: azure.Result, kind: str) -> list[dict[str, Any]]:
    return [o for o in result.objects if o["kind"] == kind]


def render(tmp_path: Path, objects: list[dict[str, Any]]) -> str:
    """The manifests through ``mlendpoints render`` (what the operator would create)."""
    path = tmp_path / "converted.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    args = argparse.Namespace(
        filename=[str(path)], recursive=False, namespace="default", ready=True, gateway_api=True,
        default_gateway=None, runtime_image=None, strict=False,
    )  # fmt: skip
    stream, _, problems = render_cli.render(args)
    assert problems == []
    return stream


def test_managed_online_sample_maps_sizes_code_conda_and_uploads_the_model(tmp_path: Path) -> None:
    result = convert(
        "managed/endpoint.yml",
        "managed/blue-deployment.yml",
        model_store="az://models/up",
        store_secret="creds",
    )
    [it] = by_kind(result, "InstanceType")
    assert it["metadata"]["name"] == "standard-ds3-v2"
    assert it["spec"]["resources"]["limits"] == {"cpu": "4", "memory": "14336Mi"}
    [cm] = by_kind(result, "ConfigMap")
    assert set(cm["data"]) == {"score.py"}
    assert "def run(raw_data)" in cm["data"]["score.py"]
    [ep] = by_kind(result, "OnlineEndpoint")
    assert ep["spec"] == {"authMode": "key"}
    [dep] = by_kind(result, "OnlineDeployment")
    spec = dep["spec"]
    assert spec["instanceType"] == "standard-ds3-v2"
    assert spec["codeConfiguration"] == {
        "scoringScript": "score.py",
        "configMap": {"name": cm["metadata"]["name"]},
    }
    [upload] = result.uploads
    assert upload.local == (DATA / "managed/model-1/model").resolve()
    assert spec["model"] == {"path": upload.uri, "credentialsSecretRef": {"name": "creds"}}
    assert upload.uri.startswith("az://models/up/my-endpoint/blue-model/")
    # the conda file is inlined, without Azure's inference server; the Azure base image is replaced
    assert "scikit-learn==1.0.2" in spec["environment"]["condaFile"]
    assert "azureml-defaults" not in spec["environment"]["condaFile"]
    assert "image" not in spec["environment"]
    assert any("azureml-defaults dropped" in w for w in result.warnings)
    assert any("environment.image" in w for w in result.warnings)
    # order: what deployments need first
    assert [o["kind"] for o in result.objects] == [
        "InstanceType",
        "ConfigMap",
        "OnlineEndpoint",
        "OnlineDeployment",
    ]
    stream = render(tmp_path, result.objects)
    assert "kind: Deployment" in stream
    assert "my-endpoint-blue" in stream


def test_the_model_uri_follows_the_folder_content(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "m.bin").write_bytes(b"1")
    doc = {"name": "blue", "endpoint_name": "ep1", "model": {"path": "./model", "type": "mlflow_model"}}
    (tmp_path / "d.yml").write_text(yaml.safe_dump(doc))

    def uri() -> str:
        _, docs = load([str(tmp_path / "d.yml")])
        return str(azure.convert(docs, azure.Options(model_store="az://m")).uploads[0].uri)

    first = uri()
    assert uri() == first
    (model / "m.bin").write_bytes(b"2")
    assert uri() != first


def test_kubernetes_online_sample_maps_every_block(tmp_path: Path) -> None:
    result = convert("kubernetes/endpoint.yml", "kubernetes/blue-deployment.yml")
    [dep] = by_kind(result, "OnlineDeployment")
    spec = dep["spec"]
    assert spec["model"] == {"path": "az://models/sklearn/1/", "type": "mlflow"}
    assert spec["instanceType"] == "defaultinstancetype"  # a Kubernetes InstanceType name stays
    assert spec["requestSettings"] == {
        "requestTimeoutMs": 3000,
        "maxConcurrentRequestsPerInstance": 2,
        "maxQueueWaitMs": 300,
    }
    assert spec["livenessProbe"] == {"initialDelay": 5, "period": 5}
    assert spec["scaleSettings"]["type"] == "targetUtilization"
    assert spec["resources"]["limits"] == {"cpu": "0.2", "memory": "0.5Gi"}
    assert spec["environmentVariables"] == {"WORKERS": "2"}
    assert by_kind(result, "InstanceType") == []
    assert any("endpoint.yml#1: compute: ignored" in w for w in result.warnings)
    assert any("type: ignored" in w for w in result.warnings)
    render(tmp_path, result.objects)


def test_custom_container_sample() -> None:
    result = convert("custom-container/tfserving-deployment.yml")
    [dep] = by_kind(result, "OnlineDeployment")
    env = dep["spec"]["environment"]
    assert env["image"] == "docker.io/tensorflow/serving:latest"
    assert env["inferenceConfig"]["scoringRoute"] == {
        "port": 8501,
        "path": "/v1/models/half_plus_two:predict",
    }
    assert dep["spec"]["modelMountPath"] == "/var/azureml-app/azureml-models/tfserving-mounted"
    assert {w.split(": ")[1] for w in result.warnings} == {"model.name", "model.version", "environment.name"}


def test_batch_samples_mlflow_and_script(tmp_path: Path) -> None:
    result = convert("batch/endpoint.yml", "batch/mlflow-deployment.yml", "batch/script-deployment.yml")
    [ep] = by_kind(result, "BatchEndpoint")
    assert ep["metadata"]["name"] == "heart-classifier-batch"
    mlflow, script = by_kind(result, "BatchDeployment")
    assert mlflow["spec"]["model"] == {"path": "az://models/heart-classifier/", "type": "mlflow"}
    assert mlflow["spec"]["settings"] == {
        "maxConcurrencyPerInstance": 2, "miniBatchSize": 2, "outputAction": "appendRow",
        "outputFileName": "predictions.csv", "retrySettings": {"maxRetries": 3, "timeout": 300},
        "errorThreshold": -1, "loggingLevel": "info", "instanceCount": 2,
    }  # fmt: skip
    # the older shape: settings at the top level
    assert script["spec"]["settings"]["miniBatchSize"] == 10
    assert script["spec"]["codeConfiguration"]["configMap"]["name"].endswith("-code")
    assert any("auth_mode: ignored" in w for w in result.warnings)
    assert sum("compute: azureml:batch-cluster ignored" in w for w in result.warnings) == 2
    render(tmp_path, result.objects)


def write(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "azure.yml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def convert_doc(tmp_path: Path, doc: dict[str, Any], **opts: Any) -> azure.Result:
    _, docs = load([write(tmp_path, doc)])
    return azure.convert(docs, azure.Options(**opts))


DEPLOYMENT = {"name": "blue", "endpoint_name": "ep1", "model": {"path": "az://m/1/", "type": "mlflow_model"}}


def test_unknown_vm_size_lists_the_table(tmp_path: Path) -> None:
    with pytest.raises(ConvertError) as err:
        convert_doc(tmp_path, {**DEPLOYMENT, "instance_type": "Standard_M416ms_v2"})
    message = str(err.value)
    assert "azure.yml#1: instance_type: 'Standard_M416ms_v2' is not in the table" in message
    assert "Standard_DS3_v2" in message
    assert "--instance-type Standard_M416ms_v2=NAME" in message


def test_instance_type_mapping_option_wins(tmp_path: Path) -> None:
    result = convert_doc(
        tmp_path,
        {**DEPLOYMENT, "instance_type": "Standard_DS3_v2"},
        instance_types={"Standard_DS3_v2": "cpu-small"},
    )
    assert result.objects[-1]["spec"]["instanceType"] == "cpu-small"
    assert by_kind(result, "InstanceType") == []


def test_every_table_size_is_a_valid_instance_type() -> None:
    from mlendpoints.api.v1alpha1 import InstanceType

    for size in sizes.SIZES:
        InstanceType.model_validate(sizes.instance_type(size))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"model": "azureml:my-model:1"},
            "model: azureml:my-model:1 is a model registered in an Azure ML workspace",
        ),
        (
            {"model": {"path": "./missing"}},
            "model of OnlineDeployment blue: ./missing: no such file or directory",
        ),
        (
            {"code_configuration": {"code": "./nope", "scoring_script": "score.py"}},
            "code_configuration.code: ./nope: no such file",
        ),
        ({"model": {"path": "az://m/1/", "type": "onnx_model"}}, "model.type: 'onnx_model' is not one of"),
        ({"environment": {"build": {"path": "./docker"}}}, "environment.build: the cluster builds no images"),
        (
            {"instance_count": -1},
            "OnlineDeployment blue: spec.instanceCount: Input should be greater than or equal to 0",
        ),
    ],
)
def test_what_cannot_be_converted_is_an_error_naming_the_field(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConvertError, match=None) as err:
        convert_doc(tmp_path, {**DEPLOYMENT, **change}, model_store="az://m")
    assert expected in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "azure.yml") + "#1: ")


def test_a_local_model_without_a_store_explains_how_to_upload(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    with pytest.raises(ConvertError) as err:
        convert_doc(tmp_path, {**DEPLOYMENT, "model": {"path": "./model"}})
    assert "./model is a local path, which the cluster cannot read" in str(err.value)
    assert "--model-store az://CONTAINER/PREFIX" in str(err.value)


def test_unknown_fields_are_warnings(tmp_path: Path) -> None:
    result = convert_doc(
        tmp_path, {**DEPLOYMENT, "egress_public_network_access": "disabled", "shiny_new_field": 1}
    )
    assert [w.split(": ", 1)[1] for w in result.warnings] == [
        "egress_public_network_access: ignored (egress is the cluster's NetworkPolicy)",
        "shiny_new_field: ignored (no mlendpoints counterpart)",
    ]


def test_aml_token_becomes_key_with_a_warning(tmp_path: Path) -> None:
    result = convert_doc(
        tmp_path,
        {
            "$schema": "https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json",
            "name": "ep1",
            "auth_mode": "aml_token",
        },
    )
    assert result.objects[0]["spec"]["authMode"] == "key"
    assert "auth_mode: aml_token needs Azure ML's token service" in result.warnings[0]


def test_a_schema_we_do_not_convert_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        ConvertError, match=r"commandJob.schema.json is not an online/batch endpoint or deployment"
    ):
        convert_doc(
            tmp_path,
            {"$schema": "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json", "name": "j"},
        )


def test_nested_code_is_uploaded_not_put_in_a_config_map(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "score.py").write_text("def init(): pass\ndef run(d): return d\n")
    (tmp_path / "src" / "pkg" / "util.py").write_text("X = 1\n")
    code = {"code": "./src", "scoring_script": "score.py"}
    result = convert_doc(tmp_path, {**DEPLOYMENT, "code_configuration": code}, model_store="az://m")
    assert by_kind(result, "ConfigMap") == []
    [up] = result.uploads
    assert result.objects[-1]["spec"]["codeConfiguration"]["code"] == up.uri
    assert up.uri.startswith("az://m/ep1/blue-code/")


WORKSPACE = {
    "subscriptionId": "00000000-0000-0000-0000-000000000000",
    "resourceGroup": "rg",
    "workspaceName": "ws",
}


def test_target_azureml_keeps_registered_models_vm_sizes_and_tokens(tmp_path: Path) -> None:
    endpoint = {"$schema": "https://azuremlschemas.azureedge.net/latest/kubernetesOnlineEndpoint.schema.json",
                "name": "ep1", "auth_mode": "aml_token", "compute": "azureml:k8s-compute",
                "public_network_access": "Disabled"}  # fmt: skip
    image = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py311-cpu-inference:latest"
    dep = {**DEPLOYMENT, "model": "azureml:my-model:3", "instance_type": "Standard_DS3_v2",
           "code_configuration": {"code": "azureml:credit-score:1", "scoring_script": "score.py"},
           "environment": {"image": image}}  # fmt: skip
    (tmp_path / "e.yml").write_text(yaml.safe_dump(endpoint))
    (tmp_path / "d.yml").write_text(yaml.safe_dump(dep))
    _, docs = load([str(tmp_path / "e.yml"), str(tmp_path / "d.yml")])
    result = azure.convert(docs, azure.Options(azureml=WORKSPACE, gateway="gw"))
    ep, d = result.objects
    assert ep["spec"]["target"] == "azureml"
    assert ep["spec"]["authMode"] == "amlToken"
    assert ep["spec"]["azureml"] == {**WORKSPACE, "compute": "k8s-compute", "publicNetworkAccess": "disabled"}
    assert "routing" not in ep["spec"]  # Azure ML serves it: no Gateway
    assert d["spec"]["model"] == {"path": "azureml:my-model:3"}
    assert d["spec"]["codeConfiguration"] == {"scoringScript": "score.py", "code": "azureml:credit-score:1"}
    assert d["spec"]["environment"] == {"image": image}  # Azure ML runs its own base images
    assert d["spec"]["instanceType"] == "Standard_DS3_v2"
    assert result.warnings == []


def test_workspace_option_is_three_parts() -> None:
    assert azure.parse_workspace("s/rg/ws") == {
        "subscriptionId": "s",
        "resourceGroup": "rg",
        "workspaceName": "ws",
    }
    with pytest.raises(ValueError, match="expected SUBSCRIPTION_ID/RESOURCE_GROUP/WORKSPACE"):
        azure.parse_workspace("s/rg")


def test_documents_without_schema_mixed_case_auth_and_bare_relative_paths(tmp_path: Path) -> None:
    """Azure's samples also come without $schema, with ``auth_mode: Key`` and ``code: code``."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "driver.py").write_text("def init(): pass\ndef run(b): return b\n")
    (tmp_path / "all.yml").write_text(
        yaml.safe_dump_all(
            [
                {"name": "ep1", "compute": "azureml:inferencecompute", "auth_mode": "Key"},
                {"name": "blue", "type": "kubernetes", "endpoint_name": "ep1",
                 "model": {"path": "az://m/1/", "type": "mlflow_model"},
                 "code_configuration": {"code": "code", "scoring_script": "driver.py"}},
            ]
        )
    )  # fmt: skip
    _, docs = load([str(tmp_path / "all.yml")])
    result = azure.convert(docs, azure.Options())
    cm, ep, dep = result.objects
    assert ep["kind"] == "OnlineEndpoint"
    assert ep["spec"]["authMode"] == "key"
    assert dep["kind"] == "OnlineDeployment"
    assert dep["spec"]["codeConfiguration"]["configMap"]["name"] == cm["metadata"]["name"]
    assert set(cm["data"]) == {"driver.py"}


def test_a_registered_model_at_latest_is_kept_for_target_azureml(tmp_path: Path) -> None:
    doc = {"name": "dep1", "endpoint_name": "bep1", "type": "model", "model": "azureml:heart-classifier@latest",
           "compute": "azureml:batch-cluster", "resources": {"instance_count": 2}, "settings": {"mini_batch_size": 2}}  # fmt: skip
    with pytest.raises(ConvertError, match="is a model registered in an Azure ML workspace"):
        convert_doc(tmp_path, doc)
    with pytest.raises(ConvertError, match="names no type, which Azure ML reads from its registry"):
        convert_doc(tmp_path, doc, azureml=WORKSPACE)
    doc["model"] = {"path": "azureml:heart-classifier@latest", "type": "mlflow_model"}
    result = convert_doc(tmp_path, doc, azureml=WORKSPACE)
    assert result.objects[0]["spec"]["model"] == {"path": "azureml:heart-classifier@latest", "type": "mlflow"}


def test_an_environment_asset_is_a_warning_here_and_an_error_for_target_azureml(tmp_path: Path) -> None:
    doc = {**DEPLOYMENT, "environment": "azureml:AzureML-sklearn-1.0@latest"}
    result = convert_doc(tmp_path, doc)
    assert result.objects[-1]["spec"]["environment"] == {}
    assert any(
        "is an Azure ML environment asset; the scoring runtime image is used" in w for w in result.warnings
    )
    with pytest.raises(ConvertError, match="environment asset, which the manifest cannot name"):
        convert_doc(tmp_path, doc, azureml=WORKSPACE)


def test_in_place_plans_every_local_folder_and_makes_no_config_map() -> None:
    """``mlendpoints local``: code that would fit a ConfigMap is kept where it is, like the model."""
    result = convert(
        "managed/endpoint.yml", "managed/blue-deployment.yml", model_store="az://x", in_place=True
    )
    assert by_kind(result, "ConfigMap") == []
    [dep] = by_kind(result, "OnlineDeployment")
    planned = {u.uri: u.local for u in result.uploads}
    assert planned[dep["spec"]["model"]["path"]] == (DATA / "managed" / "model-1" / "model").resolve()
    assert (
        planned[dep["spec"]["codeConfiguration"]["code"]]
        == (DATA / "managed" / "model-1" / "onlinescoring").resolve()
    )
