"""Probe the Gateway's data plane before an endpoint says Ready: does it route to each deployment?

A Gateway reports an HTTPRoute ``Accepted`` when its controller has *built* the configuration,
not when the proxy serves it: Traefik, for one, applies provider changes at most every
``providersThrottleDuration`` (2 s by default), and the backends' EndpointSlices reach it by
their own watch. So an endpoint that turned Ready on the route's status alone answered
``503 no available server`` to the first requests pinned to a deployment that had just become
available. Knative solves the same problem with an ingress status prober; this is that probe,
through the first parent Gateway's published address, one request per serving deployment:

``GET <scheme>://<address>:<listener port><path prefix>/`` with ``azureml-model-deployment:
<deployment>``. The listener is the parentRef's ``sectionName``, else the first one whose protocol
matches the endpoint (HTTPS with ``routing.tlsSecretName``, else HTTP), else the first HTTP(S) one;
the scheme is that listener's protocol. ``Host`` (and TLS server name) is the host clients use
(``routing.host``, a wildcard standing for ``<endpoint>.<domain>``), else the listener's own
hostname. The route's pin rule sends the request to the deployment's Service and the rewrite makes
it the runtime's liveness path. It counts as served only when the answer carries
``azureml-model-deployment: <deployment>``: the scoring runtime sets that header on every response
(``api/contract.py``), so a gateway's own 404/503, or an older configuration that still sends the
pin elsewhere, never counts.

A failed probe is retried with exponential backoff (1 s, 2 s, 4 s ... at most
:data:`MAX_RETRY_S`), so an unreachable Gateway costs a worker at most 2 s a minute per endpoint.
A success is remembered until the Gateway's address or listener, the route's generation or the
set of serving deployments changes, or the endpoint stops being ready to probe (a problem before
the probe, nothing to probe); then the next chance probes again.

Not probed (Ready follows the route status alone, as documented in docs/online-endpoints.md):
deployments with their own image (``environment.image``, which may hold a runtime older than this
header) or a custom container; Gateways that publish no address; ingress and ``none`` routing;
operators with ``MLENDPOINTS_GATEWAY_PROBE=false`` (a Gateway the operator's pod cannot reach,
or one whose policies answer for the backend: authentication, redirects).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from mlendpoints import __version__
from mlendpoints.api import contract
from mlendpoints.api.v1alpha1 import OnlineEndpoint
from mlendpoints.backends.kubernetes import routecheck
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients.store import Body
from mlendpoints.render import httproute
from mlendpoints.render import routing as routing_
from mlendpoints.render.online import DeploymentState
from mlendpoints.render.types import Obj
from mlendpoints.status import dependencies, reasons
from mlendpoints.status.dependencies import Problem

#: Seconds one probe request may take; connecting may take the first of them.
TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 1.0
#: Seconds before the first retry of a failed probe; doubled on each failure up to MAX_RETRY_S.
RETRY_S = 1.0
MAX_RETRY_S = 60.0
#: So that gateway and runtime access logs tell the probe from clients.
USER_AGENT = f"mlendpoints-gateway-probe/{__version__}"


@dataclass(frozen=True)
class Target:
    """Where and how to probe one endpoint's Gateway (see :func:`target`)."""

    url: str
    """``http[s]://<address>[:port]<prefix>/``."""
    host: str | None
    """Sent as ``Host`` (and as TLS server name); None: the URL's."""


def target(gateway: Body, ref: Obj, endpoint: OnlineEndpoint) -> Target | None:
    """The probe target of an endpoint through the Gateway ``ref`` names (module docstring rules).

    Args:
        gateway: The parent Gateway (spec.listeners, status.addresses).
        ref: The route's parentRef to it (``sectionName`` picks the listener).
        endpoint: The endpoint (routing host, TLS, path prefix).

    Returns:
        The target, or None when the Gateway publishes no address or has no such listener.
    """
    address = next(
        (str(a["value"]) for a in (gateway.get("status") or {}).get("addresses") or [] if a.get("value")),
        None,
    )
    section = ref.get("sectionName")
    listener = dependencies.gateway_listener(
        gateway, section=str(section) if section else None, https=bool(endpoint.spec.routing.tls_secret_name)
    )
    if address is None or listener is None:
        return None
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"
    scheme = "https" if listener.get("protocol") in ("HTTPS", "TLS") else "http"
    port = int(listener.get("port") or (443 if scheme == "https" else 80))
    host = routing_.client_host(endpoint)
    if host is None and listener.get("hostname"):
        named = str(listener["hostname"])
        host = f"{endpoint.metadata.name}.{named[2:]}" if named.startswith("*.") else named
    prefix = "/" if endpoint.spec.routing.host else httproute.path_prefix(endpoint) + "/"
    return Target(url=f"{scheme}://{address}:{port}{prefix}", host=host)


