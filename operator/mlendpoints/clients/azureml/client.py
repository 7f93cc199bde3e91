"""The Azure ML adapter: one cached MLClient per workspace and credential; see the package docstring."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from azure.ai.ml import Input, MLClient, Output
from azure.ai.ml.constants._endpoint import EndpointInvokeFields
from azure.ai.ml.entities import (
    BatchEndpoint,
    KubernetesOnlineEndpoint,
    ManagedOnlineEndpoint,
)
from azure.ai.ml.exceptions import MlException
from azure.core.exceptions import (
    AzureError,
    ResourceNotFoundError,
)
from azure.core.polling import LROPoller

from mlendpoints.clients.azureml.base import (
    INVOKE_LOCK,
    AzureFailure,
    Credential,
    JobInfo,
    Remote,
    T,
    Workspace,
    keep_environment,
    make_credential,
    route_sdk_logs,
    translate,
    value_of,
)
from mlendpoints.clients.azureml.entities import batch_deployment_entity, online_deployment_entity


class AzureML:
    """MLClients cached per (workspace, credential); thread-safe."""

    def __init__(self, *, polling_interval: float = 5.0, allow_managed_identity: bool = False) -> None:
        self.polling_interval = polling_interval
        self.allow_managed_identity = allow_managed_identity
        self._clients: dict[tuple[Workspace, str], MLClient] = {}
        self._pollers: dict[str, LROPoller[Any]] = {}
        self._lock = threading.Lock()

    def client(self, ws: Workspace, cred: Credential) -> MLClient:
        key = (ws, cred.fingerprint())
        with self._lock:
            found = self._clients.get(key)
        if found is not None:
            return found
        credential = make_credential(cred, allow_managed_identity=self.allow_managed_identity)
        with keep_environment():
            ml = MLClient(
                credential,
                ws.subscription_id,
                ws.resource_group,
                ws.workspace_name,
                enable_telemetry=False,
                show_progress=False,
                polling_interval=self.polling_interval,
                retry_total=0,
                connection_timeout=10,
                read_timeout=60,
            )
        route_sdk_logs()  # the operations modules MLClient imported set up their own handlers
        with self._lock:
            return self._clients.setdefault(key, ml)

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ResourceNotFoundError as exc:
            raise AzureFailure("notfound", str(exc.message or exc).splitlines()[0], status=404) from exc
        except (AzureError, MlException, ValueError) as exc:
            raise translate(exc) from exc

    def _start(self, key: str, fn: Callable[[], LROPoller[Any]]) -> None:
        poller = self._call(fn)
        with self._lock:
            self._pollers[key] = poller

    def operation_pending(self, key: str) -> bool:
        """Whether the last operation started on ``key`` by this process has not finished yet."""
        with self._lock:
            poller = self._pollers.get(key)
        return poller is not None and not poller.done()

    def operation_error(self, key: str) -> str | None:
        """Azure's error for the last operation on ``key`` if it ended Failed (None if unknown)."""
        with self._lock:
            poller = self._pollers.get(key)
        if poller is None or not poller.done():
            return None
        try:
            poller.result(timeout=0)
        except Exception as exc:
            with contextlib.suppress(Exception):
                return translate(exc).message
            return str(exc).splitlines()[0]
        return None

    # -- online -------------------------------------------------------------------------------
    def get_online_endpoint(self, ws: Workspace, cred: Credential, name: str) -> Remote | None:
        ml = self.client(ws, cred)
        try:
            ep = self._call(lambda: ml.online_endpoints.get(name))
        except AzureFailure as exc:
            if exc.kind == "notfound":
                return None
            raise
        return Remote(
            state=value_of(ep.provisioning_state),
            id=ep.id,
            scoring_uri=ep.scoring_uri,
            swagger_uri=ep.openapi_uri,
            traffic={k: int(v) for k, v in (ep.traffic or {}).items() if v},
            mirror_traffic={k: int(v) for k, v in (getattr(ep, "mirror_traffic", None) or {}).items() if v},
        )

    def put_online_endpoint(self, ws: Workspace, cred: Credential, spec: dict[str, Any], key: str) -> None:
        ml = self.client(ws, cred)
        common = {
            "name": spec["name"],
            "auth_mode": spec["auth_mode"],
            "description": spec.get("description"),
            "tags": spec.get("tags") or None,
            "traffic": spec.get("traffic") or {},
            "mirror_traffic": spec.get("mirror_traffic") or {},
        }
        if spec["kind"] == "kubernetes":
            entity: Any = KubernetesOnlineEndpoint(compute=spec["compute"], **common)
        else:
            entity = ManagedOnlineEndpoint(public_network_access=spec.get("public_network_access"), **common)
        self._start(key, lambda: ml.online_endpoints.begin_create_or_update(entity))

    def delete_online_endpoint(self, ws: Workspace, cred: Credential, name: str, key: str) -> None:
        ml = self.client(ws, cred)
        self._start(key, lambda: ml.online_endpoints.begin_delete(name=name))

    def get_online_deployment(
        self, ws: Workspace, cred: Credential, endpoint: str, name: str
    ) -> Remote | None:
        ml = self.client(ws, cred)
        try:
            # A GET without scaleSettings crashes the SDK's converter (guide §10): raw REST read instead.
            dep = self._call(
                lambda: ml.online_deployments._online_deployment.get(
                    resource_group_name=ws.resource_group,
                    workspace_name=ws.workspace_name,
                    endpoint_name=endpoint,
                    deployment_name=name,
                )
            )
        except AzureFailure as exc:
            if exc.kind == "notfound":
                return None
            raise
        props = dep.properties
        return Remote(state=value_of(getattr(props, "provisioning_state", None)), id=dep.id)

    def put_online_deployment(self, ws: Workspace, cred: Credential, spec: dict[str, Any], key: str) -> None:
        ml = self.client(ws, cred)
        entity = online_deployment_entity(spec)
        self._start(
            key, lambda: ml.online_deployments.begin_create_or_update(entity, skip_script_validation=True)
        )

    def delete_online_deployment(
        self, ws: Workspace, cred: Credential, endpoint: str, name: str, key: str
    ) -> None:
        ml = self.client(ws, cred)
        self._start(key, lambda: ml.online_deployments.begin_delete(name=name, endpoint_name=endpoint))

    def get_keys(self, ws: Workspace, cred: Credential, name: str) -> tuple[str, str]:
        ml = self.client(ws, cred)
        keys = self._call(lambda: ml.online_endpoints.get_keys(name))
        return str(keys.primary_key), str(keys.secondary_key)

    def regenerate_key(self, ws: Workspace, cred: Credential, name: str, which: str) -> None:
        ml = self.client(ws, cred)
        poller = self._call(lambda: ml.online_endpoints.begin_regenerate_keys(name, key_type=which))
        self._call(lambda: poller.result(timeout=30))

    # -- batch --------------------------------------------------------------------------------
    def get_batch_endpoint(self, ws: Workspace, cred: Credential, name: str) -> Remote | None:
        ml = self.client(ws, cred)
        try:
            ep = self._call(lambda: ml.batch_endpoints.get(name))
        except AzureFailure as exc:
            if exc.kind == "notfound":
                return None
            raise
        defaults = ep.defaults
        default = getattr(defaults, "deployment_name", None) if defaults is not None else None
        if default is None and isinstance(defaults, dict):
            default = defaults.get("deployment_name") or defaults.get("deploymentName")
        return Remote(
            state=value_of(ep.provisioning_state),
            id=ep.id,
            scoring_uri=ep.scoring_uri,
            swagger_uri=ep.openapi_uri,
            default_deployment=default,
        )

    def put_batch_endpoint(self, ws: Workspace, cred: Credential, spec: dict[str, Any], key: str) -> None:
        ml = self.client(ws, cred)
        entity = BatchEndpoint(
            name=spec["name"],
            description=spec.get("description"),
            tags=spec.get("tags") or None,
            defaults={"deployment_name": spec["default_deployment_name"]}
            if spec.get("default_deployment_name")
            else None,
        )
        self._start(key, lambda: ml.batch_endpoints.begin_create_or_update(entity))

    def delete_batch_endpoint(self, ws: Workspace, cred: Credential, name: str, key: str) -> None:
        ml = self.client(ws, cred)
        self._start(key, lambda: ml.batch_endpoints.begin_delete(name=name))

    def get_batch_deployment(
        self, ws: Workspace, cred: Credential, endpoint: str, name: str
    ) -> Remote | None:
        ml = self.client(ws, cred)
        try:
            dep = self._call(lambda: ml.batch_deployments.get(name, endpoint_name=endpoint))
        except AzureFailure as exc:
            if exc.kind == "notfound":
                return None
            raise
        return Remote(state=value_of(dep.provisioning_state), id=dep.id)

    def put_batch_deployment(self, ws: Workspace, cred: Credential, spec: dict[str, Any], key: str) -> None:
        ml = self.client(ws, cred)
        entity = batch_deployment_entity(spec)
        self._start(
            key, lambda: ml.batch_deployments.begin_create_or_update(entity, skip_script_validation=True)
        )

    def delete_batch_deployment(
        self, ws: Workspace, cred: Credential, endpoint: str, name: str, key: str
    ) -> None:
        ml = self.client(ws, cred)
        self._start(key, lambda: ml.batch_deployments.begin_delete(name=name, endpoint_name=endpoint))

    def invoke_batch(self, ws: Workspace, cred: Credential, spec: dict[str, Any]) -> JobInfo:
        """Start a batch job on the named deployment; returns its Azure job name."""
        ml = self.client(ws, cred)
        inputs = {k: Input(type=v["type"], path=v["path"]) for k, v in spec["inputs"].items()}
        outputs = {"score": Output(type="uri_folder", path=spec["output"])} if spec.get("output") else None

        def call() -> Any:
            # invoke() mutates a module-level header dict (guide §10.2): start clean, name the deployment.
            with INVOKE_LOCK:
                EndpointInvokeFields.DEFAULT_HEADER = {"Content-Type": "application/json"}
                try:
                    return ml.batch_endpoints.invoke(
                        spec["endpoint_name"],
                        deployment_name=spec["deployment_name"],
                        inputs=inputs,
                        outputs=outputs,
                        job_name=spec.get("job_name"),
                    )
                finally:
                    EndpointInvokeFields.DEFAULT_HEADER = {"Content-Type": "application/json"}

        job = self._call(call)
        return JobInfo(name=str(job.name), status=value_of(job.status))

    def get_job(self, ws: Workspace, cred: Credential, name: str) -> JobInfo:
        ml = self.client(ws, cred)
        job = self._call(lambda: ml.jobs.get(name))
        outputs = {}
        for out_name, out in (getattr(job, "outputs", None) or {}).items():
            path = getattr(out, "path", None)
            if path:
                outputs[out_name] = str(path)
        return JobInfo(
            name=str(job.name),
            status=value_of(job.status),
            studio_url=job.studio_url,
            outputs=outputs,
        )
