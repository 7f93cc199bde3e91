"""``mlendpoints.sdk.MLClient`` with azure-ai-ml's own entities against the real control plane.

The operator runs as a process (tests/integration/conftest.py) and kwok runs the pods, so this
covers create/update/get/list/delete, traffic, keys, Stalled, warnings and batch; serving,
invoke and pod logs of real pods are in tests/e2e/test_sdk.py.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from azure.ai.ml import Input
from azure.ai.ml import entities as e
from azure.core.exceptions import ResourceNotFoundError

from mlendpoints.sdk import MLClient, MlEndpointsError, MlEndpointsWarning, StalledError
from tests.integration.conftest import get

pytestmark = pytest.mark.usefixtures("operator", "fake_gateway")
MODEL = "https://models.example.com/m/1/"


def client(cluster: Any, namespace: str, **extra: Any) -> MLClient:
    # the seeds' positional arguments, plus where the cluster is
    return MLClient(
        object(),
        "sub",
        "rg",
        "ws",
        kubeconfig=str(cluster.kubeconfig),
        namespace=namespace,
        gateway="gw",
        **extra,
    )


def mlflow_model() -> e.Model:
    return e.Model(name="heart", version="1", path=MODEL, type="mlflow_model")


def test_online_endpoint_and_deployment_lifecycle(cluster: Any, namespace: str) -> None:
    ml_client = client(cluster, namespace)
    endpoint = e.ManagedOnlineEndpoint(name="sdk-ep", auth_mode="key", description="seeds")
    created = ml_client.online_endpoints.begin_create_or_update(endpoint).result()
    assert isinstance(created, e.ManagedOnlineEndpoint)
    assert (created.name, created.provisioning_state, created.description) == ("sdk-ep", "Succeeded", "seeds")
    assert get(cluster, "oep", "sdk-ep", namespace)["spec"]["routing"]["parentRefs"] == [{"name": "gw"}]  # type: ignore[index]

    blue = e.ManagedOnlineDeployment(
        name="blue",
        endpoint_name="sdk-ep",
        model=mlflow_model(),
        instance_type="Standard_DS2_v2",
        instance_count=1,
        egress_public_network_access="disabled",
    )
    with pytest.warns(MlEndpointsWarning) as warned:
        dep = ml_client.online_deployments.begin_create_or_update(blue).result()
    assert (
        "ManagedOnlineDeployment blue: egress_public_network_access: ignored (egress is the cluster's NetworkPolicy)"
        in [str(w.message) for w in warned]
    )
    assert (dep.name, dep.endpoint_name, dep.provisioning_state) == ("blue", "sdk-ep", "Succeeded")
    assert (dep.model.path, dep.model.type, dep.instance_type) == (MODEL, "mlflow_model", "standard-ds2-v2")
    assert get(cluster, "odep", "blue", namespace)["status"]["readyReplicas"] == 1  # type: ignore[index]

    endpoint.traffic = {"blue": 100}
    routed = ml_client.begin_create_or_update(endpoint).result()
    assert routed.traffic == {"blue": 100}
    assert get(cluster, "oep", "sdk-ep", namespace)["status"]["traffic"] == {"blue": 100}  # type: ignore[index]
    got = ml_client.online_endpoints.get("sdk-ep")
    assert (got.traffic, got.provisioning_state) == ({"blue": 100}, "Succeeded")
    assert got.scoring_uri == get(cluster, "oep", "sdk-ep", namespace)["status"]["scoringUri"]  # type: ignore[index]
    assert [x.name for x in ml_client.online_endpoints.list()] == ["sdk-ep"]
    assert [x.name for x in ml_client.online_deployments.list(endpoint_name="sdk-ep")] == ["blue"]
    assert ml_client.online_deployments.get("blue", "sdk-ep").instance_count == 1

    data = get(cluster, "secret", "sdk-ep-keys", namespace)["data"]  # type: ignore[index]
    secret = {k: base64.b64decode(v).decode() for k, v in data.items()}
    keys = ml_client.online_endpoints.get_keys("sdk-ep")
    assert (keys.primary_key, keys.secondary_key) == (secret["primaryKey"], secret["secondaryKey"])
    ml_client.online_endpoints.begin_regenerate_keys("sdk-ep", key_type="secondary").result()
    rotated = ml_client.online_endpoints.get_keys("sdk-ep")
    assert rotated.primary_key == keys.primary_key
    assert rotated.secondary_key != keys.secondary_key

    with pytest.raises(MlEndpointsError, match="has no container 'nope'"):
        ml_client.online_deployments.get_logs("blue", "sdk-ep", 10, container_type="nope")
    with pytest.raises(ResourceNotFoundError, match="OnlineDeployment blue of endpoint other-ep not found"):
        ml_client.online_deployments.get("blue", "other-ep")

    ml_client.online_endpoints.begin_delete(name="sdk-ep").result()
    with pytest.raises(
        ResourceNotFoundError, match=f"OnlineEndpoint sdk-ep not found in namespace {namespace}"
    ):
        ml_client.online_endpoints.get("sdk-ep")


def test_a_stalled_deployment_raises_with_its_status_message(cluster: Any, namespace: str) -> None:
    ml_client = client(cluster, namespace)
    ml_client.begin_create_or_update(e.ManagedOnlineEndpoint(name="sdk-ep")).result()
    bad = e.KubernetesOnlineDeployment(
        name="blue", endpoint_name="sdk-ep", model=mlflow_model(), instance_type="no-such-instancetype"
    )
    poller = ml_client.online_deployments.begin_create_or_update(bad)
    with pytest.raises(StalledError, match=r"^OnlineDeployment blue is Stalled: .*no-such-instancetype"):
        poller.result(timeout=120)
    assert poller.status() == "Failed"
    assert ml_client.online_deployments.get("blue", "sdk-ep").provisioning_state == "Failed"


def test_a_deployment_name_of_another_endpoint_is_refused_before_applying(
    cluster: Any, namespace: str
) -> None:
    ml_client = client(cluster, namespace)
    ml_client.begin_create_or_update(e.ManagedOnlineEndpoint(name="sdk-ep")).result()
    ml_client.begin_create_or_update(
        e.ManagedOnlineDeployment(name="blue", endpoint_name="sdk-ep", model=mlflow_model())
    ).result()
    other = e.ManagedOnlineDeployment(name="blue", endpoint_name="other-ep", model=mlflow_model())
    with pytest.raises(
        MlEndpointsError, match=f"OnlineDeployment blue already exists in {namespace} for endpoint sdk-ep"
    ):
        ml_client.online_deployments.begin_create_or_update(other)


def test_batch_endpoint_mlflow_deployment_and_invoke(cluster: Any, namespace: str) -> None:
    ml_client = client(cluster, namespace)
    endpoint = e.BatchEndpoint(name="heart-batch", description="batch")
    got = ml_client.batch_endpoints.begin_create_or_update(endpoint).result()
    assert (got.name, got.provisioning_state) == ("heart-batch", "Succeeded")
    deployment = e.ModelBatchDeployment(
        name="heart-mlflow",
        endpoint_name="heart-batch",
        model=mlflow_model(),
        compute="cpu-cluster",
        settings=e.ModelBatchDeploymentSettings(
            mini_batch_size=2,
            instance_count=1,
            retry_settings=e.BatchRetrySettings(max_retries=1, timeout=60),
        ),
    )
    with pytest.warns(MlEndpointsWarning, match="compute: azureml:cpu-cluster ignored"):
        dep = ml_client.batch_deployments.begin_create_or_update(deployment).result()
    assert (dep.settings.mini_batch_size, dep.provisioning_state) == (2, "Succeeded")
    spec = get(cluster, "bdep", "heart-mlflow", namespace)["spec"]  # type: ignore[index]
    assert spec["settings"]["retrySettings"] == {"maxRetries": 1, "timeout": 60}
    assert ml_client.batch_deployments.get("heart-mlflow", "heart-batch").model.type == "mlflow_model"

    job = ml_client.batch_endpoints.invoke(
        endpoint_name="heart-batch",
        deployment_name="heart-mlflow",
        inputs={"heart": Input(type="uri_folder", path="az://data/heart/")},
        job_name="sdk-job-one",
    )
    assert job.name == "sdk-job-one"
    created = get(cluster, "bjob", "sdk-job-one", namespace)
    assert created["spec"]["inputs"] == {"heart": {"type": "uri_folder", "path": "az://data/heart/"}}  # type: ignore[index]
    assert created["spec"]["deploymentName"] == "heart-mlflow"  # type: ignore[index]
    with pytest.raises(ValueError, match=r"inputs.local: ./data is a local path"):
        ml_client.batch_endpoints.invoke(
            "heart-batch", inputs={"local": Input(type="uri_folder", path="./data")}
        )
    # the client's store Secret gives the object-store input its credentials
    client(cluster, namespace, store_secret="store-creds").batch_endpoints.invoke(
        endpoint_name="heart-batch",
        inputs={"heart": Input(type="uri_folder", path="az://data/heart/")},
        job_name="sdk-job-two",
    )
    two = get(cluster, "bjob", "sdk-job-two", namespace)["spec"]  # type: ignore[index]
    assert two["inputs"]["heart"]["credentialsSecretRef"] == {"name": "store-creds"}
