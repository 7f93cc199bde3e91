"""Startup, liveness and readiness probes with the pod spec's timings, as the kubelet runs them.

httpGet and tcpSocket go to the pod IP from the host (as the kubelet does: the pod is reachable
on the bridge); exec runs the command inside the container's namespaces through the launcher.
Success of httpGet is a status in [200, 400).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from typing import Any

from mlendpoints_dev.nodeagent.kube import Obj

ExecFn = Callable[[list[str], float], tuple[int, str]]


def _port(port: Any, container: Obj) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"probe names port {port!r}, which the container does not declare")


def run(probe: Obj, pod_ip: str, container: Obj, exec_fn: ExecFn) -> tuple[bool, str]:
    """Run one probe once; (success, message for the Unhealthy event)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "httpGet" in probe:
            h = probe["httpGet"]
            port = _port(h["port"], container)
            host = h.get("host") or pod_ip
            if h.get("scheme", "HTTP").upper() == "HTTPS":
                ctx = ssl._create_unverified_context()  # noqa: S323 - the kubelet does not verify probes
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, port, timeout=timeout, context=ctx
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
            headers.setdefault("User-Agent", "kube-probe/1.36")
            try:
                conn.request("GET", h.get("path", "/"), headers=headers)
                status = conn.getresponse().status
            finally:
                conn.close()
            ok = 200 <= status < 400
            return ok, f"HTTP probe failed with statuscode: {status}"
        if "tcpSocket" in probe:
            port = _port(probe["tcpSocket"]["port"], container)
            with socket.create_connection((probe["tcpSocket"].get("host") or pod_ip, port), timeout=timeout):
                return True, ""
        if "exec" in probe:
            code, out = exec_fn(list(probe["exec"].get("command") or []), timeout)
            return code == 0, f"exec probe failed with exit code {code}: {out[-300:]}"
        if "grpc" in probe:
            return False, "grpc probes are not supported on process nodes"
    except (OSError, ValueError, subprocess.TimeoutExpired, http.client.HTTPException) as e:
        return False, f"probe failed: {e}"
    return False, "probe has no handler"


class ProbeState:
    """Timing and thresholds of one probe of one container run."""

    def __init__(self, probe: Obj, started_mono: float) -> None:
        self.probe = probe
        self.period = float(probe.get("periodSeconds", 10))
        self.success_threshold = int(probe.get("successThreshold", 1))
        self.failure_threshold = int(probe.get("failureThreshold", 3))
        self.next = started_mono + float(probe.get("initialDelaySeconds", 0))
        self.successes = 0
        self.failures = 0

    def due(self, now: float) -> bool:
        return now >= self.next

    def record(self, ok: bool, now: float) -> None:
        self.next = now + self.period
        if ok:
            self.successes += 1
            self.failures = 0
        else:
            self.failures += 1
            self.successes = 0

    @property
    def passed(self) -> bool:
        return self.successes >= self.success_threshold

    @property
    def failed(self) -> bool:
        return self.failures >= self.failure_threshold


def now() -> float:
    return time.monotonic()
