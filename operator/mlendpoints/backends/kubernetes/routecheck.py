"""Read back what the routing layer says about an endpoint: Gateways, HTTPRoute and Ingress status.

The judgement is pure (``status/dependencies.py``); this module only fetches the objects: the
endpoint's own HTTPRoutes/Ingresses from the converge result, Gateways from the watch cache (a
miss falls back to one GET, so a Gateway created later is noticed even before its watch event).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients import resources
from mlendpoints.clients.store import Body
from mlendpoints.render import routing
from mlendpoints.render.types import Obj
from mlendpoints.status import dependencies
from mlendpoints.status.dependencies import Problem


async def gateway(ctx: Context, ref: Obj, namespace: str) -> Body | None:
    """The Gateway a parentRef names (its namespace defaults to the route's), or None."""
    if not ctx.gateway_api:
        return None
    return await ctx.live(resources.GATEWAY, str(ref.get("namespace") or namespace), str(ref["name"]))


async def public_address(
    ctx: Context, *, kind: str, parent_refs: Sequence[Obj], namespace: str, https: bool
) -> str | None:
    """Where clients reach the endpoint (for the scoring URI): the first parent Gateway's address."""
    if kind != routing.GATEWAY_API or not parent_refs:
        return None
    gw = await gateway(ctx, parent_refs[0], namespace)
    section = parent_refs[0].get("sectionName")
    return (
        dependencies.gateway_address(gw, section=str(section) if section else None, https=https)
        if gw
        else None
    )


async def problems(
    ctx: Context, *, kind: str, live: Mapping[tuple[str, str], Body], namespace: str
) -> list[Problem]:
    """Why the routing objects do not serve yet (empty: they do).

    gatewayAPI: every parent Gateway exists and is Programmed; then every HTTPRoute is Accepted
    and has ResolvedRefs for each parent. ingress: every Ingress has a load-balancer address.
    """
    out: list[Problem] = []
    if kind == routing.GATEWAY_API:
        routes = [obj for (k, _), obj in sorted(live.items()) if k == "HTTPRoute"]
        checked: set[tuple[str, str]] = set()
        for route in routes:
            for ref in (route.get("spec") or {}).get("parentRefs") or []:
                key = (str(ref.get("namespace") or namespace), str(ref["name"]))
                if key in checked:
                    continue
                checked.add(key)
                found = dependencies.gateway_problem(
                    ref, await gateway(ctx, ref, namespace), route_namespace=namespace
                )
                if found is not None:
                    out.append(found)
        if not out:  # a missing or unprogrammed Gateway also explains any route status; say it once
            for route in routes:
                out += dependencies.route_problems(route)
    elif kind == routing.INGRESS:
        for (k, _), obj in sorted(live.items()):
            problem = dependencies.ingress_problem(obj) if k == "Ingress" else None
            if problem is not None:
                out.append(problem)
    return out
