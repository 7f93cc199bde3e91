"""Entry points for online endpoints: everything an OnlineDeployment and an OnlineEndpoint become.

The reconciler calls :func:`deployment_children` per OnlineDeployment and
:func:`endpoint_children` per OnlineEndpoint, then server-side-applies the returned dicts and
prunes children (by the ``mlendpoints.io/owner-uid`` label) that are no longer returned. Both
functions are pure: the same inputs always give the same objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlendpoints.api.v1alpha1.base import on_kubernetes
from mlendpoints.api.v1alpha1.instancetype import InstanceTypeSpec
from mlendpoints.api.v1alpha1.online import AuthMode, OnlineDeployment, OnlineEndpoint, ScaleType
from mlendpoints.render import autoscaler, deployment, meta, networkpolicy, pdb, secret, service, traffic
from mlendpoints.render import routing as routing_
from mlendpoints.render.errors import RenderError
from mlendpoints.render.settings import RenderSettings


def _check_kubernetes(endpoint: OnlineEndpoint) -> None:
    if not on_kubernetes(endpoint.spec.target):
        raise RenderError(
            f"OnlineEndpoint {endpoint.metadata.name!r} has target {endpoint.spec.target.value}: "
            "it is realised in Azure ML, not as Kubernetes objects"
        )


def deployment_children(
    dep: OnlineDeployment,
    *,
    endpoint: OnlineEndpoint,
    compute: InstanceTypeSpec | None,
    code_hash: str | None,
    settings: RenderSettings,
) -> list[dict[str, Any]]:
    """apps/v1 Deployment, v1 Service, autoscaling/v2 HorizontalPodAutoscaler (targetUtilization
    only), policy/v1 PodDisruptionBudget (only when >1 replica), networking.k8s.io/v1 NetworkPolicy
    (unless ``settings.network_policy`` is off). All owned by ``dep``
    (ownerReference controller=true, blockOwnerDeletion=true, uid from dep.metadata.uid).

    Args:
        dep: The OnlineDeployment (with metadata.namespace and metadata.uid).
        endpoint: Its OnlineEndpoint (auth mode decides the keys mount).
        compute: Spec of the InstanceType :func:`~mlendpoints.api.v1alpha1.instancetype.resolve_name`
            names, if it exists.
        code_hash: :func:`mlendpoints.render.codehash.config_map_hash` of the code ConfigMap.
        settings: Operator settings.

    Raises:
        RenderError: the spec cannot work as written (``azureml:`` model on target kubernetes,
            conflicting resources, ``minInstances: 0`` under the HPA, ...); the message names the field.
    """
    _check_kubernetes(endpoint)
    _, dep_ns, _ = meta.identity(dep)
    ep_name, ep_ns, _ = meta.identity(endpoint)
    if dep.spec.endpoint_name != ep_name or dep_ns != ep_ns:
        raise RenderError(
            f"spec.endpointName: OnlineDeployment {dep.metadata.name!r} belongs to endpoint "
            f"{dep.spec.endpoint_name!r} in namespace {dep_ns!r}, not {ep_ns}/{ep_name}"
        )
    deploy = deployment.build(dep, endpoint=endpoint, compute=compute, code_hash=code_hash, settings=settings)
    objects = [deploy, service.deployment_service(dep)]
    if dep.spec.scale_settings.type is ScaleType.target_utilization:
        res = deploy["spec"]["template"]["spec"]["containers"][0]["resources"]
        if "cpu" not in res.get("requests", {}) and "cpu" not in res.get("limits", {}):
            raise RenderError(
                "scaleSettings.targetUtilization: the container has no CPU request to measure utilization "
                "against; set resources.requests.cpu (or use an InstanceType that sets it)"
            )
        objects.append(autoscaler.build(dep))
    budget = pdb.build(dep)
    if budget is not None:
        objects.append(budget)
    policy = networkpolicy.scoring_ingress(dep, endpoint=endpoint, settings=settings)
    if policy is not None:
        objects.append(policy)
    return objects


@dataclass(frozen=True)
class DeploymentState:
    """What the reconciler observed about each OnlineDeployment of the endpoint."""

    name: str
    ready: bool
    """Ready condition True (rollout complete, all pods Ready). Reported, but does not gate traffic."""
    exists: bool = True
    deleting: bool = False
    available: int | None = None
    """Available pods (the Deployment's ``status.availableReplicas``). None: not observed (the
    render CLI), taken as 1 when ``ready`` and 0 otherwise."""
    scoring_path: str = routing_.RUNTIME_SCORING_PATH
    """Path clients score on: ``/score`` (the runtime), or a custom container's
    ``environment.inferenceConfig.scoringRoute.path``."""

    @property
    def available_pods(self) -> int:
        if self.available is not None:
            return self.available
        return 1 if self.ready else 0

    @property
    def routable(self) -> bool:
        """May receive traffic: exists, not being deleted, and has at least one available pod.

        Availability, not the Ready condition: a deployment that is rolling out or Stalled keeps
        serving from the pods it still has (docs/online-endpoints.md, "Weight follows availability").
        """
        return self.exists and not self.deleting and self.available_pods > 0


@dataclass(frozen=True)
class EndpointRender:
    """Everything :func:`endpoint_children` decided, for the reconciler to apply and report."""

    objects: list[dict[str, Any]]
    """Stable Service, keys Secret (if authMode key and keys given), HTTPRoute or Ingress(es)."""
    routing: str
    """Effective routing: ``gatewayAPI``, ``ingress`` or ``none``."""
    effective_traffic: dict[str, int]
    effective_mirror: dict[str, int]
    scoring_uri: str
    swagger_uri: str
    problems: list[str] = field(default_factory=list)
    """Non-empty: the endpoint is Stalled with these messages. Routing objects are NOT included then:
    the reconciler must keep (neither apply nor prune) the last good HTTPRoute/Ingress."""
    waiting: list[str] = field(default_factory=list)
    """Deployments given traffic (or mirror traffic) that have no available pod (they get none)."""


def _scoring_path(deployments: Sequence[DeploymentState], primary: str | None) -> str:
    """The scoring path of the deployment behind the stable Service (the one with the most
    traffic, else the most desired traffic), as Azure ML reports a custom container's
    ``scoring_route`` in the endpoint's ``scoring_uri``; ``/score`` when there is none."""
    for state in deployments:
        if state.name == primary:
            return state.scoring_path
    return routing_.RUNTIME_SCORING_PATH


