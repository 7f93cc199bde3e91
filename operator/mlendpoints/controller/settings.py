"""Operator settings, read from ``MLENDPOINTS_*`` environment variables (the Helm chart sets them).

Parsed by pydantic-settings: each field ``x`` is the variable ``MLENDPOINTS_X``; an empty variable
counts as unset; lists are comma-separated; booleans are ``true``/``false`` (also 1/0, yes/no,
on/off). A bad value raises :class:`SettingsError` naming the variable and what it expects.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pydantic_settings
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mlendpoints.api.v1alpha1.common import ResourceRequirements
from mlendpoints.render.settings import RenderSettings

ENV_PREFIX = "MLENDPOINTS_"
#: A DNS-1123 subdomain (a cluster domain such as cluster.local).
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class SettingsError(ValueError):
    """A ``MLENDPOINTS_*`` variable has a value the operator cannot use; the message names it."""


def _list(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore", validate_default=True
    )

    #: Namespaces to watch; empty means the whole cluster (needs cluster-wide RBAC).
    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Scoring runtime image used for pods of deployments that name no image.
    runtime_image: str = RenderSettings().runtime_image
    #: Pull policy of the runtime image (user images keep Kubernetes' default). Always while
    #: developing the runtime with a moving tag.
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    #: Cluster DNS domain in in-cluster scoring URIs (routing none); only for clusters that do not
    #: use cluster.local.
    cluster_domain: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)] = (
        RenderSettings().cluster_domain
    )
    #: Container resources of deployments that set none and use no InstanceType, as JSON
    #: (``{"requests": {"cpu": "100m"}, "limits": {"memory": "1Gi"}}``), validated like an
    #: OnlineDeployment's ``spec.resources``.
    default_resources: ResourceRequirements = Field(
        default_factory=lambda: ResourceRequirements.model_validate(RenderSettings().default_resources)
    )
    #: Parallel reconciles, each mostly waiting on the API: 16 keeps the client's 32 connections
    #: busy (a reconcile has about 2 requests in flight); more only queue for a connection
    #: (bench/operator: 100 endpoints all Ready in 62 s with 16, 124 s with 8, 102 s with 32).
    workers: int = Field(16, ge=1)
    #: Prometheus metrics port (0 disables); liveness is served by kopf on ``liveness_port``.
    metrics_port: int = Field(8081, ge=0, le=65535)
    liveness_port: int = Field(8080, ge=1, le=65535)
    #: Address to serve metrics and liveness on.
    bind_address: str = "0.0.0.0"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    #: json (one object per line, the scoring runtime's schema) or text (for reading in a terminal).
    log_format: Literal["json", "text"] = "json"
    #: kopf peering object name; empty runs standalone (one replica: the chart's default).
    peering: str = ""
    #: Seconds between checks whether the Gateway API CRDs are installed (routing type auto).
    api_discovery_interval: float = Field(60.0, gt=0)
    #: Gateway (``namespace/name``) HTTPRoutes attach to when an endpoint names no parentRefs;
    #: empty means routing ``auto`` without parentRefs is ``none``. Set it for a shared Gateway.
    default_gateway: str = ""
    #: Seconds a missing dependency (an OnlineDeployment named in traffic, a Gateway, a route no
    #: Gateway has accepted yet) is reported as Reconciling before the endpoint is Stalled.
    stall_after: float = Field(120.0, ge=0)
    #: Probe each endpoint's Gateway (a GET per serving deployment, through the address the Gateway
    #: publishes) before it is Ready; off where the operator's pod cannot reach the Gateway.
    gateway_probe: bool = True
    #: NetworkPolicy per OnlineDeployment (see render.networkpolicy); off only where something else isolates pods.
    network_policy: bool = True
    #: Namespaces always admitted to scoring pods (the ingress controller's, monitoring).
    network_policy_namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["ingress-nginx"]
    )
    #: Admit pods of the endpoint's own namespace.
    network_policy_same_namespace: bool = True

    @field_validator("namespaces", "network_policy_namespaces", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _list(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("default_gateway", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @classmethod
    def from_env(cls) -> OperatorSettings:
        """Settings from the process environment.

        Raises:
            SettingsError: a variable's value is invalid; the message names the variable
                (``MLENDPOINTS_WORKERS``), what it expects and the value given.
        """
        try:
            return cls()
        except pydantic_settings.SettingsError as exc:  # a JSON value that does not parse
            field = re.search(r'field "(\w+)"', str(exc))
            name = ENV_PREFIX + (field.group(1).upper() if field else "*")
            raise SettingsError(f"{name}: not valid JSON ({exc.__cause__ or exc})") from None
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                name = ENV_PREFIX + "_".join(str(part) for part in err["loc"][:1]).upper()
                inner = ".".join(str(part) for part in err["loc"][1:])  # inside a JSON value
                msg = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{name}: {inner}: {msg}" if inner else f"{name}={err.get('input')!r}: {msg}")
            raise SettingsError("; ".join(problems)) from None

    def render_settings(self) -> RenderSettings:
        return RenderSettings(
            runtime_image=self.runtime_image,
            image_pull_policy=self.image_pull_policy,
            cluster_domain=self.cluster_domain,
            default_resources={
                section: {key: str(value) for key, value in values.items()}
                for section, values in self.default_resources.to_dict().items()
            },
            default_gateway=self.default_gateway or None,
            network_policy=self.network_policy,
            network_policy_namespaces=tuple(self.network_policy_namespaces),
            network_policy_same_namespace=self.network_policy_same_namespace,
        )
