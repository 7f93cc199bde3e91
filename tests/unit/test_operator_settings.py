"""Operator settings come from the environment the chart sets, and reach the renderers."""

from __future__ import annotations

import pytest

from mlendpoints.api.v1alpha1 import OnlineEndpoint
from mlendpoints.controller.settings import OperatorSettings
from mlendpoints.render import online


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLENDPOINTS_NAMESPACES", "team-a, team-b")
    monkeypatch.setenv("MLENDPOINTS_WORKERS", "32")
    monkeypatch.setenv("MLENDPOINTS_RUNTIME_IMAGE", "registry.local/runtime:1")
    monkeypatch.setenv("MLENDPOINTS_DEFAULT_GATEWAY", "infra/shared")
    monkeypatch.setenv("MLENDPOINTS_LOG_LEVEL", "debug")
    s = OperatorSettings.from_env()
    assert s.namespaces == ["team-a", "team-b"]
    assert (s.workers, s.log_level) == (32, "DEBUG")
    render = s.render_settings()
    assert render.runtime_image == "registry.local/runtime:1"
    assert render.default_gateway == "infra/shared"


def test_default_gateway_is_used_by_auto_routing_without_parent_refs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLENDPOINTS_DEFAULT_GATEWAY", "infra/shared")
    ep = OnlineEndpoint.model_validate(
        {
            "kind": "OnlineEndpoint",
            "metadata": {"name": "ep1", "namespace": "ns", "uid": "u1"},
            "spec": {"traffic": {"blue": 100}},
        }
    )
    states = [online.DeploymentState(name="blue", ready=True)]
    with_gw = online.endpoint_children(
        ep,
        deployments=states,
        keys=None,
        gateway_api_available=True,
        settings=OperatorSettings.from_env().render_settings(),
    )
    assert with_gw.routing == "gatewayAPI"
    route = next(o for o in with_gw.objects if o["kind"] == "HTTPRoute")
    assert route["spec"]["parentRefs"][0]["name"] == "shared"
    assert route["spec"]["parentRefs"][0]["namespace"] == "infra"
    monkeypatch.delenv("MLENDPOINTS_DEFAULT_GATEWAY")
    without = online.endpoint_children(
        ep,
        deployments=states,
        keys=None,
        gateway_api_available=True,
        settings=OperatorSettings.from_env().render_settings(),
    )
    assert without.routing == "none"
