"""Integration fixtures for the operator: it runs as a real process (``mlendpoints run``).

Inputs: the session ``cluster`` (tests/conftest.py). Outputs: ``operator`` (a running operator
with its own client identity, so the audit log can attribute writes to it) and polling helpers.
A subprocess, not an in-process runner, so restarts are real restarts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.integration.fakegateway import FakeGatewayController, gateway

T = TypeVar("T")
OPERATOR_USER = "mlendpoints-operator-test"
#: The operator's grace period in these tests (MLENDPOINTS_STALL_AFTER), seconds.
STALL_AFTER = 8


def wait_for(
    fn: Callable[[], T | None], *, timeout: float = 60, interval: float = 0.3, what: str = "condition"
) -> T:
    """Poll ``fn`` until it returns something truthy; fail with ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")


def get(cluster: Any, kind: str, name: str, ns: str | None = None) -> dict[str, Any] | None:
    """``kubectl get -o json``, or None when the object does not exist."""
    args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
    res = cluster.kubectl(*args, check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The condition of ``type_`` in ``obj``'s status, if any."""
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return None


def wait_condition(
    cluster: Any,
    kind: str,
    name: str,
    ns: str | None,
    type_: str,
    status: str = "True",
    reason: str | None = None,
    timeout: float = 90,
) -> dict[str, Any]:
    """Wait until the operator reports ``type_=status`` (and ``reason``) for the latest generation."""

    def check() -> dict[str, Any] | None:
        obj = get(cluster, kind, name, ns)
        c = condition(obj, type_)
        matches = c is not None and c["status"] == status and (reason is None or c["reason"] == reason)
        if (
            matches
            and obj is not None
            and obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"]
        ):
            return obj
        return None

    return wait_for(check, timeout=timeout, what=f"{kind}/{name} {type_}={status} {reason or ''}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OperatorProcess:
    kubeconfig: Path
    log_path: Path
    user: str | None
    log_level: str = "DEBUG"
    proc: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    liveness_port: int = 0
    #: Extra environment (e.g. the fake Azure endpoints from ``azure_fake``).
    extra_env: dict[str, str] = field(default_factory=dict)
    #: extra ``mlendpoints run`` arguments (e.g. ``("-n", "team-a")``)
    args: tuple[str, ...] = ()
    #: Probe the Gateway's data plane before endpoints are Ready (MLENDPOINTS_GATEWAY_PROBE): only
    #: where pods and the Gateway really serve (tests/e2e); kwok pods and the fake Gateway do not.
    gateway_probe: bool = False

    def start(self, timeout: float = 60) -> None:
        self.metrics_port, self.liveness_port = _free_port(), _free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "MLENDPOINTS_METRICS_PORT": str(self.metrics_port),
            "MLENDPOINTS_LIVENESS_PORT": str(self.liveness_port),
            "MLENDPOINTS_BIND_ADDRESS": "127.0.0.1",
            "MLENDPOINTS_API_DISCOVERY_INTERVAL": "5",
            "MLENDPOINTS_LOG_LEVEL": self.log_level,
            # Missing deployments/Gateways turn Stalled after this many seconds (default 120).
            "MLENDPOINTS_STALL_AFTER": str(STALL_AFTER),
            "MLENDPOINTS_GATEWAY_PROBE": str(self.gateway_probe).lower(),
            **self.extra_env,
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlendpoints", "run", *self.args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.alive, timeout=timeout, what="operator liveness endpoint")

    def alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"operator exited; log tail:\n{self.tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def azure_fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The fake Azure Resource Manager + Entra ID server (tests/azureml/fake_arm.py) for the session.

    The operator is always pointed at it, so a target-azureml resource in any test never reaches
    real Azure. Its workload identity is a federated token file the fake token endpoint accepts.
    """
    from tests.azureml.fake_arm import FakeArm

    work = tmp_path_factory.mktemp("azure")
    fake = FakeArm(work, lro_seconds=0.5, job_seconds=2.0).start()
    token = work / "federated-token"
    token.write_text(
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bWxlbmRwb2ludHM6b3BlcmF0b3IifQ."
    )
    fake.operator_env = {
        **fake.env(),
        "AZURE_TENANT_ID": "tenant-wi",
        "AZURE_CLIENT_ID": "operator-identity",
        "AZURE_FEDERATED_TOKEN_FILE": str(token),
        "MLENDPOINTS_AZURE_POLL_INTERVAL": "0.5",
    }
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def operator(
    cluster: Any, azure_fake: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator for the session, watching all namespaces, with its own identity when local."""
    work = tmp_path_factory.mktemp("operator")
    if cluster.is_local:
        kubeconfig, user = cluster.make_kubeconfig(OPERATOR_USER), OPERATOR_USER
    else:
        kubeconfig, user = cluster.kubeconfig, None
    op = OperatorProcess(
        kubeconfig=kubeconfig, log_path=work / "operator.log", user=user, extra_env=azure_fake.operator_env
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()
        print(f"operator log: {op.log_path}")


@pytest.fixture
def fake_gateway(cluster: Any, namespace: str) -> Iterator[FakeGatewayController]:
    """Gateway ``gw`` (class ``fake``) in the test's namespace, with a controller writing the
    status a real Gateway controller would (tests/integration/fakegateway.py)."""
    cluster.apply(gateway(namespace, "gw"))
    controller = FakeGatewayController(cluster, [namespace]).start()
    yield controller
    controller.stop()