def _stable_primary(effective: dict[str, int], desired: dict[str, int]) -> str | None:
    """The deployment the stable Service selects: the primary of the effective split; while
    nothing serves, the desired primary, whose pods are not Ready (a Service sends nothing to
    them), so the Service need not be rewritten when they come up."""
    return traffic.primary(effective) or traffic.primary(desired)


def _gated_traffic(
    endpoint: OnlineEndpoint, ready: set[str], kind: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Effective ``(live, mirror)`` percent per deployment: only ``ready`` ones (an available pod)
    get traffic, within the routing ``kind``'s backend limit; only the Gateway API mirrors."""
    spec = endpoint.spec
    effective = traffic.limit_backends(
        traffic.effective_traffic(spec.traffic, ready, shadows=spec.mirror_traffic),
        routing_.BACKEND_LIMIT[kind],
    )
    mirror = traffic.effective_mirror(spec.mirror_traffic, ready, live=sum(effective.values()))
    if kind != routing_.GATEWAY_API:
        mirror = dict.fromkeys(mirror, 0)
    return effective, mirror


def endpoint_children(
    endpoint: OnlineEndpoint,
    *,
    deployments: Sequence[DeploymentState],
    keys: tuple[str, str] | None,
    gateway_api_available: bool,
    settings: RenderSettings,
    public_address: str | None = None,
) -> EndpointRender:
    """The endpoint's stable Service, keys Secret and routing objects, after availability gating.

    Args:
        endpoint: The OnlineEndpoint (target kubernetes, with metadata.namespace and uid).
        deployments: Observed state of its OnlineDeployments.
        keys: ``(primaryKey, secondaryKey)`` for authMode key; None renders no Secret (the
            reconciler keeps an existing one).
        gateway_api_available: The cluster serves gateway.networking.k8s.io/v1 HTTPRoute.
        settings: Operator settings.
        public_address: Host (and port) of the Gateway or ingress controller, used in the scoring
            URI of endpoints without ``routing.host``; the reconciler reads it from the Gateway's
            ``status.addresses``. Unset: the Gateway's name, or the IngressClass name, stands in.

    Raises:
        RenderError: the endpoint's target is not kubernetes, or it has no namespace/uid.
    """
    _check_kubernetes(endpoint)
    meta.identity(endpoint)
    spec = endpoint.spec
    ready = {s.name for s in deployments if s.routable}  # has an available pod
    pinned = sorted({s.name for s in deployments if s.exists and not s.deleting})
    plan = routing_.plan(endpoint, gateway_api_available=gateway_api_available, settings=settings)
    problems = list(plan.problems) + routing_.capability_problems(endpoint, plan.kind)
    effective, mirror = _gated_traffic(endpoint, ready, plan.kind)
    primary = traffic.primary(effective)
    stable = service.endpoint_service(endpoint, primary=_stable_primary(effective, spec.traffic))
    objects: list[dict[str, Any]] = [stable]
    if spec.auth_mode is AuthMode.key and keys is not None:
        objects.append(secret.build(endpoint, keys=keys))
    if not problems:
        objects += routing_.objects(
            endpoint, plan=plan, effective=effective, mirror=mirror, pinned=pinned, primary=primary
        )
    base = routing_.endpoint_base_uri(
        endpoint,
        kind=plan.kind,
        parent_refs=plan.parent_refs,
        settings=settings,
        public_address=public_address,
    )
    scoring = base + _scoring_path(deployments, primary or traffic.primary(spec.traffic))
    return EndpointRender(
        objects=objects,
        routing=plan.kind,
        effective_traffic=effective,
        effective_mirror=mirror,
        scoring_uri=scoring,
        swagger_uri=base + "/swagger.json",
        problems=problems,
        waiting=traffic.waiting(spec.traffic, spec.mirror_traffic, ready),
    )


__all__ = [
    "DeploymentState",
    "EndpointRender",
    "deployment_children",
    "endpoint_children",
]
