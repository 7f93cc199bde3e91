"""Operator-wide knobs for rendering: images, DNS domain, default resources, Gateway, NetworkPolicy.

The reconciler builds one :class:`RenderSettings` at startup (from its own configuration, e.g. the
Helm chart's values) and passes it to every render call, so renderers stay pure and testable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mlendpoints


def _default_resources() -> dict[str, dict[str, str]]:
    return {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}


@dataclass(frozen=True)
class RenderSettings:
    """Everything the renderers need that is not in the custom resources."""

    #: Scoring runtime image, also used for the storage initializer and the pip-install init
    #: container. Change it for air-gapped registries or to pin a digest.
    runtime_image: str = f"ghcr.io/mlendpoints/runtime:{mlendpoints.__version__}"
    #: Pull policy of the runtime image (user images keep Kubernetes' own default). Use Always
    #: while developing the runtime with a moving tag.
    image_pull_policy: str = "IfNotPresent"
    #: Cluster DNS domain, used in the in-cluster scoring URI (routing none). Change it only for
    #: clusters that do not use cluster.local.
    cluster_domain: str = "cluster.local"
    #: Container resources when a deployment sets no resources and no InstanceType applies: a small
    #: CPU request so the scheduler and the HPA have a basis, a memory limit so a leaking model
    #: cannot take the node down, and no CPU limit (CPU throttling hurts latency more than it helps).
    default_resources: dict[str, dict[str, str]] = field(default_factory=_default_resources)
    #: Gateway (``namespace/name``) that HTTPRoutes attach to when an endpoint names no
    #: ``routing.parentRefs``; unset means routing ``auto`` without parentRefs falls back to ``none``.
    #: Set it when the cluster has one shared inference Gateway.
    default_gateway: str | None = None
    #: Render a NetworkPolicy per OnlineDeployment admitting scoring traffic only from the Gateway's
    #: namespace, :attr:`network_policy_namespaces` and (optionally) the endpoint's own namespace.
    network_policy: bool = True
    #: Namespaces always admitted to scoring pods: the ingress controller's (routing ``ingress``),
    #: a monitoring namespace that scrapes ``/metrics``.
    network_policy_namespaces: tuple[str, ...] = ("ingress-nginx",)
    #: Admit pods of the endpoint's own namespace (in-namespace clients; routing ``none``).
    network_policy_same_namespace: bool = True
