"""MLClient's constructor and dispatch, before any cluster request (mlendpoints.sdk.client)."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.ai.ml import entities as e

from mlendpoints.sdk import MLClient, MlEndpointsError, UnsupportedEntity


def test_the_azure_constructor_call_works_and_is_recorded(tmp_path: Path) -> None:
    credential = object()
    client = MLClient(
        credential, "sub-1", "rg-1", "ws-1", polling_interval=1, kubeconfig=str(tmp_path / "none")
    )
    assert (client.credential, client.subscription_id, client.resource_group_name, client.workspace_name) == (
        credential, "sub-1", "rg-1", "ws-1"
    )  # fmt: skip
    # no request until the first operation; then one line naming what is wrong
    with pytest.raises(MlEndpointsError, match=r"^connecting to the cluster: "):
        client.online_endpoints.get("ep1")


def test_unsupported_entities_are_refused_before_the_cluster(tmp_path: Path) -> None:
    client = MLClient(kubeconfig=str(tmp_path / "none"))
    with pytest.raises(UnsupportedEntity, match=r"^Model: not supported"):
        client.begin_create_or_update(e.Model(name="m", version="1", path="https://x/m/"))
    with pytest.raises(
        UnsupportedEntity, match=r"^ManagedOnlineDeployment blue: this operation takes a OnlineEndpoint"
    ):
        client.online_endpoints.begin_create_or_update(
            e.ManagedOnlineDeployment(name="blue", endpoint_name="ep1")
        )
    with pytest.raises(TypeError, match="local=True: not supported"):
        client.online_endpoints.begin_create_or_update(e.ManagedOnlineEndpoint(name="ep1"), local=True)
    with pytest.raises(ValueError, match="key_type: 'tertiary' is not one of primary, secondary"):
        client.online_endpoints.begin_regenerate_keys("ep1", key_type="tertiary")


def test_cluster_choices_default_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The seeds' constructor call, unchanged: the cluster's choices come from MLENDPOINTS_* variables."""
    monkeypatch.setenv("MLENDPOINTS_GATEWAY", "infra/shared")
    monkeypatch.setenv("MLENDPOINTS_MODEL_STORE", "az://models/team-a")
    monkeypatch.setenv("MLENDPOINTS_STORE_SECRET", "store-conn")
    monkeypatch.setenv("MLENDPOINTS_INSTANCE_TYPES", "Standard_DS3_v2=cpu-small Standard_NC6s_v3=gpu-t4")
    client = MLClient(object(), "sub", "rg", "ws")
    store = client._workspace.store
    assert store.gateway == "infra/shared"
    assert store.model_store == "az://models/team-a"
    assert store.store_secret == "store-conn"
    assert store.instance_types == {"Standard_DS3_v2": "cpu-small", "Standard_NC6s_v3": "gpu-t4"}
    explicit = MLClient(object(), "sub", "rg", "ws", gateway="other", instance_types={})
    assert explicit._workspace.store.gateway == "other"
    assert explicit._workspace.store.instance_types == {}


def test_a_bad_instance_types_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLENDPOINTS_INSTANCE_TYPES", "Standard_DS3_v2")
    with pytest.raises(Exception, match="MLENDPOINTS_INSTANCE_TYPES") as info:
        MLClient(object(), "sub", "rg", "ws")
    assert "expected NAME=VALUE" in str(info.value)
