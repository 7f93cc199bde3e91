"""``MLClient``: azure-ai-ml's client surface for endpoints and deployments, on a Kubernetes cluster.

Code written for azure-ai-ml runs with one import changed::

    from mlendpoints.sdk import MLClient      # was: from azure.ai.ml import MLClient

The constructor takes azure-ai-ml's arguments (credential, subscription, resource group,
workspace: recorded, not used) and where the cluster is (``kubeconfig``, ``namespace``; default:
``KUBECONFIG`` and ``MLENDPOINTS_NAMESPACE`` or the kubeconfig context's namespace). See docs/sdk.md.
"""

from __future__ import annotations

import os
from typing import Any

import click

from mlendpoints.azcli import manifests
from mlendpoints.sdk import entities
from mlendpoints.sdk.batch import BatchDeploymentOperations, BatchEndpointOperations
from mlendpoints.sdk.online import OnlineDeploymentOperations, OnlineEndpointOperations
from mlendpoints.sdk.poller import Poller
from mlendpoints.sdk.workspace import Workspace


class MLClient:
    """The endpoint and deployment operations of azure-ai-ml's ``MLClient``, against a cluster.

    Args:
        credential: azure-ai-ml's credential (any object, or None); recorded, never used.
        subscription_id, resource_group_name, workspace_name: recorded (the attributes of the same
            name), never used.
        namespace: the Kubernetes namespace (default: ``MLENDPOINTS_NAMESPACE``, else the kubeconfig
            context's, else ``default``).
        kubeconfig: the kubeconfig file (default: ``KUBECONFIG``'s first file, else ``~/.kube/config``).
        model_store: ``az://CONTAINER/PREFIX`` local model folders are uploaded to (default:
            ``MLENDPOINTS_MODEL_STORE``, else on the dev cluster its Azurite), as ``create --model-store``.
        store_secret: the Secret with ``AZURE_STORAGE_CONNECTION_STRING`` for ``model_store``
            (default: ``MLENDPOINTS_STORE_SECRET``).
        instance_types: Azure VM size -> InstanceType name, as ``create --instance-type SIZE=NAME``
            (default: ``MLENDPOINTS_INSTANCE_TYPES``, space-separated ``SIZE=NAME`` items).
        gateway: ``[namespace/]name`` of the Gateway endpoints attach to, as ``create --gateway``
            (default: ``MLENDPOINTS_GATEWAY``).

    The defaults from the environment let the seeds' code run with only the import changed: the
    cluster-specific choices go in the environment (the same variables default the CLI's options).
        kwargs: azure-ai-ml's other keyword arguments (``cloud``, ``polling_interval``...); ignored.

    No request is made until the first operation; a cluster that cannot be reached then raises
    :class:`~mlendpoints.sdk.workspace.MlEndpointsError`.
    """

    def __init__(
        self,
        credential: Any = None,
        subscription_id: str | None = None,
        resource_group_name: str | None = None,
        workspace_name: str | None = None,
        *,
        namespace: str | None = None,
        kubeconfig: str | None = None,
        model_store: str | None = None,
        store_secret: str | None = None,
        instance_types: dict[str, str] | None = None,
        gateway: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.credential = credential
        self.subscription_id = subscription_id
        self.resource_group_name = resource_group_name
        self.workspace_name = workspace_name
        env = {arg: os.environ.get(var) or None for arg, var in manifests.ENV_DEFAULTS.items()}
        if instance_types is None and env["instance_types"]:
            instance_types = _env_instance_types(env["instance_types"])
        store = manifests.StoreOptions(
            model_store or env["model_store"],
            store_secret or env["store_secret"],
            dict(instance_types or {}),
            gateway or env["gateway"],
        )
        self._workspace = Workspace(namespace, kubeconfig, store)
        self.online_endpoints = OnlineEndpointOperations(self._workspace)
        self.online_deployments = OnlineDeploymentOperations(self._workspace)
        self.batch_endpoints = BatchEndpointOperations(self._workspace)
        self.batch_deployments = BatchDeploymentOperations(self._workspace)

    @property
    def namespace(self) -> str:
        """The namespace the operations work in (connects to the cluster)."""
        return self._workspace.session().namespace

    def begin_create_or_update(self, entity: Any, **kwargs: Any) -> Poller[Any]:
        """Apply an endpoint or deployment entity of any of the four kinds (dispatched by its class).

        Raises:
            UnsupportedEntity: another class (e.g. a Model, Environment or compute on its own).
        """
        entities.kind_of(entity)
        return self._workspace.apply(entity)

    def __repr__(self) -> str:
        return (
            f"MLClient(subscription_id={self.subscription_id!r}, resource_group_name="
            f"{self.resource_group_name!r}, workspace_name={self.workspace_name!r}, "
            f"namespace={self._workspace.namespace!r})"
        )


def _env_instance_types(value: str) -> dict[str, str]:
    """``MLENDPOINTS_INSTANCE_TYPES`` (``SIZE=NAME SIZE=NAME``) as a mapping.

    Raises:
        ValueError: an item without ``=``, naming the variable.
    """
    try:
        return manifests.parse_mappings(tuple(value.split()), "MLENDPOINTS_INSTANCE_TYPES")
    except click.BadParameter as exc:
        raise ValueError(f"MLENDPOINTS_INSTANCE_TYPES: {exc.message}") from exc
