"""``ml_client.batch_endpoints`` and ``ml_client.batch_deployments``: azure-ai-ml's batch operations on
the cluster. ``invoke`` creates a BatchJob (:func:`mlendpoints.batchctl.job_manifest`, as
``batch-endpoint invoke`` does) and returns azure-ai-ml's ``BatchJob`` (name, status); follow it
with ``mlendpoints batch show JOB`` or ``kubectl get batchjob``.
"""

from __future__ import annotations

from typing import Any

from azure.ai.ml import entities as e

from mlendpoints import batchctl
from mlendpoints.convert import local
from mlendpoints.sdk import readback
from mlendpoints.sdk.poller import Poller
from mlendpoints.sdk.workspace import Workspace, translated

ENDPOINT, DEPLOYMENT = "BatchEndpoint", "BatchDeployment"


class BatchEndpointOperations:
    """``begin_create_or_update``, ``get``, ``list``, ``begin_delete``, ``invoke``."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def begin_create_or_update(self, endpoint: Any) -> Poller[e.BatchEndpoint]:
        """Apply a ``BatchEndpoint``; ``result()`` is the endpoint once Ready."""
        return self._ws.apply(endpoint, ENDPOINT)

    def get(self, name: str) -> e.BatchEndpoint:
        """The batch endpoint as an entity (defaults.deployment_name, provisioning_state).

        Raises:
            ResourceNotFoundError: no such endpoint in the namespace.
        """
        return readback.batch_endpoint(self._ws.read(ENDPOINT, name))

    def list(self) -> list[e.BatchEndpoint]:
        return [readback.batch_endpoint(o) for o in self._ws.list(ENDPOINT)]

    def begin_delete(self, name: str) -> Poller[None]:
        """Delete the batch endpoint (its deployments and jobs go with it)."""
        return self._ws.delete(ENDPOINT, name)

    def invoke(
        self,
        endpoint_name: str,
        *,
        deployment_name: str | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Start a batch scoring job on the endpoint (its default deployment unless ``deployment_name``).

        Args:
            inputs: ``{name: Input(type="uri_folder"|"uri_file", path=URI)}``; the legacy ``input=Input(...)``
                keyword is read as ``{"data": ...}``.
            kwargs: ``outputs`` (``{name: Output(path=URI)}``, the first one's path is the job's output
                folder), ``job_name``; nothing else. The client's ``store_secret``
                (``MLENDPOINTS_STORE_SECRET``) is named as ``credentialsSecretRef`` of the inputs and
                the output that are not ``pvc://`` claims.

        Returns:
            azure-ai-ml's ``BatchJob`` (``name``, ``status`` = the BatchJob's phase).

        Raises:
            ValueError: no inputs, a local input path (give a URI the pods can read), another keyword.
            MlEndpointsError: the API server rejected the BatchJob.
        """
        legacy = kwargs.pop("input", None)
        outputs = kwargs.pop("outputs", None) or {}
        job_name = kwargs.pop("job_name", None)
        if kwargs:
            raise ValueError(f"invoke: {', '.join(sorted(kwargs))}: not supported")
        given = dict(inputs or {}) or ({"data": legacy} if legacy is not None else {})
        if not given:
            raise ValueError("invoke: inputs: required ({name: Input(type='uri_folder', path=URI)})")
        specs = {}
        for name, item in given.items():
            path = str(getattr(item, "path", item))
            if local.is_local(path):
                raise ValueError(f"inputs.{name}: {path} is a local path; give a URI the pods can read")
            specs[name] = {"type": str(getattr(item, "type", None) or "uri_folder"), "path": path}
        output = next((str(o.path) for o in outputs.values() if getattr(o, "path", None)), None)
        with translated():
            session = self._ws.session()
            body = batchctl.job_manifest(
                endpoint_name,
                specs,
                namespace=session.namespace,
                deployment=deployment_name,
                output=output,
                name=job_name,
                credentials_secret=self._ws.store.store_secret,
            )
            return readback.batch_job(session.apply(body))


class BatchDeploymentOperations:
    """``begin_create_or_update``, ``get``, ``list``, ``begin_delete``."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def begin_create_or_update(self, deployment: Any, **kwargs: Any) -> Poller[e.BatchDeployment]:
        """Apply a ``ModelBatchDeployment``/``BatchDeployment`` (a local model folder is uploaded);
        ``result()`` is the deployment once Ready."""
        return self._ws.apply(deployment, DEPLOYMENT)

    def get(self, name: str, endpoint_name: str) -> e.BatchDeployment:
        """The batch deployment as a ``ModelBatchDeployment``.

        Raises:
            ResourceNotFoundError: no such deployment of that endpoint.
        """
        obj = self._ws.read(DEPLOYMENT, name)
        if (obj.get("spec") or {}).get("endpointName") != endpoint_name:
            from azure.core.exceptions import ResourceNotFoundError

            raise ResourceNotFoundError(
                message=f"BatchDeployment {name} of endpoint {endpoint_name} not found"
            )
        return readback.batch_deployment(obj)

    def list(self, endpoint_name: str) -> list[e.BatchDeployment]:
        return [
            readback.batch_deployment(o)
            for o in self._ws.list(DEPLOYMENT)
            if (o.get("spec") or {}).get("endpointName") == endpoint_name
        ]

    def begin_delete(self, name: str, endpoint_name: str) -> Poller[None]:
        self.get(name, endpoint_name)
        return self._ws.delete(DEPLOYMENT, name)
