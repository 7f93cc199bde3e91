"""Types, errors, credentials and process-global fixes shared by the Azure ML adapter."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.ai.ml.exceptions import MlException
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import ClientSecretCredential, DefaultAzureCredential, WorkloadIdentityCredential

log = logging.getLogger(__name__)
T = TypeVar("T")


def route_sdk_logs() -> None:
    """Send azure-ai-ml's log records through the operator's handlers (JSON lines), at WARNING.

    Importing azure.ai.ml gives ``azure.ai.ml`` and some of its modules their own plain-text
    stderr handler, INFO level and ``propagate = False`` (guide §2; ``_utils/_logger_utils.py``),
    so warnings such as "Instance type ... may be too small" would bypass the JSON log. Their
    stream handlers are removed and the records propagate; ``azure.ai.ml`` stays at WARNING.
    Idempotent; called after the SDK's modules are imported.
    """
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or not (
            name == "azure.ai.ml" or name.startswith("azure.ai.ml.")
        ):
            continue
        for handler in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
            logger.removeHandler(handler)
        logger.propagate = True
        if name != "azure.ai.ml":
            logger.setLevel(logging.NOTSET)
    logging.getLogger("azure.ai.ml").setLevel(logging.WARNING)


route_sdk_logs()
logging.getLogger("azure.identity").setLevel(logging.WARNING)
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

#: Environment variables that configure EnvironmentCredential / WorkloadIdentityCredential.
SP_ENV = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
WI_ENV = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE")
ENV_LOCK = threading.Lock()
INVOKE_LOCK = threading.Lock()


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


def value_of(x: Any) -> str:
    return str(getattr(x, "value", x) or "")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _ml_exception_text(exc: BaseException) -> str:
    """One line for a condition: azure-ai-ml's client-side validation text is multi-line, coloured
    with ANSI codes and padded with generic advice; keep the ``Details:`` part when there is one."""
    text = " ".join(_ANSI.sub("", str(exc)).split())
    details = re.search(r"Details:\s*(.*?)\s*(?:Resolutions:|$)", text)
    return (details.group(1) if details else text)[:800]


def translate(exc: BaseException) -> AzureFailure:
    """Map an azure-core / azure-identity / azure-ai-ml exception to an :class:`AzureFailure`."""
    if isinstance(exc, AzureFailure):
        return exc
    if isinstance(exc, ClientAuthenticationError) or type(exc).__name__ == "CredentialUnavailableError":
        msg = getattr(exc, "message", None) or str(exc)
        return AzureFailure("auth", msg.splitlines()[0][:600], status=getattr(exc, "status_code", None))
    if isinstance(exc, MlException):
        return AzureFailure("invalid", _ml_exception_text(exc))
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
def keep_environment() -> Iterator[None]:
    """MLClient writes os.environ["AZUREML_CURRENT_CLOUD"]; undo that process-global side effect."""
    with ENV_LOCK:
        before = os.environ.get("AZUREML_CURRENT_CLOUD")
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("AZUREML_CURRENT_CLOUD", None)
            else:
                os.environ["AZUREML_CURRENT_CLOUD"] = before
