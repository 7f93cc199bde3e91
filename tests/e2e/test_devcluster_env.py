"""``mlendpoints dev cluster env`` names the demo's Gateway once it exists, so ``create`` and the
SDK's ``MLClient`` attach endpoints to it (without it they get ``routing.type: none`` and a
scoring URI inside the cluster that the host cannot resolve: a newcomer's finding in docs/sdk.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlendpoints_dev.cli import DEMO_GATEWAY, demo_gateway_lines

pytestmark = pytest.mark.timeout(120)
GATEWAY_YAML = Path(__file__).resolve().parents[2] / "examples" / "gateway" / "gateway.yaml"


def test_the_env_exports_the_demo_gateway_only_while_it_exists(cluster: Any) -> None:
    namespace, name = DEMO_GATEWAY
    cluster.kubectl("delete", "gateway", name, "-n", namespace, "--ignore-not-found", "--wait=true")
    assert demo_gateway_lines(cluster) == []
    cluster.kubectl("apply", "-n", namespace, "-f", str(GATEWAY_YAML))
    try:
        assert f"export MLENDPOINTS_GATEWAY={namespace}/{name}" in demo_gateway_lines(cluster)
    finally:
        cluster.kubectl("delete", "gateway", name, "-n", namespace, "--ignore-not-found", "--wait=true")
