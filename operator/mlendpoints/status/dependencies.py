"""What an OnlineEndpoint depends on but does not control: Gateways, route and Ingress status.

Pure functions over API dicts. Each returns :class:`Problem`\\ s; the endpoint is Ready only when
there are none. A problem is either *permanent* (a Gateway rejected the route: Stalled at once) or
*waiting* (a Gateway not created or not Programmed yet, a route no controller has reported on yet):
Reconciling, then Stalled once it has lasted longer than the operator's grace period
(:func:`verdict`). docs/online-endpoints.md ("What Ready means") documents every check.

Gateway API rules followed (gateway-api v1 ``RouteParentStatus`` and ``GatewayStatus``):

* A Gateway is usable when its ``Programmed`` condition is True for its current generation.
* A route is attached to a parent when the parent's entry in ``status.parents`` has
  ``Accepted=True`` and ``ResolvedRefs=True``, both for the route's current generation.
  ``Accepted=False`` with reason ``Pending`` means the controller has not decided yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlendpoints.status import reasons
from mlendpoints.status.conditions import Outcome, get_condition

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Problem:
    """Why the endpoint is not Ready yet, or cannot become Ready."""

    reason: str
    """CamelCase reason (``status/reasons.py``)."""
    message: str
    permanent: bool = False
    """True: needs the user now (Stalled). False: may resolve by itself; Stalled after the grace period."""


def _where(ref: Obj, default_namespace: str) -> str:
    return f"{ref.get('namespace') or default_namespace}/{ref.get('name', '?')}"


def _stale(cond: Mapping[str, Any], generation: int | None) -> bool:
    observed = cond.get("observedGeneration")
    return generation is not None and observed is not None and int(observed) < int(generation)


def _detail(cond: Mapping[str, Any]) -> str:
    text = str(cond.get("message") or "").strip()
    return (
        f"{cond.get('reason') or 'NoReason'}: {text}"
        if text
        else str(cond.get("reason") or "no reason given")
    )


def gateway_problem(ref: Obj, gateway: Obj | None, *, route_namespace: str) -> Problem | None:
    """Is the Gateway ``ref`` (an HTTPRoute parentRef) there and Programmed?

    Args:
        ref: ``{name, namespace?, sectionName?}``; no namespace means the route's.
        gateway: The Gateway object, or None when it does not exist.
        route_namespace: Namespace of the HTTPRoute.
    """
    where = _where(ref, route_namespace)
    if gateway is None:
        return Problem(reasons.GATEWAY_NOT_FOUND, f"Gateway {where} does not exist")
    generation = (gateway.get("metadata") or {}).get("generation")
    programmed = get_condition((gateway.get("status") or {}).get("conditions"), "Programmed")
    if programmed is None:
        return Problem(
            reasons.GATEWAY_NOT_PROGRAMMED,
            f"Gateway {where} has no Programmed condition yet (is a controller for its GatewayClass running?)",
        )
    if _stale(programmed, generation):
        return Problem(
            reasons.GATEWAY_NOT_PROGRAMMED,
            f"Gateway {where}: its controller has not observed generation {generation} yet",
        )
    if programmed.get("status") != "True":
        return Problem(
            reasons.GATEWAY_NOT_PROGRAMMED,
            f"Gateway {where} is not Programmed ({_detail(programmed)})",
        )
    return None


def _same_parent(ref: Obj, entry_ref: Obj, namespace: str) -> bool:
    return (
        entry_ref.get("name") == ref.get("name")
        and (entry_ref.get("namespace") or namespace) == (ref.get("namespace") or namespace)
        and entry_ref.get("sectionName") == ref.get("sectionName")
        and (entry_ref.get("kind") or "Gateway") == (ref.get("kind") or "Gateway")
    )


def route_problems(route: Obj) -> list[Problem]:
    """Per parentRef of an HTTPRoute: has a Gateway controller accepted it and resolved its backends?"""
    meta = route.get("metadata") or {}
    namespace, name, generation = meta.get("namespace") or "", meta.get("name", "?"), meta.get("generation")
    entries = (route.get("status") or {}).get("parents") or []
    out: list[Problem] = []
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        where = _where(ref, namespace)
        entry = next((e for e in entries if _same_parent(ref, e.get("parentRef") or {}, namespace)), None)
        conds = (entry or {}).get("conditions")
        accepted, resolved = get_condition(conds, "Accepted"), get_condition(conds, "ResolvedRefs")
        waiting = f"HTTPRoute {name}: the controller of Gateway {where} has not reported on it yet"
        if accepted is None or _stale(accepted, generation):
            out.append(Problem(reasons.WAITING_FOR_ROUTE, waiting))
        elif accepted.get("status") == "False" and accepted.get("reason") != "Pending":
            out.append(
                Problem(
                    reasons.ROUTE_NOT_ACCEPTED,
                    f"HTTPRoute {name} is not accepted by Gateway {where} ({_detail(accepted)})",
                    permanent=True,
                )
            )
        elif accepted.get("status") != "True":
            out.append(
                Problem(reasons.WAITING_FOR_ROUTE, f"HTTPRoute {name}: Gateway {where}: {_detail(accepted)}")
            )
        elif resolved is None or _stale(resolved, generation):
            out.append(Problem(reasons.WAITING_FOR_ROUTE, waiting))
        elif resolved.get("status") != "True":
            out.append(
                Problem(
                    reasons.ROUTE_REFS_UNRESOLVED,
                    f"HTTPRoute {name}: Gateway {where} cannot resolve its backends ({_detail(resolved)})",
                )
            )
    return out


def ingress_problem(ingress: Obj) -> Problem | None:
    """Has an ingress controller admitted the Ingress, i.e. published an address in its status?

    ingress-nginx, Traefik and cloud controllers write ``status.loadBalancer.ingress`` once they
    serve an Ingress; an empty list means no controller for its class has taken it (yet).
    """
    meta = ingress.get("metadata") or {}
    lb = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if lb:
        return None
    klass = (ingress.get("spec") or {}).get("ingressClassName") or "the default class"
    return Problem(
        reasons.INGRESS_NOT_ADMITTED,
        f"Ingress {meta.get('name', '?')}: no ingress controller for {klass} has published an address yet",
    )


def gateway_listener(gateway: Obj, *, section: str | None, https: bool) -> Obj | None:
    """The listener of ``gateway`` that an endpoint's route serves clients on.

    The listener named ``section`` (the parentRef's ``sectionName``; None when no listener has
    that name), else the first listener of the endpoint's scheme (``HTTPS`` with ``https``, else
    ``HTTP``), else the first HTTP or HTTPS one. None when the Gateway has none of these. Both the
    scoring URI and the gateway probe use it, so the URI names the listener that was probed.
    """
    listeners = [x for x in (gateway.get("spec") or {}).get("listeners") or [] if isinstance(x, dict)]
    if section:
        return next((x for x in listeners if x.get("name") == section), None)
    web = [x for x in listeners if x.get("protocol") in ("HTTP", "HTTPS")]
    wanted = "HTTPS" if https else "HTTP"
    return next((x for x in web if x.get("protocol") == wanted), web[0] if web else None)


def gateway_address(gateway: Obj, *, section: str | None, https: bool) -> str | None:
    """``host[:port]`` clients reach the Gateway at: its first ``status.addresses`` value, plus the
    port of :func:`gateway_listener` unless it is the scheme's default (80, or 443 with ``https``).
    None until the Gateway publishes an address."""
    host = next(
        (str(a["value"]) for a in (gateway.get("status") or {}).get("addresses") or [] if a.get("value")),
        None,
    )
    if host is None:
        return None
    chosen = gateway_listener(gateway, section=section, https=https)
    port = int((chosen or {}).get("port") or (443 if https else 80))
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return host if port == (443 if https else 80) else f"{host}:{port}"


def ingress_address(ingress: Obj) -> str | None:
    """The first hostname or IP an ingress controller published in ``status.loadBalancer.ingress``."""
    for entry in ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        if entry.get("hostname") or entry.get("ip"):
            return str(entry.get("hostname") or entry.get("ip"))
    return None


#: Reasons that may resolve by themselves: Reconciling first, Stalled after the grace period.
#: (A deployment rolling out is neither: it is Reconciling for as long as it rolls out, and its
#: own Stalled condition is what stalls the endpoint.)
GRACED = frozenset(
    {
        reasons.DEPLOYMENT_NOT_FOUND,
        reasons.GATEWAY_NOT_FOUND,
        reasons.GATEWAY_NOT_PROGRAMMED,
        reasons.WAITING_FOR_ROUTE,
        reasons.ROUTE_REFS_UNRESOLVED,
        reasons.INGRESS_NOT_ADMITTED,
        reasons.GATEWAY_NOT_SERVING,
    }
)


def verdict(
    problems: Sequence[Problem],
    *,
    waited: Mapping[str, float],
    grace: float,
    stalled_before: Iterable[str] = (),
) -> Outcome | None:
    """One Outcome for the problems: Stalled when any is permanent or has outlasted ``grace``.

    Args:
        problems: What is wrong now (empty: None is returned).
        waited: Seconds each :data:`GRACED` reason has been seen without a break.
        grace: Seconds a waiting problem stays Reconciling.
        stalled_before: Reasons the last status already reported as Stalled; they stay Stalled
            (no flapping back to Reconciling after an operator restart forgets ``waited``).

    Returns:
        Stalled or Reconciling (progressing) naming every problem, the first one's reason.
    """
    if not problems:
        return None
    before = set(stalled_before) & GRACED

    def stalls(p: Problem) -> bool:
        graced = p.reason in GRACED and (waited.get(p.reason, 0.0) >= grace or p.reason in before)
        return p.permanent or graced

    stalled = [p for p in problems if stalls(p)]
    if stalled:
        return Outcome.stalled(stalled[0].reason, "; ".join(p.message for p in stalled))
    return Outcome.progressing(problems[0].reason, "; ".join(p.message for p in problems))
