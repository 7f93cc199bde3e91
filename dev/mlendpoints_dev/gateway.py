"""Traefik as the dev cluster's Gateway API implementation, run on the host against the API server.

Why Traefik: it is the conformant Gateway API implementation that builds from the Go module
proxy here (v3.6.12; see ``versions.py``) and runs outside the cluster: its
``kubernetesgateway`` provider reads ``KUBECONFIG``, programs Gateways whose class names
``traefik.io/gateway-controller``, and proxies HTTPRoutes straight to the backends'
EndpointSlice addresses (pod IPs), so no kube-proxy is needed.

Ports: Traefik accepts a Gateway listener only if an entrypoint listens on the listener's port,
so the ``web`` entrypoint listens on port :data:`LISTENER_PORT` (80, the examples' listener
port) of a loopback address of its own (``127.0.80.<n>``); any number of clusters can each have
one. That address is also written into Gateway ``status.addresses``.

Upstream connections: Traefik keeps idle connections to the pods for
:data:`UPSTREAM_IDLE_TIMEOUT_S` (its default is 90 s) and never resends a POST that failed on a
reused connection (it answers 502). The timeout stays below the runtime's keep-alive
(``MLENDPOINTS_KEEP_ALIVE_MS``), so Traefik always closes an idle connection before the runtime
would. Requests answered 5xx are written to an access log (JSON lines: which route, which pod
address, the pod's own status or 0 when it gave none, the duration), read by the e2e tests when a
request fails.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CONTROLLER_NAME = "traefik.io/gateway-controller"
GATEWAY_CLASS = "traefik"
#: The examples' Gateway listener port; Traefik's ``web`` entrypoint listens on it.
LISTENER_PORT = 80
#: Loopback addresses tried for the entrypoint, in order (all of 127.0.0.0/8 is loopback on Linux).
ADDRESS_POOL = tuple(f"127.0.80.{n}" for n in range(1, 255))
#: Traefik's idle timeout for connections to the pods (``serversTransport``); below the runtime's
#: keep-alive (620 s by default), so the gateway, not the pod, closes idle connections.
UPSTREAM_IDLE_TIMEOUT_S = 60
#: Statuses written to the access log: the gateway's own errors and the pods' 5xx.
ACCESS_LOG_STATUSES = "500-599"


class GatewayError(RuntimeError):
    """No loopback address had the listener port free."""


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def pick_address(
    preferred: str | None = None, pool: Iterable[str] = ADDRESS_POOL, port: int = LISTENER_PORT
) -> str:
    """A loopback address whose ``port`` is free: ``preferred`` (stable across restarts) if possible."""
    for host in [preferred, *pool] if preferred else pool:
        if host and _free(host, port):
            return host
    raise GatewayError(f"no address in 127.0.80.0/24 has port {port} free for Traefik's entrypoint")


def gateway_class() -> dict[str, Any]:
    """The ``traefik`` GatewayClass (cluster-scoped) that Traefik accepts."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": {"name": GATEWAY_CLASS},
        "spec": {
            "controllerName": CONTROLLER_NAME,
            "description": "Traefik on the host of the mlendpoints dev cluster (loopback)",
        },
    }


def args(*, address: str, ping_port: int, access_log: Path, log_level: str = "INFO") -> list[str]:
    """Traefik's static configuration as flags.

    ``web`` serves the Gateways on ``address:80``; ``traefik`` (``127.0.0.1:<ping_port>``) serves
    only ``/ping`` for the health check. No dashboard, no version check, no usage reporting.
    Idle upstream connections close after :data:`UPSTREAM_IDLE_TIMEOUT_S`; 5xx answers go to
    ``access_log`` as JSON lines (Traefik's access-log fields, e.g. ``ServiceAddr``,
    ``OriginStatus``, ``DownstreamStatus``).
    """
    return [
        f"--entryPoints.web.address={address}:{LISTENER_PORT}",
        f"--entryPoints.traefik.address=127.0.0.1:{ping_port}",
        "--ping=true",
        "--ping.entryPoint=traefik",
        "--providers.kubernetesgateway=true",
        f"--providers.kubernetesgateway.statusAddress.ip={address}",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        f"--log.level={log_level}",
        f"--serversTransport.forwardingTimeouts.idleConnTimeout={UPSTREAM_IDLE_TIMEOUT_S}s",
        "--accesslog=true",
        f"--accesslog.filepath={access_log}",
        "--accesslog.format=json",
        f"--accesslog.filters.statuscodes={ACCESS_LOG_STATUSES}",
    ]


def url(address: str) -> str:
    """Base URL of the Gateways' HTTP listener."""
    return f"http://{address}:{LISTENER_PORT}" if LISTENER_PORT != 80 else f"http://{address}"


def ping_url(ping_port: int) -> str:
    """Traefik's health endpoint (200 ``OK`` once it runs)."""
    return f"http://127.0.0.1:{ping_port}/ping"


def access_log_path(state_dir: Path) -> Path:
    """Where Traefik writes its access log (5xx answers only), next to the other components' logs."""
    return state_dir / "logs" / "traefik-access.log"


def kubeconfig_env(kubeconfig: Path) -> dict[str, str]:
    """Traefik's provider reads the cluster from ``KUBECONFIG`` when run outside a cluster."""
    return {"KUBECONFIG": str(kubeconfig)}
