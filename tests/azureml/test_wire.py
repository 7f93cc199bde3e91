"""CR -> mapping -> the real azure-ai-ml client -> HTTP bodies on the wire, asserted field by field.

The fake ARM server (tests/azureml/fake_arm.py) records every request; nothing is mocked between
the custom resource and the socket except Azure itself.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from mlendpoints.api.v1alpha1 import (
    BatchDeployment,
    BatchEndpoint,
    BatchJob,
    OnlineDeployment,
    OnlineEndpoint,
)
from mlendpoints.backends.azureml import mapping
from tests.azureml.conftest import SUB, ws, ws_path
from tests.azureml.fake_arm import FakeArm

AZ = {"subscriptionId": SUB, "resourceGroup": "rg1", "workspaceName": "ws1"}
META = {"namespace": "ns1", "uid": "0b7c4a4e-1111-2222-3333-444455556666"}


def endpoint(**spec: Any) -> OnlineEndpoint:
    return OnlineEndpoint.model_validate(
        {"metadata": {"name": "credit", **META}, "spec": {"target": "azureml", "azureml": AZ, **spec}}
    )


def deployment(name: str = "blue", **spec: Any) -> OnlineDeployment:
    base = {
        "endpointName": "credit",
        "model": {"path": "azureml:credit-model:3"},
        "codeConfiguration": {"code": "azureml:credit-code:1", "scoringScript": "score.py"},
        "environment": {"image": "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py311-cpu-inference:latest"},
        "instanceType": "Standard_DS3_v2",
    }
    return OnlineDeployment.model_validate({"metadata": {"name": name, **META}, "spec": {**base, **spec}})


def wait_settled(fake: FakeArm, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        res = fake.resource(path)
        if res is not None and res["properties"]["provisioningState"] in ("Succeeded", "Failed"):
            return res
        time.sleep(0.05)
    raise AssertionError(f"{path} did not settle")


def put_body(fake: FakeArm, suffix: str) -> dict[str, Any]:
    puts = fake.calls("PUT", suffix + "$")
    assert puts, f"no PUT to {suffix}"
    body: dict[str, Any] = puts[-1].body
    return body


def test_managed_online_endpoint_with_traffic_and_mirror(fake: FakeArm, azure: Any, cred: Any) -> None:
    ep = endpoint(
        authMode="key",
        description="credit scoring",
        tags={"team": "risk"},
        traffic={"blue": 90, "green": 10, "old": 0},
        mirrorTraffic={"shadow": 20},
        azureml={**AZ, "publicNetworkAccess": "disabled"},
    )
    mapped = mapping.online_endpoint(ep, traffic=dict(ep.spec.traffic), mirror=dict(ep.spec.mirror_traffic))
    azure.put_online_endpoint(ws(), cred, mapped.spec, "k")
    put = fake.calls("PUT", "/onlineEndpoints/credit$")[-1]
    assert put.api_version == "2022-02-01-preview"
    assert put.headers["Authorization"].startswith("Bearer tok-")
    body = put.body
    assert body["location"] == "eastus"
    assert body["tags"] == {"team": "risk"}
    assert body["identity"] == {"type": "SystemAssigned"}
    props = body["properties"]
    assert props["authMode"] == "Key"
    assert props["description"] == "credit scoring"
    assert props["traffic"] == {"blue": 90, "green": 10}  # zero entries are not sent
    assert props["mirrorTraffic"] == {"shadow": 20}
    assert props["publicNetworkAccess"] == "disabled"
    assert "compute" not in props


def test_kubernetes_online_endpoint_and_auth_modes(fake: FakeArm, azure: Any, cred: Any) -> None:
    ep = endpoint(authMode="amlToken", azureml={**AZ, "compute": "k8s-compute"})
    mapped = mapping.online_endpoint(ep, traffic={}, mirror={})
    azure.put_online_endpoint(ws(), cred, mapped.spec, "k")
    props = put_body(fake, "/onlineEndpoints/credit")["properties"]
    assert props["authMode"] == "AMLToken"
    assert props["compute"] == ws_path() + "/computes/k8s-compute"
    assert props["traffic"] == {}
    ep2 = endpoint(authMode="aadToken")
    assert mapping.online_endpoint(ep2, traffic={}, mirror={}).spec["auth_mode"] == "aad_token"


def test_managed_online_deployment_every_field(fake: FakeArm, azure: Any, cred: Any) -> None:
    azure.put_online_endpoint(
        ws(), cred, mapping.online_endpoint(endpoint(), traffic={}, mirror={}).spec, "e"
    )
    wait_settled(fake, ws_path() + "/onlineEndpoints/credit")
    dep = deployment(
        instanceCount=3,
        requestSettings={
            "requestTimeoutMs": 90000,
            "maxConcurrentRequestsPerInstance": 4,
            "maxQueueWaitMs": 500,
        },
        livenessProbe={"initialDelay": 20, "period": 15, "timeout": 3, "failureThreshold": 5},
        readinessProbe={"initialDelay": 5},
        environmentVariables={"FOO": "bar"},
        appInsightsEnabled=True,
        dataCollector={"enabled": True, "samplingRate": 0.25},
        modelMountPath="/models",
        description="blue one",
        tags={"v": "3"},
        environment={
            "image": "myacr.azurecr.io/scoring:1",
            "condaFile": "name: env\ndependencies:\n- python=3.11\n- pip:\n  - scikit-learn==1.5.0\n",
            "pipRequirements": ["pandas==2.2.2"],
        },
    )
    mapped = mapping.online_deployment(dep, endpoint())
    azure.put_online_deployment(ws(), cred, mapped.spec, "d")
    put = fake.calls("PUT", "/onlineEndpoints/credit/deployments/blue$")[-1]
    assert put.api_version == "2023-04-01-preview"
    body = put.body
    assert body["sku"] == {"name": "Default", "capacity": 3}
    assert body["tags"] == {"v": "3"}
    p = body["properties"]
    assert p["endpointComputeType"] == "Managed"
    assert p["model"] == ws_path() + "/models/credit-model/versions/3"
    assert p["codeConfiguration"] == {
        "codeId": ws_path() + "/codes/credit-code/versions/1",
        "scoringScript": "score.py",
    }
    assert p["instanceType"] == "Standard_DS3_v2"
    assert p["scaleSettings"] == {"scaleType": "Default"}
    assert p["requestSettings"] == {
        "requestTimeout": "PT1M30S",
        "maxConcurrentRequestsPerInstance": 4,
        "maxQueueWait": "PT0.5S",
    }
    assert p["livenessProbe"] == {
        "initialDelay": "PT20S",
        "period": "PT15S",
        "timeout": "PT3S",
        "successThreshold": 1,
        "failureThreshold": 5,
    }
    assert p["readinessProbe"] == {
        "initialDelay": "PT5S",
        "period": "PT10S",
        "timeout": "PT2S",
        "successThreshold": 1,
        "failureThreshold": 30,
    }
    assert p["environmentVariables"] == {"FOO": "bar"}
    assert p["appInsightsEnabled"] is True
    assert p["modelMountPath"] == "/models"
    assert p["description"] == "blue one"
    assert p["dataCollector"]["collections"] == {
        c: {
            "dataCollectionMode": "enabled",
            "samplingRate": 0.25,
            "dataId": ws_path() + f"/data/credit-blue-{c}/versions/1",
        }
        for c in ("model_inputs", "model_outputs")
    }
    # The anonymous environment: image + conda file with the pip requirements appended.
    env_put = fake.calls("PUT", "/environments/CliV2AnonymousEnvironment/versions/")[-1].body["properties"]
    assert p["environmentId"].endswith(
        fake.calls("PUT", "/environments/")[-1].path.split("/workspaces/ws1")[1]
    )
    assert env_put["image"] == "myacr.azurecr.io/scoring:1"
    assert "scikit-learn==1.5.0" in env_put["condaFile"]
    assert "pandas==2.2.2" in env_put["condaFile"]


def test_kubernetes_online_deployment_autoscale_and_resources(fake: FakeArm, azure: Any, cred: Any) -> None:
    k8s = endpoint(azureml={**AZ, "compute": "k8s-compute"})
    azure.put_online_endpoint(ws(), cred, mapping.online_endpoint(k8s, traffic={}, mirror={}).spec, "e")
    wait_settled(fake, ws_path() + "/onlineEndpoints/credit")
    dep = deployment(
        instanceType="defaultinstancetype",
        scaleSettings={
            "type": "targetUtilization",
            "minInstances": 1,
            "maxInstances": 3,
            "pollingInterval": 10,
            "targetUtilizationPercentage": 70,
        },
        resources={
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"},
        },
    )
    azure.put_online_deployment(ws(), cred, mapping.online_deployment(dep, k8s).spec, "d")
    p = put_body(fake, "/deployments/blue")["properties"]
    assert p["endpointComputeType"] == "Kubernetes"
    assert p["scaleSettings"] == {
        "scaleType": "TargetUtilization",
        "minInstances": 1,
        "maxInstances": 3,
        "pollingInterval": "PT10S",
        "targetUtilizationPercentage": 70,
    }
    assert p["containerResourceRequirements"] == {
        "containerResourceRequests": {"cpu": "500m", "memory": "1Gi"},
        "containerResourceLimits": {"cpu": "1", "memory": "2Gi", "gpu": "1"},
    }


def test_batch_endpoint_deployment_and_invoke(fake: FakeArm, azure: Any, cred: Any) -> None:
    bep = BatchEndpoint.model_validate(
        {
            "metadata": {"name": "scorer", **META},
            "spec": {"target": "azureml", "azureml": AZ, "description": "nightly", "tags": {"a": "b"}},
        }
    )
    azure.put_batch_endpoint(ws(), cred, mapping.batch_endpoint(bep, default_deployment=None).spec, "e")
    put = fake.calls("PUT", "/batchEndpoints/scorer$")[-1]
    assert put.api_version == "2023-10-01"
    assert put.body["tags"] == {"a": "b"}
    assert put.body["properties"]["authMode"] == "aadToken"
    assert put.body["properties"]["description"] == "nightly"
    assert "defaults" not in put.body["properties"] or not put.body["properties"]["defaults"].get(
        "deploymentName"
    )
    wait_settled(fake, ws_path() + "/batchEndpoints/scorer")
    bdep = BatchDeployment.model_validate(
        {
            "metadata": {"name": "bd1", **META},
            "spec": {
                "endpointName": "scorer",
                "model": {"path": "azureml:credit-model:3"},
                "codeConfiguration": {"code": "azureml:batch-code:2", "scoringScript": "batch_driver.py"},
                "environment": {"image": "azureml:sklearn-env:4"},
                "compute": "cpu-cluster",
                "settings": {
                    "miniBatchSize": 10,
                    "instanceCount": 2,
                    "maxConcurrencyPerInstance": 3,
                    "outputAction": "summaryOnly",
                    "outputFileName": "out.csv",
                    "retrySettings": {"maxRetries": 5, "timeout": 300},
                    "errorThreshold": 7,
                    "loggingLevel": "debug",
                    "environmentVariables": {"A": "1"},
                },
                "description": "d1",
                "tags": {"t": "1"},
            },
        }
    )
    azure.put_batch_deployment(ws(), cred, mapping.batch_deployment(bdep).spec, "d")
    put = fake.calls("PUT", "/batchEndpoints/scorer/deployments/bd1$")[-1]
    assert put.api_version == "2024-01-01-preview"
    p = put.body["properties"]
    assert p["model"] == {"assetId": ws_path() + "/models/credit-model/versions/3", "referenceType": "Id"}
    assert p["codeConfiguration"] == {
        "codeId": ws_path() + "/codes/batch-code/versions/2",
        "scoringScript": "batch_driver.py",
    }
    assert p["environmentId"] == ws_path() + "/environments/sklearn-env/versions/4"
    assert p["compute"] == ws_path() + "/computes/cpu-cluster"
    assert p["miniBatchSize"] == 10
    assert p["resources"]["instanceCount"] == 2
    assert p["maxConcurrencyPerInstance"] == 3
    assert p["outputAction"] == "SummaryOnly"
    assert "outputFileName" not in p  # Azure refuses it with summaryOnly; the mapping notes it as ignored
    assert p["retrySettings"] == {"maxRetries": 5, "timeout": "PT5M"}
    assert p["errorThreshold"] == 7
    assert p["loggingLevel"] == "debug"
    assert p["environmentVariables"] == {"A": "1"}
    assert p["description"] == "d1"
    assert put.body["tags"] == {"t": "1"}
    wait_settled(fake, ws_path() + "/batchEndpoints/scorer/deployments/bd1")
    azure.put_batch_endpoint(ws(), cred, mapping.batch_endpoint(bep, default_deployment="bd1").spec, "e")
    assert put_body(fake, "/batchEndpoints/scorer")["properties"]["defaults"] == {"deploymentName": "bd1"}
    wait_settled(fake, ws_path() + "/batchEndpoints/scorer")

    job = BatchJob.model_validate(
        {
            "metadata": {"name": "job1", **META},
            "spec": {
                "endpointName": "scorer",
                "inputs": {"heart": {"type": "uri_file", "path": "https://data.example/heart.csv"}},
                "output": {"path": "azureml://datastores/workspaceblobstore/paths/out/"},
            },
        }
    )
    spec = mapping.batch_job(job, "bd1").spec | {"job_name": "mlendpoints-job1"}
    info = azure.invoke_batch(ws(), cred, spec)
    assert info.name == "mlendpoints-job1"
    post = fake.calls("POST", "/batch/ws1/scorer/jobs$")[-1]
    assert post.headers["azureml-model-deployment"] == "bd1"
    assert post.body["properties"]["inputData"] == {
        "heart": {"jobInputType": "UriFile", "uri": "https://data.example/heart.csv"}
    }
    assert (
        post.body["properties"]["outputData"]["score"]["uri"]
        == "azureml://datastores/workspaceblobstore/paths/out/"
    )
    # The SDK's module-level invoke headers do not leak into the next call (guide §10.2).
    from azure.ai.ml.constants._endpoint import EndpointInvokeFields

    assert EndpointInvokeFields.DEFAULT_HEADER == {"Content-Type": "application/json"}
    deadline = time.monotonic() + 5
    while (got := azure.get_job(ws(), cred, info.name)).status != "Completed":
        assert time.monotonic() < deadline, got
        time.sleep(0.1)
    assert got.studio_url
    assert info.name in got.studio_url
    assert got.outputs == {"score": "azureml://datastores/workspaceblobstore/paths/out/"}


def test_failures_map_to_kinds(fake: FakeArm, azure: Any, cred: Any) -> None:
    from mlendpoints.clients.azureml import AzureFailure

    spec = mapping.online_endpoint(endpoint(), traffic={}, mirror={}).spec
    cases = [
        (409, {}, "conflict", None),
        (429, {"Retry-After": "7"}, "throttled", 7.0),
        (500, {}, "transient", None),
        (400, {}, "invalid", None),
    ]
    for status, headers, kind, retry in cases:
        fake.inject(
            "PUT",
            "/onlineEndpoints/credit$",
            status,
            code="Code" + str(status),
            message="boom",
            headers=headers,
        )
        with pytest.raises(AzureFailure) as err:
            azure.put_online_endpoint(ws(), cred, spec, "k")
        assert err.value.kind == kind, status
        assert err.value.retry_after == retry
        assert "boom" in err.value.message
    # A failed long-running operation: the error body comes back through the kept poller.
    fake.fail_next_lro("/onlineEndpoints/credit$", "QuotaExceeded", "Not enough quota for Standard_DS3_v2")
    azure.put_online_endpoint(ws(), cred, spec, "k")
    assert (
        wait_settled(fake, ws_path() + "/onlineEndpoints/credit")["properties"]["provisioningState"]
        == "Failed"
    )
    deadline = time.monotonic() + 5
    while (error := azure.operation_error("k")) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert error == "QuotaExceeded: Not enough quota for Standard_DS3_v2"


def test_bad_client_secret_is_an_auth_failure(fake: FakeArm, azure: Any) -> None:
    from mlendpoints.clients.azureml import AzureFailure, Credential

    bad = Credential(
        "secret",
        (("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "test-client"), ("AZURE_CLIENT_SECRET", "wrong")),
    )
    with pytest.raises(AzureFailure) as err:
        azure.get_online_endpoint(ws(), bad, "credit")
    assert err.value.kind == "auth"
    assert "wrong" not in err.value.message  # the secret never appears in messages
    assert not fake.calls("GET", "/onlineEndpoints/")  # nothing reached ARM without a token


def test_no_credential_says_what_to_provide(
    fake: FakeArm, azure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlendpoints.clients.azureml import AzureFailure, Credential

    for var in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(AzureFailure) as err:
        azure.get_online_endpoint(ws(), Credential("default"), "credit")
    assert err.value.kind == "auth"
    assert "secretRef" in err.value.message
    assert "workload identity" in err.value.message
    with pytest.raises(AzureFailure) as err:
        azure.get_online_endpoint(ws(), Credential("workloadIdentity"), "credit")
    assert "AZURE_FEDERATED_TOKEN_FILE" in err.value.message
    assert fake.requests == []


def test_client_leaves_no_process_global_cloud(fake: FakeArm, azure: Any, cred: Any) -> None:
    assert azure.get_online_endpoint(ws(), cred, "nothing-here") is None
    assert "AZUREML_CURRENT_CLOUD" not in os.environ


def test_deployment_get_without_scale_settings_does_not_crash(fake: FakeArm, azure: Any, cred: Any) -> None:
    azure.put_online_endpoint(
        ws(), cred, mapping.online_endpoint(endpoint(), traffic={}, mirror={}).spec, "e"
    )
    wait_settled(fake, ws_path() + "/onlineEndpoints/credit")
    azure.put_online_deployment(ws(), cred, mapping.online_deployment(deployment(), endpoint()).spec, "d")
    path = ws_path() + "/onlineEndpoints/credit/deployments/blue"
    wait_settled(fake, path)
    with fake.lock:
        fake.resources[path.lower()]["properties"].pop("scaleSettings")
    remote = azure.get_online_deployment(ws(), cred, "credit", "blue")
    assert remote is not None
    assert remote.state == "Succeeded"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: mapping.online_endpoint(endpoint(authMode="none"), traffic={}, mirror={}), "authMode"),
        (
            lambda: mapping.online_deployment(deployment(model={"path": "pvc://models/credit"}), endpoint()),
            "model.path",
        ),
        (
            lambda: mapping.online_deployment(
                deployment(codeConfiguration={"configMap": {"name": "code"}, "scoringScript": "score.py"}),
                endpoint(),
            ),
            "codeConfiguration.configMap",
        ),
        (
            lambda: mapping.online_deployment(
                deployment(scaleSettings={"type": "targetUtilization", "maxInstances": 3}), endpoint()
            ),
            "scaleSettings.type",
        ),
        (lambda: mapping.online_deployment(deployment(instanceType=None), endpoint()), "instanceType"),
        (lambda: mapping.online_deployment(deployment(environment={}), endpoint()), "environment.image"),
    ],
)
def test_unsupported_fields_are_rejected_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(mapping.Unsupported, match=field.replace(".", r"\.")):
        build()


def test_kubernetes_only_fields_are_ignored_with_a_note() -> None:
    ep = endpoint(routing={"type": "gatewayAPI"})
    assert mapping.online_endpoint(ep, traffic={}, mirror={}).notes == [
        "spec.routing (Azure ML serves its own scoring URI)"
    ]
    dep = deployment(
        resources={"limits": {"cpu": "2"}},
        model={"path": "azureml:m:1", "credentialsSecretRef": {"name": "s"}},
    )
    notes = mapping.online_deployment(dep, endpoint()).notes
    assert any(n.startswith("resources") for n in notes)
    assert any("credentialsSecretRef" in n for n in notes)


def test_spec_hash_follows_the_spec_not_the_read_back() -> None:
    a = mapping.online_deployment(deployment(requestSettings={"maxQueueWaitMs": 500}), endpoint())
    b = mapping.online_deployment(deployment(requestSettings={"maxQueueWaitMs": 500}), endpoint())
    c = mapping.online_deployment(deployment(requestSettings={"maxQueueWaitMs": 400}), endpoint())
    assert a.hash == b.hash != c.hash


@pytest.mark.parametrize("mode", ["workloadIdentity", "default"])
def test_workload_identity_exchanges_the_federated_token(
    fake: FakeArm, azure: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    from mlendpoints.clients.azureml import Credential

    token = tmp_path / "token"
    token.write_text("header.payload.")
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-wi")
    monkeypatch.setenv("AZURE_CLIENT_ID", "operator-identity")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token))
    assert azure.get_online_endpoint(ws(), Credential(mode), "credit") is None
    exchange = fake.calls("POST", "/tenant-wi/oauth2/v2.0/token$")[-1].body
    assert exchange["client_id"] == "operator-identity"
    assert exchange["client_assertion"] == "header.payload."
    assert exchange["scope"] == "https://management.azure.com/.default"
    assert (
        fake.calls("GET", "/onlineEndpoints/credit$")[-1].headers["Authorization"].startswith("Bearer tok-")
    )


def test_custom_container_routes_become_the_environments_inference_config(
    fake: FakeArm, azure: Any, cred: Any
) -> None:
    azure.put_online_endpoint(
        ws(), cred, mapping.online_endpoint(endpoint(), traffic={}, mirror={}).spec, "e"
    )
    wait_settled(fake, ws_path() + "/onlineEndpoints/credit")
    routes = {
        "livenessRoute": {"port": 8000, "path": "/v2/health/live"},
        "readinessRoute": {"port": 8000, "path": "/v2/health/ready"},
        "scoringRoute": {"port": 8000, "path": "/v2/models/m/infer"},
    }
    dep = deployment(
        model=None,
        codeConfiguration=None,
        environment={"image": "nvcr.io/nvidia/tritonserver:24.05-py3", "inferenceConfig": routes},
    )
    azure.put_online_deployment(ws(), cred, mapping.online_deployment(dep, endpoint()).spec, "d")
    env = fake.calls("PUT", "/environments/CliV2AnonymousEnvironment/versions/")[-1].body["properties"]
    assert env["image"] == "nvcr.io/nvidia/tritonserver:24.05-py3"
    assert env["inferenceConfig"] == routes
    p = put_body(fake, "/deployments/blue")["properties"]
    assert "model" not in p
    assert "codeConfiguration" not in p


def test_regenerate_keys_sends_the_current_key_and_changes_only_that_one(
    fake: FakeArm, azure: Any, cred: Any
) -> None:
    azure.put_online_endpoint(
        ws(), cred, mapping.online_endpoint(endpoint(), traffic={}, mirror={}).spec, "e"
    )
    wait_settled(fake, ws_path() + "/onlineEndpoints/credit")
    primary, secondary = azure.get_keys(ws(), cred, "credit")
    azure.regenerate_key(ws(), cred, "credit", "secondary")
    post = fake.calls("POST", "/onlineEndpoints/credit/regenerateKeys$")[-1]
    assert post.body == {"keyType": "Secondary", "keyValue": secondary}
    new_primary, new_secondary = azure.get_keys(ws(), cred, "credit")
    assert new_primary == primary
    assert new_secondary != secondary


def test_deletes_are_long_running_operations_that_end_in_404(fake: FakeArm, azure: Any, cred: Any) -> None:
    azure.put_online_endpoint(
        ws(), cred, mapping.online_endpoint(endpoint(), traffic={}, mirror={}).spec, "e"
    )
    wait_settled(fake, ws_path() + "/onlineEndpoints/credit")
    azure.put_online_deployment(ws(), cred, mapping.online_deployment(deployment(), endpoint()).spec, "d")
    wait_settled(fake, ws_path() + "/onlineEndpoints/credit/deployments/blue")
    azure.delete_online_deployment(ws(), cred, "credit", "blue", "d-del")
    assert (
        fake.calls("DELETE", "/onlineEndpoints/credit/deployments/blue$")[-1].api_version
        == "2023-04-01-preview"
    )
    assert azure.get_online_deployment(ws(), cred, "credit", "blue").state == "Deleting"
    deadline = time.monotonic() + 5
    while azure.get_online_deployment(ws(), cred, "credit", "blue") is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    azure.delete_online_endpoint(ws(), cred, "credit", "e-del")
    assert fake.calls("DELETE", "/onlineEndpoints/credit$")[-1].api_version == "2022-02-01-preview"
    while azure.get_online_endpoint(ws(), cred, "credit") is not None:
        assert time.monotonic() < deadline + 5
        time.sleep(0.05)
    assert azure.operation_error("e-del") is None


def test_a_failed_batch_job_is_reported_with_its_studio_url(fake: FakeArm, azure: Any, cred: Any) -> None:
    bep = BatchEndpoint.model_validate(
        {"metadata": {"name": "scorer", **META}, "spec": {"target": "azureml", "azureml": AZ}}
    )
    azure.put_batch_endpoint(ws(), cred, mapping.batch_endpoint(bep, default_deployment=None).spec, "e")
    wait_settled(fake, ws_path() + "/batchEndpoints/scorer")
    bdep = BatchDeployment.model_validate(
        {
            "metadata": {"name": "bd1", **META},
            "spec": {
                "endpointName": "scorer",
                "model": {"path": "azureml:m:1", "type": "mlflow"},
                "compute": "cpu-cluster",
                "settings": {"miniBatchSize": 10},
            },
        }
    )
    azure.put_batch_deployment(ws(), cred, mapping.batch_deployment(bdep).spec, "d")
    wait_settled(fake, ws_path() + "/batchEndpoints/scorer/deployments/bd1")
    fake.fail_next_job("scorer", "UserError", "run() raised ValueError in batch_driver.py")
    job = BatchJob.model_validate(
        {
            "metadata": {"name": "job2", **META},
            "spec": {"endpointName": "scorer", "inputs": {"d": {"path": "https://data.example/x/"}}},
        }
    )
    info = azure.invoke_batch(ws(), cred, mapping.batch_job(job, "bd1").spec)
    deadline = time.monotonic() + 5
    while (got := azure.get_job(ws(), cred, info.name)).status != "Failed":
        assert time.monotonic() < deadline, got
        time.sleep(0.1)
    assert got.studio_url is not None
    assert info.name in got.studio_url


def test_client_side_validation_is_rejected_before_any_request(fake: FakeArm, azure: Any, cred: Any) -> None:
    """The SDK's own checks raise MlException (here ValidationException for an endpoint name it
    refuses); that is the user's to fix, so it maps to ``invalid`` (AzureRejected) and nothing is sent."""
    from mlendpoints.clients.azureml import AzureFailure

    spec = mapping.online_endpoint(endpoint(), traffic={}, mirror={}).spec
    spec["name"] = "9-starts-with-a-digit"
    with pytest.raises(AzureFailure) as err:
        azure.put_online_endpoint(ws(), cred, spec, "k")
    assert err.value.kind == "invalid"
    assert err.value.message.startswith("(x) The name for an endpoint must start with"), err.value.message
    assert "\x1b" not in err.value.message
    assert "Resolutions" not in err.value.message
    assert not fake.calls("PUT", "/onlineEndpoints/")
