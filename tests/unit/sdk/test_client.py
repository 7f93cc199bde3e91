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
