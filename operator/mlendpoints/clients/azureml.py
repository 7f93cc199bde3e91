"""The only code that talks to Azure ML: a thin, synchronous adapter over ``azure-ai-ml``'s ``MLClient``.

Callers (``backends/azureml``) run every method in a worker thread (``Context.call``) and pass
plain dicts built by ``backends/azureml/mapping.py``; they get plain data back (:class:`Remote`,
:class:`JobInfo`) and one exception type, :class:`AzureFailure`, whose ``kind`` says what to do
(retry after ``retry_after``, wait, or stall with Azure's message). Nothing here blocks on an
LRO: ``begin_*`` returns at once and the pollers are kept (one per resource, so no daemon-thread
pile-up, guide §10.12) only to read the error of a failed operation.

The SDK's traps routed around (guide §10): ``MLClient`` writes ``AZUREML_CURRENT_CLOUD`` into the
process environment (restored after construction); ``invoke`` shares a module-level header dict
(reset under a lock, the deployment always named); validation errors arrive as ``MlException``
(mapped to ``invalid``); azure-core's own retries are off (``retry_total=0``) so a 429 comes back
to the reconciler, which requeues after ``Retry-After`` instead of sleeping in a thread; registry
model URIs trigger a discovery call that the SDK swallows (accepted, documented). Secrets are never
logged: credentials are cached by a sha256 of their inputs, and Azure messages carry none.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.ai.ml import Input, MLClient, Output
from azure.ai.ml.constants._endpoint import EndpointInvokeFields
from azure.ai.ml.entities import (
    BatchEndpoint,
    BatchRetrySettings,
    CodeConfiguration,
    DataCollector,
    DefaultScaleSettings,
    DeploymentCollection,
    Environment,
    KubernetesOnlineDeployment,
    KubernetesOnlineEndpoint,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
    OnlineRequestSettings,
    ProbeSettings,
    ResourceConfiguration,
    ResourceRequirementsSettings,
    ResourceSettings,
    TargetUtilizationScaleSettings,
)
from azure.ai.ml.exceptions import MlException
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.polling import LROPoller
from azure.identity import ClientSecretCredential, DefaultAzureCredential, WorkloadIdentityCredential

log = logging.getLogger(__name__)
T = TypeVar("T")

# Importing azure.ai.ml sets its logger to INFO with its own stderr handler (guide §2).
logging.getLogger("azure.ai.ml").setLevel(logging.WARNING)
logging.getLogger("azure.identity").setLevel(logging.WARNING)
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

#: Environment variables that configure EnvironmentCredential / WorkloadIdentityCredential.
SP_ENV = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
WI_ENV = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE")
_ENV_LOCK = threading.Lock()
_INVOKE_LOCK = threading.Lock()


class AzureFailure(Exception):
    """An Azure call failed. ``kind`` is one of: ``throttled`` (429; wait ``retry_after`` s),
    ``conflict`` (409: an operation is in progress), ``auth`` (credential rejected or missing),
    ``invalid`` (400/422 or client-side validation: needs the user), ``notfound`` (404) or
    ``transient`` (5xx, connection errors)."""

    def __init__(
        self, kind: str, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.kind, self.message, self.status, self.retry_after = kind, message, status, retry_after


@dataclass(frozen=True)
class Workspace:
    subscription_id: str
    resource_group: str
    workspace_name: str


@dataclass(frozen=True)
class Credential:
    """How to authenticate: ``mode`` is ``secret`` (``values`` holds AZURE_TENANT_ID,
    AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), ``workloadIdentity`` or ``default``."""

    mode: str
    values: tuple[tuple[str, str], ...] = ()

    def fingerprint(self) -> str:
        raw = self.mode + "\0" + "\0".join(f"{k}={v}" for k, v in self.values)
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass
class Remote:
    """An Azure resource as read back: only what the operator reports."""

    state: str
    id: str | None = None
    scoring_uri: str | None = None
    swagger_uri: str | None = None
    traffic: dict[str, int] = field(default_factory=dict)
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    default_deployment: str | None = None


@dataclass
class JobInfo:
    name: str
    status: str
    studio_url: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def _value(x: Any) -> str:
    return str(getattr(x, "value", x) or "")


def translate(exc: BaseException) -> AzureFailure:
    """Map an azure-core / azure-identity / azure-ai-ml exception to an :class:`AzureFailure`."""
    if isinstance(exc, AzureFailure):
        return exc
    if isinstance(exc, ClientAuthenticationError) or type(exc).__name__ == "CredentialUnavailableError":
        msg = getattr(exc, "message", None) or str(exc)
        return AzureFailure("auth", msg.splitlines()[0][:600], status=getattr(exc, "status_code", None))
    if isinstance(exc, MlException):
        return AzureFailure("invalid", " ".join(str(exc).split())[:800])
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        code = getattr(exc.error, "code", None) if exc.error else None
        text = getattr(exc.error, "message", None) if exc.error else None
        msg = f"{code}: {text}" if code else (text or exc.message or str(exc)).splitlines()[0]
        if status == 429:
            retry = None
            if exc.response is not None:
                with contextlib.suppress(TypeError, ValueError):
                    retry = float(getattr(exc.response, "headers", {}).get("Retry-After", ""))
            return AzureFailure("throttled", msg, status=status, retry_after=retry)
        if status == 409:
            return AzureFailure("conflict", msg, status=status)
        if status == 404:
            return AzureFailure("notfound", msg, status=status)
        if status in (400, 422) or (status == 200 and code):  # 200: a failed LRO's status body
            return AzureFailure("invalid", msg, status=status)
        if status in (401, 403):
            return AzureFailure("auth", msg, status=status)
        return AzureFailure("transient", msg, status=status)
    if isinstance(exc, ServiceRequestError | ServiceResponseError | AzureError):
        return AzureFailure("transient", str(exc).splitlines()[0][:600])
    if isinstance(exc, ValueError) and "WorkloadIdentityCredential" in str(exc):
        return AzureFailure("auth", str(exc))
    raise exc


#: Entra ID hosts MSAL knows; any other ``AZURE_AUTHORITY_HOST`` (Azure Stack, a test double) skips
#: instance discovery, which would otherwise ask login.microsoftonline.com to validate it.
KNOWN_AUTHORITIES = ("login.microsoftonline.com", "login.chinacloudapi.cn", "login.microsoftonline.us")


def _authority_kwargs() -> dict[str, Any]:
    host = os.environ.get("AZURE_AUTHORITY_HOST", "")
    custom = bool(host) and not any(known in host for known in KNOWN_AUTHORITIES)
    return {"disable_instance_discovery": True} if custom else {}


def make_credential(cred: Credential, *, allow_managed_identity: bool = False) -> Any:
    """Build an azure-identity credential; raises AzureFailure(auth) naming what is missing."""
    values = dict(cred.values)
    if cred.mode == "secret":
        return ClientSecretCredential(
            values["AZURE_TENANT_ID"],
            values["AZURE_CLIENT_ID"],
            values["AZURE_CLIENT_SECRET"],
            **_authority_kwargs(),
        )
    if cred.mode == "workloadIdentity":
        missing = [k for k in WI_ENV if not os.environ.get(k)]
        if missing:
            raise AzureFailure(
                "auth",
                f"workload identity is not configured for the operator pod (missing {', '.join(missing)}): "
                "set the chart values azure.workloadIdentity.clientId and azure.workloadIdentity.enabled",
            )
        return WorkloadIdentityCredential(**_authority_kwargs())
    configured = all(os.environ.get(k) for k in SP_ENV) or all(os.environ.get(k) for k in WI_ENV)
    if not configured and not allow_managed_identity:
        raise AzureFailure(
            "auth",
            "no Azure credential: set spec.azureml.credential.secretRef to a Secret with AZURE_TENANT_ID, "
            "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or run the operator with workload identity "
            "(chart values azure.workloadIdentity.*)",
        )
    return DefaultAzureCredential(
        exclude_managed_identity_credential=not allow_managed_identity,
        exclude_shared_token_cache_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_cli_credential=True,
        exclude_powershell_credential=True,
        exclude_developer_cli_credential=True,
        exclude_interactive_browser_credential=True,
    )


@contextlib.contextmanager
def _keep_environment() -> Iterator[None]:
    """MLClient writes os.environ["AZUREML_CURRENT_CLOUD"]; undo that process-global side effect."""
    with _ENV_LOCK:
        before = os.environ.get("AZUREML_CURRENT_CLOUD")
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("AZUREML_CURRENT_CLOUD", None)
            else:
                os.environ["AZUREML_CURRENT_CLOUD"] = before


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
        with _keep_environment():
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
            state=_value(ep.provisioning_state),
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
        return Remote(state=_value(getattr(props, "provisioning_state", None)), id=dep.id)

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
            state=_value(ep.provisioning_state),
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
        return Remote(state=_value(dep.provisioning_state), id=dep.id)

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
            with _INVOKE_LOCK:
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
        return JobInfo(name=str(job.name), status=_value(job.status))

    def get_job(self, ws: Workspace, cred: Credential, name: str) -> JobInfo:
        ml = self.client(ws, cred)
        job = self._call(lambda: ml.jobs.get(name))
        outputs = {}
        for out_name, out in (getattr(job, "outputs", None) or {}).items():
            path = getattr(out, "path", None)
            if path:
                outputs[out_name] = str(path)
        error = None
        rest = getattr(job, "_to_rest_object", None)
        if _value(job.status) == "Failed" and rest is not None:
            with contextlib.suppress(Exception):
                err = rest().properties.as_dict().get("error") or {}
                error = f"{err.get('code')}: {err.get('message')}" if err else None
        return JobInfo(
            name=str(job.name),
            status=_value(job.status),
            studio_url=job.studio_url,
            outputs=outputs,
            error=error,
        )


def _resources(res: dict[str, Any] | None) -> ResourceRequirementsSettings | None:
    if not res:
        return None

    def one(part: dict[str, Any] | None) -> ResourceSettings | None:
        return (
            ResourceSettings(cpu=part.get("cpu"), memory=part.get("memory"), gpu=part.get("gpu"))
            if part
            else None
        )

    return ResourceRequirementsSettings(requests=one(res.get("requests")), limits=one(res.get("limits")))


def _environment(env: dict[str, Any] | str | None) -> Environment | str | None:
    if env is None or isinstance(env, str):
        return env
    return Environment(
        image=env["image"], conda_file=env.get("conda_file"), inference_config=env.get("inference_config")
    )


def online_deployment_entity(spec: dict[str, Any]) -> Any:
    """A Managed/KubernetesOnlineDeployment from the mapping's dict (see mapping.online_deployment)."""
    scale = spec["scale_settings"]
    if scale["type"] == "target_utilization":
        scale_settings: Any = TargetUtilizationScaleSettings(
            min_instances=scale["min_instances"],
            max_instances=scale["max_instances"],
            polling_interval=scale["polling_interval"],
            target_utilization_percentage=scale["target_utilization_percentage"],
        )
    else:
        scale_settings = DefaultScaleSettings()
    code = spec.get("code_configuration")
    collector = spec.get("data_collector")
    kwargs: dict[str, Any] = {
        "name": spec["name"],
        "endpoint_name": spec["endpoint_name"],
        "model": spec.get("model"),
        "code_configuration": CodeConfiguration(code=code["code"], scoring_script=code["scoring_script"])
        if code
        else None,
        "environment": _environment(spec.get("environment")),
        "instance_type": spec["instance_type"],
        "instance_count": spec["instance_count"],
        "scale_settings": scale_settings,
        "request_settings": OnlineRequestSettings(**spec["request_settings"]),
        "liveness_probe": ProbeSettings(**spec["liveness_probe"]),
        "readiness_probe": ProbeSettings(**spec["readiness_probe"]),
        "environment_variables": spec.get("environment_variables") or {},
        "app_insights_enabled": spec.get("app_insights_enabled", False),
        "model_mount_path": spec.get("model_mount_path"),
        "description": spec.get("description"),
        "tags": spec.get("tags") or None,
        "data_collector": DataCollector(
            collections={
                "model_inputs": DeploymentCollection(enabled="true"),
                "model_outputs": DeploymentCollection(enabled="true"),
            },
            sampling_rate=collector["sampling_rate"],
        )
        if collector
        else None,
    }
    if spec["kind"] == "kubernetes":
        return KubernetesOnlineDeployment(resources=_resources(spec.get("resources")), **kwargs)
    return ManagedOnlineDeployment(**kwargs)


def batch_deployment_entity(spec: dict[str, Any]) -> ModelBatchDeployment:
    s = spec["settings"]
    code = spec.get("code_configuration")
    resources = None
    settings_kw = dict(s)
    retry = settings_kw.pop("retry_settings")
    if spec.get("instance_type"):
        resources = ResourceConfiguration(
            instance_count=settings_kw.pop("instance_count"), instance_type=spec["instance_type"]
        )
    return ModelBatchDeployment(
        name=spec["name"],
        endpoint_name=spec["endpoint_name"],
        model=spec.get("model"),
        code_configuration=CodeConfiguration(code=code["code"], scoring_script=code["scoring_script"])
        if code
        else None,
        environment=_environment(spec.get("environment")),
        compute=spec["compute"],
        resources=resources,
        settings=ModelBatchDeploymentSettings(
            retry_settings=BatchRetrySettings(max_retries=retry["max_retries"], timeout=retry["timeout"]),
            **settings_kw,
        ),
        description=spec.get("description"),
        tags=spec.get("tags") or None,
    )
