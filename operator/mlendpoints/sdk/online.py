"""``ml_client.online_endpoints`` and ``ml_client.online_deployments``: azure-ai-ml's online operations
on the cluster, through the CLI's code (:mod:`mlendpoints.azcli.ops`: keys, invoke, logs).

Signatures follow azure-ai-ml 1.35's ``OnlineEndpointOperations``/``OnlineDeploymentOperations``;
``local=True`` (Azure's Docker mode) is refused with a TypeError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from azure.ai.ml import entities as e
from azure.core.exceptions import HttpResponseError

from mlendpoints.azcli import ops
from mlendpoints.sdk import readback
from mlendpoints.sdk.poller import Poller, finished
from mlendpoints.sdk.workspace import Workspace, translated

ENDPOINT, DEPLOYMENT = "OnlineEndpoint", "OnlineDeployment"


def _no_local(local: bool) -> None:
    if local:
        raise TypeError(
            "local=True: not supported (Azure's local Docker mode; mlendpoints.sdk works on a cluster)"
        )


class OnlineEndpointOperations:
    """``begin_create_or_update``, ``get``, ``list``, ``begin_delete``, ``invoke``, ``get_keys``,
    ``begin_regenerate_keys``."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def begin_create_or_update(self, endpoint: Any, *, local: bool = False) -> Poller[e.OnlineEndpoint]:
        """Apply a ``ManagedOnlineEndpoint``/``KubernetesOnlineEndpoint`` (traffic included); the
        poller's ``result()`` is the endpoint once Ready."""
        _no_local(local)
        return self._ws.apply(endpoint, ENDPOINT)

    def get(self, name: str, *, local: bool = False) -> e.OnlineEndpoint:
        """The endpoint as an entity (traffic, scoring_uri, provisioning_state).

        Raises:
            ResourceNotFoundError: no such endpoint in the namespace.
        """
        _no_local(local)
        return readback.online_endpoint(self._ws.read(ENDPOINT, name))

    def list(self, *, local: bool = False) -> list[e.OnlineEndpoint]:
        """The namespace's endpoints."""
        _no_local(local)
        return [readback.online_endpoint(o) for o in self._ws.list(ENDPOINT)]

    def begin_delete(self, name: str | None = None, *, local: bool = False) -> Poller[None]:
        """Delete the endpoint (its deployments go with it); ``result()`` returns once it is gone."""
        _no_local(local)
        if not name:
            raise TypeError("begin_delete: name is required")
        return self._ws.delete(ENDPOINT, name)

    def get_keys(self, name: str) -> e.EndpointAuthKeys:
        """The endpoint's primary and secondary keys (auth_mode key).

        Raises:
            MlEndpointsError: the endpoint uses no keys, or the operator has not written them yet.
        """
        with translated():
            keys = ops.keys(self._ws.session(), name)
        return e.EndpointAuthKeys(primary_key=keys.get("primaryKey"), secondary_key=keys.get("secondaryKey"))

    def begin_regenerate_keys(self, name: str, *, key_type: str = "primary") -> Poller[None]:
        """Rotate one key (``primary`` or ``secondary``); waits until the operator has written it.

        Raises:
            ValueError: another key_type.
            MlEndpointsError: the endpoint uses no keys, or the rotation is not done within 60 s.
        """
        if key_type not in ("primary", "secondary"):
            raise ValueError(f"key_type: {key_type!r} is not one of primary, secondary")
        with translated():
            ops.regenerate(self._ws.session(), name, key_type, 60)
        return finished(None, f"regenerate {key_type} key of {name}")

    def invoke(
        self,
        endpoint_name: str,
        *,
        request_file: str | None = None,
        deployment_name: str | None = None,
        local: bool = False,
        **kwargs: Any,
    ) -> str:
        """POST the request file to the endpoint's scoring URI with its key (pinned to ``deployment_name``
        by the ``azureml-model-deployment`` header), as ``online-endpoint invoke`` does.

        Returns:
            The response body (text).

        Raises:
            ValueError: no request_file (``input_data``/``params_override`` are not supported).
            HttpResponseError: the endpoint answered 4xx/5xx (status_code and body in the message).
        """
        _no_local(local)
        if request_file is None or kwargs:
            unsupported = ", ".join(sorted(kwargs)) or "no request_file"
            raise ValueError(f"invoke: {unsupported}: give request_file (a JSON file)")
        with translated():
            status, body = ops.invoke(
                self._ws.session(),
                endpoint_name,
                Path(request_file).read_bytes(),
                deployment=deployment_name,
                scoring_uri=None,
                timeout=60,
            )
        text = body.decode(errors="replace")
        if status >= 400:
            error = HttpResponseError(message=f"the endpoint answered HTTP {status}: {text}")
            error.status_code = status
            raise error
        return text


class OnlineDeploymentOperations:
    """``begin_create_or_update``, ``get``, ``list``, ``get_logs``, ``begin_delete``."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def begin_create_or_update(
        self, deployment: Any, *, local: bool = False, **kwargs: Any
    ) -> Poller[e.OnlineDeployment]:
        """Apply a ``ManagedOnlineDeployment``/``KubernetesOnlineDeployment`` (local model and code
        folders are uploaded as ``online-deployment create`` uploads them); ``result()`` is the
        deployment once Ready (its pods serve). ``skip_script_validation`` and other Azure kwargs are
        accepted and have no effect."""
        _no_local(local)
        return self._ws.apply(deployment, DEPLOYMENT)

    def get(self, name: str, endpoint_name: str, *, local: bool = False) -> e.OnlineDeployment:
        """The deployment as an entity.

        Raises:
            ResourceNotFoundError: no such deployment of that endpoint.
        """
        _no_local(local)
        obj = self._ws.read(DEPLOYMENT, name)
        if (obj.get("spec") or {}).get("endpointName") != endpoint_name:
            from azure.core.exceptions import ResourceNotFoundError

            raise ResourceNotFoundError(
                message=f"OnlineDeployment {name} of endpoint {endpoint_name} not found"
            )
        return readback.online_deployment(obj)

    def list(self, endpoint_name: str, *, local: bool = False) -> list[e.OnlineDeployment]:
        """The endpoint's deployments."""
        _no_local(local)
        return [
            readback.online_deployment(o)
            for o in self._ws.list(DEPLOYMENT)
            if (o.get("spec") or {}).get("endpointName") == endpoint_name
        ]

    def get_logs(
        self,
        name: str,
        endpoint_name: str,
        lines: int,
        *,
        container_type: str | None = None,
        local: bool = False,
    ) -> str:
        """The last ``lines`` of the newest pod's log; ``container_type`` ``inference-server`` (default)
        or ``storage-initializer``, as ``online-deployment get-logs`` reads it.

        Raises:
            MlEndpointsError: no pod yet, an unknown container, or one not started yet (says which).
        """
        _no_local(local)
        with translated():
            return ops.logs(
                self._ws.session(),
                endpoint_name,
                name,
                lines=lines,
                container=container_type or "inference-server",
            )

    def begin_delete(self, name: str, endpoint_name: str, *, local: bool = False) -> Poller[None]:
        """Delete the deployment (move its traffic away first); ``result()`` returns once it is gone."""
        self.get(name, endpoint_name, local=local)
        return self._ws.delete(DEPLOYMENT, name)
