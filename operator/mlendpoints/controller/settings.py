"""Operator settings, read from the environment (the Helm chart sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlendpoints.render.settings import RenderSettings


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _bool(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {value!r} (use true or false)")


@dataclass(frozen=True)
class OperatorSettings:
    #: Namespaces to watch; empty means the whole cluster (needs cluster-wide RBAC).
    namespaces: list[str] = field(default_factory=list)
    #: Scoring runtime image used for pods of deployments that name no image.
    runtime_image: str = RenderSettings().runtime_image
    #: Parallel reconciles. Raise for thousands of endpoints; each is mostly waiting on the API.
    workers: int = 8
    #: Prometheus metrics port (0 disables); liveness is served by kopf on ``liveness_port``.
    metrics_port: int = 8081
    liveness_port: int = 8080
    #: Address to serve metrics and liveness on.
    bind_address: str = "0.0.0.0"
    log_level: str = "INFO"
    #: json (one object per line, the scoring runtime's schema) or text (for reading in a terminal).
    log_format: str = "json"
    #: kopf peering object name; empty runs standalone (one replica: the chart's default).
    peering: str = ""
    #: Seconds between checks whether the Gateway API CRDs are installed (routing type auto).
    api_discovery_interval: float = 60.0
    #: Gateway (``namespace/name``) HTTPRoutes attach to when an endpoint names no parentRefs;
    #: empty means routing ``auto`` without parentRefs is ``none``. Set it for a shared Gateway.
    default_gateway: str = ""
    #: Seconds a missing dependency (an OnlineDeployment named in traffic, a Gateway, a route no
    #: Gateway has accepted yet) is reported as Reconciling before the endpoint is Stalled.
    stall_after: float = 120.0
    #: NetworkPolicy per OnlineDeployment (see render.networkpolicy); off only where something else isolates pods.
    network_policy: bool = True
    #: Namespaces always admitted to scoring pods (the ingress controller's, monitoring).
    network_policy_namespaces: list[str] = field(default_factory=lambda: ["ingress-nginx"])
    #: Admit pods of the endpoint's own namespace.
    network_policy_same_namespace: bool = True

    @classmethod
    def from_env(cls) -> OperatorSettings:
        env = os.environ
        defaults = cls()
        return cls(
            namespaces=_list(env.get("MLENDPOINTS_NAMESPACES")),
            runtime_image=env.get("MLENDPOINTS_RUNTIME_IMAGE", defaults.runtime_image),
            workers=int(env.get("MLENDPOINTS_WORKERS", defaults.workers)),
            metrics_port=int(env.get("MLENDPOINTS_METRICS_PORT", defaults.metrics_port)),
            liveness_port=int(env.get("MLENDPOINTS_LIVENESS_PORT", defaults.liveness_port)),
            bind_address=env.get("MLENDPOINTS_BIND_ADDRESS", defaults.bind_address),
            log_level=env.get("MLENDPOINTS_LOG_LEVEL", defaults.log_level).upper(),
            log_format=env.get("MLENDPOINTS_LOG_FORMAT", defaults.log_format).strip().lower(),
            peering=env.get("MLENDPOINTS_PEERING", ""),
            api_discovery_interval=float(
                env.get("MLENDPOINTS_API_DISCOVERY_INTERVAL", defaults.api_discovery_interval)
            ),
            default_gateway=env.get("MLENDPOINTS_DEFAULT_GATEWAY", "").strip(),
            stall_after=float(env.get("MLENDPOINTS_STALL_AFTER", defaults.stall_after)),
            network_policy=_bool(env.get("MLENDPOINTS_NETWORK_POLICY"), True),
            network_policy_namespaces=_list(env["MLENDPOINTS_NETWORK_POLICY_NAMESPACES"])
            if "MLENDPOINTS_NETWORK_POLICY_NAMESPACES" in env
            else defaults.network_policy_namespaces,
            network_policy_same_namespace=_bool(env.get("MLENDPOINTS_NETWORK_POLICY_SAME_NAMESPACE"), True),
        )

    def render_settings(self) -> RenderSettings:
        return RenderSettings(
            runtime_image=self.runtime_image,
            default_gateway=self.default_gateway or None,
            network_policy=self.network_policy,
            network_policy_namespaces=tuple(self.network_policy_namespaces),
            network_policy_same_namespace=self.network_policy_same_namespace,
        )