async def _one(session: aiohttp.ClientSession, where: Target, deployment: str) -> str | None:
    headers = {contract.DEPLOYMENT_HEADER: deployment, "User-Agent": USER_AGENT}
    if where.host:
        headers["Host"] = where.host
    https = where.url.startswith("https:")
    try:
        async with session.get(
            where.url,
            headers=headers,
            ssl=False,  # routing is checked, not the certificate
            server_hostname=where.host if https and where.host else None,
            allow_redirects=False,
        ) as response:
            answered = response.headers.get(contract.DEPLOYMENT_HEADER)
            if answered == deployment:
                return None
            if answered:
                return f"{response.status} from deployment {answered}"
            return f"{response.status} without the {contract.DEPLOYMENT_HEADER} header"
    except TimeoutError:
        return f"no answer within {TIMEOUT_S:g} s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}".rstrip(": ")


async def unserved(where: Target, deployments: Sequence[str]) -> Mapping[str, str]:
    """Probe each deployment through the Gateway at once.

    Args:
        where: The endpoint's probe target.
        deployments: Deployment names to probe (each has a pin rule in the route).

    Returns:
        ``{deployment: what answered instead}`` for each deployment the Gateway does not route to
        yet (``503 without the azureml-model-deployment header``, ``ClientConnectorError: ...``);
        empty when all are served.
    """
    if not deployments:
        return {}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S, sock_connect=CONNECT_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        found = await asyncio.gather(*(_one(session, where, d) for d in deployments))
    return {d: why for d, why in zip(deployments, found, strict=True) if why is not None}


def probed(ctx: Context, namespace: str, states: Sequence[DeploymentState]) -> list[str]:
    """Deployments the probe checks: serving (an available pod, not being deleted) on the
    operator's runtime image (no ``environment.image``, no custom container's ``inferenceConfig``:
    the rule of ``render/pod.py``), whose pods answer with the header."""
    out = []
    for state in states:
        dep = ctx.store.get("OnlineDeployment", namespace, state.name)
        environment = ((dep or {}).get("spec") or {}).get("environment") or {}
        own_image = environment.get("image") or environment.get("inferenceConfig") is not None
        if state.routable and dep is not None and not own_image:
            out.append(state.name)
    return out


def forget(ctx: Context, namespace: str, name: str) -> None:
    """The endpoint is not (or no longer) probed as it stands: its next chance probes again."""
    ctx.probed.pop((namespace, name), None)
    ctx.probe_failures.pop((namespace, name), None)


async def problems(
    ctx: Context,
    *,
    endpoint: OnlineEndpoint,
    deployments: Sequence[str],
    live: Mapping[tuple[str, str], Body],
) -> list[Problem]:
    """Probe the endpoint's Gateway when something it routes changed since the last success.

    Args:
        ctx: The reconcile context (``gateway_probe`` on; ``probed``/``probe_failures`` remember).
        endpoint: The endpoint, with gatewayAPI routing and its route(s) Accepted.
        deployments: :func:`probed` (each has a pin rule).
        live: The endpoint's children as converged (their HTTPRoutes' generations key the memory).

    Returns:
        One graced :data:`reasons.GATEWAY_NOT_SERVING` problem naming each deployment the Gateway
        does not route to yet and what answered instead (the endpoint is reconciled again after
        the backoff); empty when all are served, or when there is nothing to probe.
    """
    namespace, name = endpoint.metadata.namespace or "", endpoint.metadata.name
    plan = routing_.plan(endpoint, gateway_api_available=ctx.gateway_api, settings=ctx.render)
    ref = plan.parent_refs[0] if plan.parent_refs else None
    gateway = await routecheck.gateway(ctx, ref, namespace) if ref is not None else None
    where = target(gateway, ref, endpoint) if gateway is not None and ref is not None else None
    if not ctx.gateway_probe or where is None or not deployments:
        forget(ctx, namespace, name)
        return []
    routes = sorted(
        (n, int(obj["metadata"].get("generation") or 0)) for (k, n), obj in live.items() if k == "HTTPRoute"
    )
    memo = (where, tuple(routes), tuple(sorted(deployments)))
    if ctx.probed.get((namespace, name)) == memo:
        return []
    missing = await unserved(where, sorted(deployments))
    if not missing:
        forget(ctx, namespace, name)
        ctx.probed[(namespace, name)] = memo
        return []
    ctx.probed.pop((namespace, name), None)
    failures = ctx.probe_failures.get((namespace, name), 0)
    ctx.probe_failures[(namespace, name)] = failures + 1
    ctx.enqueue(("OnlineEndpoint", namespace, name), delay=min(MAX_RETRY_S, RETRY_S * 2 ** min(failures, 10)))
    detail = "; ".join(f"{d}: {why}" for d, why in sorted(missing.items()))
    return [
        Problem(
            reasons.GATEWAY_NOT_SERVING,
            f"the Gateway has accepted the route but does not route to every deployment yet "
            f"(GET {where.url} with {contract.DEPLOYMENT_HEADER}: <deployment> answered {detail})",
        )
    ]
