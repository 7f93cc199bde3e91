"""Which routing an endpoint gets, what it cannot express, and its scoring URI.

Decisions (documented for users in docs/online-endpoints.md):

* ``auto`` is ``gatewayAPI`` when the cluster serves the Gateway API *and* there is a Gateway to
  attach to (``routing.parentRefs``, or the operator's ``default_gateway``); otherwise ``none``.
  An explicit ``gatewayAPI`` without either is a problem (Stalled), never a silent downgrade.
* What a routing kind cannot do is a problem, not a silent drop (KServe ignored
  ``canaryTrafficPercent`` in raw mode: kserve#5335): ``none`` cannot split live traffic over
  several deployments or mirror; ``ingress`` handles at most two deployments and no mirror;
  ``gatewayAPI`` at most 16 weighted deployments (one HTTPRoute rule's backendRefs).
* Scoring URI: ``http(s)://<host>/score`` with ``routing.host`` (https when ``tlsSecretName`` is
  set; a wildcard host ``*.example.com`` gives ``<endpoint>.example.com``); without a host
  ``http(s)://<gateway or ingress address>/endpoints/<ns>/<endpoint>/score``; with routing
  ``none`` the stable Service's in-cluster URL ``http://<endpoint>.<ns>.svc.<domain>/score``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mlendpoints.api.v1alpha1.online import OnlineEndpoint, RoutingType
from mlendpoints.render import httproute, ingress, names, traffic
from mlendpoints.render.settings import RenderSettings
from mlendpoints.render.types import Obj

GATEWAY_API, INGRESS, NONE = "gatewayAPI", "ingress", "none"
#: Deployments with live traffic each routing kind can express.
BACKEND_LIMIT = {GATEWAY_API: httproute.MAX_BACKENDS, INGRESS: 2, NONE: 1}
GATEWAY_GROUP = "gateway.networking.k8s.io"
#: The scoring runtime's scoring path (``mlendpoints serve``); custom containers name their own.
RUNTIME_SCORING_PATH = "/score"


@dataclass(frozen=True)
class Plan:
    kind: str
    parent_refs: list[Obj] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _parent_refs(endpoint: OnlineEndpoint, settings: RenderSettings) -> list[Obj]:
    refs: list[Obj] = []
    for p in endpoint.spec.routing.parent_refs:
        ref: Obj = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": p.name}
        if p.namespace:
            ref["namespace"] = p.namespace
        if p.section_name:
            ref["sectionName"] = p.section_name
        refs.append(ref)
    if not refs and settings.default_gateway:
        namespace, _, name = settings.default_gateway.rpartition("/")
        ref = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": name}
        if namespace:
            ref["namespace"] = namespace
        refs.append(ref)
    return refs


def plan(endpoint: OnlineEndpoint, *, gateway_api_available: bool, settings: RenderSettings) -> Plan:
    """The effective routing kind and the Gateways to attach to."""
    wanted = endpoint.spec.routing.type
    refs = _parent_refs(endpoint, settings)
    if wanted is RoutingType.auto:
        return Plan(GATEWAY_API, refs) if gateway_api_available and refs else Plan(NONE)
    if wanted is RoutingType.ingress:
        return Plan(INGRESS)
    if wanted is RoutingType.none:
        return Plan(NONE)
    problems = []
    if not gateway_api_available:
        problems.append(
            "routing.type gatewayAPI: the cluster does not serve the Gateway API "
            "(gateway.networking.k8s.io/v1 HTTPRoute); install its CRDs or use routing ingress"
        )
    if not refs:
        problems.append(
            "routing.parentRefs is required for gatewayAPI (or configure the operator's default Gateway)"
        )
    return Plan(GATEWAY_API, refs, problems)


def capability_problems(endpoint: OnlineEndpoint, kind: str) -> list[str]:
    """What the desired traffic asks for that ``kind`` cannot do (each a Stalled message)."""
    spec = endpoint.spec
    weighted = [k for k, w in spec.traffic.items() if w > 0]
    mirrored = [k for k, w in spec.mirror_traffic.items() if w > 0]
    split = traffic.summary({k: spec.traffic[k] for k in weighted})
    out: list[str] = []
    if kind == NONE and len(weighted) > 1:
        out.append(
            f"traffic is split ({split}) but routing is none, which cannot split traffic; "
            "set routing.type gatewayAPI (with parentRefs) or ingress"
        )
    if kind == INGRESS and len(weighted) > 2:
        out.append(
            f"ingress routing supports at most 2 deployments with traffic (got {len(weighted)}: {split}); "
            "use routing.type gatewayAPI"
        )
    if kind == GATEWAY_API and len(weighted) > httproute.MAX_BACKENDS:
        out.append(
            f"gatewayAPI routing supports at most {httproute.MAX_BACKENDS} deployments with traffic "
            f"(got {len(weighted)})"
        )
    if kind != GATEWAY_API and mirrored:
        out.append(f"mirrorTraffic needs routing gatewayAPI; routing is {kind}")
    return out


def objects(
    endpoint: OnlineEndpoint,
    *,
    plan: Plan,
    effective: Mapping[str, int],
    mirror: Mapping[str, int],
    pinned: Sequence[str],
    primary: str | None,
) -> list[Obj]:
    """HTTPRoute(s) or Ingress(es) for a problem-free plan; nothing for routing none."""
    desired = endpoint.spec.traffic
    wants_traffic = sum(desired.values()) > 0
    if plan.kind == GATEWAY_API:
        return httproute.build(
            endpoint,
            parent_refs=plan.parent_refs,
            effective=effective,
            mirror=mirror,
            pinned=pinned,
            unavailable=wants_traffic and primary is None,
        )
    if plan.kind == INGRESS and wants_traffic:
        canary = _canary(desired, effective, primary)
        return ingress.build(endpoint, canary=canary, canary_weight=effective.get(canary, 0) if canary else 0)
    return []


def _canary(desired: Mapping[str, int], effective: Mapping[str, int], primary: str | None) -> str | None:
    """The deployment behind the canary Ingress: the one with traffic that the stable Service
    (primary Ingress) does not select."""
    candidates = {k for k, w in desired.items() if w > 0} | {k for k, w in effective.items() if w > 0}
    if primary is None:  # nothing Ready: the top desired deployment stands in for the primary
        primary = traffic.primary(desired)
    candidates.discard(primary or "")
    ranked = sorted(candidates, key=lambda k: (-effective.get(k, 0), -desired.get(k, 0), k))
    return ranked[0] if ranked else None


def client_host(endpoint: OnlineEndpoint) -> str | None:
    """The host clients send for the endpoint: ``routing.host``, a wildcard ``*.example.com``
    standing for ``<endpoint>.example.com``; None without a host (the shared path route)."""
    host = endpoint.spec.routing.host
    if host and host.startswith("*."):
        return f"{endpoint.metadata.name}.{host[2:]}"
    return host or None


def endpoint_base_uri(
    endpoint: OnlineEndpoint,
    *,
    kind: str,
    parent_refs: Sequence[Obj],
    settings: RenderSettings,
    public_address: str | None,
) -> str:
    """Where the endpoint's paths start (no trailing slash): the scoring URI is this plus the
    primary deployment's scoring path, the swagger URI this plus ``/swagger.json``."""
    name, namespace = endpoint.metadata.name, endpoint.metadata.namespace
    routing = endpoint.spec.routing
    if kind == NONE:
        return f"http://{names.endpoint_service(name)}.{namespace}.svc.{settings.cluster_domain}"
    scheme = "https" if routing.tls_secret_name else "http"
    host = client_host(endpoint)
    if host:
        return f"{scheme}://{host}"
    if public_address:
        address = public_address
    elif kind == GATEWAY_API and parent_refs:
        address = str(parent_refs[0]["name"])
    else:
        address = routing.ingress_class_name or "ingress"
    return f"{scheme}://{address}{httproute.path_prefix(endpoint)}"
