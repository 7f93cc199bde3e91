"""The seeds' azure-ai-ml code, with ``from mlendpoints.sdk import MLClient``, served by real pods.

On the e2e dev cluster (process nodes run the pods, Traefik serves the Gateway, Azurite stores
blobs): an endpoint, a blue deployment of an MLflow model from a local folder (uploaded to the
namespace's Azurite by itself), traffic 100 through ``begin_create_or_update(endpoint)``, invoke
with a request file through the gateway with the endpoint's key, get_keys, get_logs; then a batch
endpoint and an MLflow batch deployment of the same folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import (
    BatchEndpoint,
    BatchRetrySettings,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
)
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential

from mlendpoints.sdk import MLClient
from tests.e2e import helpers

pytestmark = pytest.mark.timeout(600)


def mlflow_folder(tmp_path: Path) -> tuple[Path, list[list[float]], float]:
    """The blue diabetes regressor as an MLflow model; returns (folder, request row, its prediction)."""
    import mlflow.sklearn
    import numpy as np
    from mlflow.models import infer_signature

    from mlendpoints_dev import demoscore

    trained = demoscore._diabetes_models()
    row = np.array(trained["row"])
    folder = tmp_path / "model"
    mlflow.sklearn.save_model(
        trained["blue"], str(folder), signature=infer_signature(row, trained["blue"].predict(row)),
        serialization_format="cloudpickle",
    )  # fmt: skip
    return folder, trained["row"], round(float(trained["blue"].predict(row)[0]), 6)


def test_the_seeds_sdk_code_serves_and_invokes(
    cluster: Any, ns: str, scoring: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, row, expected = mlflow_folder(tmp_path)
    # The cluster's choices come from the environment, as a user would export them ...
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.setenv("MLENDPOINTS_NAMESPACE", ns)
    monkeypatch.setenv("MLENDPOINTS_GATEWAY", f"{helpers.GATEWAY_NAMESPACE}/{helpers.GATEWAY_NAME}")
    monkeypatch.setenv("MLENDPOINTS_INSTANCE_TYPES", f"Standard_DS3_v2={helpers.INSTANCE_TYPE}")
    # ... so the seeds' constructor call is theirs, unchanged.
    ml_client = MLClient(DefaultAzureCredential(), "subscription-id", "resource-group", "workspace")

    # --- the seeds' code from here on, unchanged ---
    endpoint = ManagedOnlineEndpoint(name="sdk-seeds", description="seeds", auth_mode="key")
    ml_client.online_endpoints.begin_create_or_update(endpoint).result()
    blue = ManagedOnlineDeployment(
        name="blue",
        endpoint_name="sdk-seeds",
        model=Model(path=str(folder), type=AssetTypes.MLFLOW_MODEL),
        instance_type="Standard_DS3_v2",
        instance_count=1,
    )
    ml_client.online_deployments.begin_create_or_update(blue).result()
    endpoint.traffic = {"blue": 100}
    ml_client.begin_create_or_update(endpoint).result()

    request = tmp_path / "request.json"
    request.write_text(json.dumps({"input_data": row}))
    deadline = time.monotonic() + 60
    while True:  # Traefik applies the route a moment after the operator writes it
        try:
            response = ml_client.online_endpoints.invoke(endpoint_name="sdk-seeds", request_file=str(request))
            break
        except HttpResponseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    pinned = ml_client.online_endpoints.invoke(
        endpoint_name="sdk-seeds", request_file=str(request), deployment_name="blue"
    )
    keys = ml_client.online_endpoints.get_keys(name="sdk-seeds")
    logs = ml_client.online_deployments.get_logs(name="blue", endpoint_name="sdk-seeds", lines=50)
    init_logs = ml_client.online_deployments.get_logs(
        name="blue", endpoint_name="sdk-seeds", lines=50, container_type="storage-initializer"
    )
    got = ml_client.online_endpoints.get(name="sdk-seeds")
    # --- end of the seeds' online code ---

    assert [round(float(p), 6) for p in json.loads(response)] == [expected]
    assert [round(float(p), 6) for p in json.loads(pinned)] == [expected]
    assert keys.primary_key
    assert keys.secondary_key
    assert keys.primary_key != keys.secondary_key
    assert logs.strip()
    assert "sdk-seeds/blue-model/" in init_logs  # the uploaded folder's az:// URI
    assert (got.traffic, got.provisioning_state) == ({"blue": 100}, "Succeeded")
    assert got.scoring_uri
    assert got.scoring_uri.startswith(scoring["gateway_url"])
    wrong_key = helpers.post(got.scoring_uri, row, "not-the-key")
    assert wrong_key.status_code == 401

    # --- the seeds' batch code ---
    batch_endpoint = BatchEndpoint(name="sdk-seeds-batch", description="seeds batch")
    ml_client.batch_endpoints.begin_create_or_update(batch_endpoint).result()
    batch_deployment = ModelBatchDeployment(
        name="mlflow-batch",
        endpoint_name="sdk-seeds-batch",
        model=Model(path=str(folder), type=AssetTypes.MLFLOW_MODEL),
        settings=ModelBatchDeploymentSettings(
            mini_batch_size=10, instance_count=1, retry_settings=BatchRetrySettings(max_retries=1, timeout=60)
        ),
    )
    created = ml_client.batch_deployments.begin_create_or_update(batch_deployment).result()
    assert (created.provisioning_state, created.model.type) == ("Succeeded", "mlflow_model")
    assert created.model.path.startswith("az://mlendpoints-uploads/sdk-seeds-batch/mlflow-batch-model/")
