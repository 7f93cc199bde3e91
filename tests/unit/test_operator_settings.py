"""Operator settings come from the environment the chart sets, and reach the renderers."""

from __future__ import annotations

import pytest

from mlendpoints.api.v1alpha1 import OnlineEndpoint
from mlendpoints.controller.settings import OperatorSettings, SettingsError
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


def test_network_policy_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OperatorSettings.from_env().render_settings().network_policy is True
    monkeypatch.setenv("MLENDPOINTS_NETWORK_POLICY", "false")
    monkeypatch.setenv("MLENDPOINTS_NETWORK_POLICY_NAMESPACES", "traefik, monitoring")
    monkeypatch.setenv("MLENDPOINTS_NETWORK_POLICY_SAME_NAMESPACE", "false")
    render = OperatorSettings.from_env().render_settings()
    assert render.network_policy is False
    assert render.network_policy_namespaces == ("traefik", "monitoring")
    assert render.network_policy_same_namespace is False
    monkeypatch.setenv("MLENDPOINTS_NETWORK_POLICY", "maybe")
    with pytest.raises(
        SettingsError, match=r"MLENDPOINTS_NETWORK_POLICY='maybe': Input should be a valid boolean"
    ):
        OperatorSettings.from_env()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MLENDPOINTS_WORKERS", "eight", "valid integer"),
        ("MLENDPOINTS_WORKERS", "0", "greater than or equal to 1"),
        ("MLENDPOINTS_LOG_FORMAT", "xml", "'json' or 'text'"),
        ("MLENDPOINTS_STALL_AFTER", "soon", "valid number"),
    ],
)
def test_a_bad_setting_names_the_variable_and_the_expected_type(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        OperatorSettings.from_env()
    assert str(err.value).startswith(f"{variable}={value!r}: ")
    assert expected in str(err.value)


def test_mlendpoints_run_with_a_bad_setting_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlendpoints.controller import cli

    monkeypatch.setenv("MLENDPOINTS_WORKERS", "eight")
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "MLENDPOINTS_WORKERS='eight'" in err


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLENDPOINTS_WORKERS", "")
    monkeypatch.setenv("MLENDPOINTS_NAMESPACES", "")
    s = OperatorSettings.from_env()
    assert (s.workers, s.namespaces) == (16, [])


def test_a_confined_client_refuses_calls_outside_its_namespaces_before_sending() -> None:
    from kubernetes import client

    from mlendpoints.clients import resources
    from mlendpoints.clients.kube import Kube, OutOfScope

    sent: list[str] = []

    class Recording(client.ApiClient):  # type: ignore[misc]
        def call_api(self, *args: object, **kwargs: object) -> object:
            sent.append(str(args[1]))
            raise AssertionError("no request may be sent")

    kube = Kube(Recording(), namespaces=["team-a"])
    with pytest.raises(OutOfScope, match="namespace 'team-b'"):
        kube.get(resources.DEPLOYMENT, "team-b", "x")
    with pytest.raises(OutOfScope, match="all namespaces"):
        kube.list(resources.ONLINE_ENDPOINT, None)
    with pytest.raises(OutOfScope):
        kube.apply(
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "kube-system"}}
        )
    with pytest.raises(OutOfScope):
        kube.delete(resources.SECRET, "team-b", "k")
    assert kube.in_scope(resources.INSTANCE_TYPE, None)  # cluster-scoped kinds are not confined
    assert kube.in_scope(resources.SERVICE, "team-a")
    # an Event for a cluster-scoped object would go to "default": skipped, not sent
    kube.event(
        {
            "apiVersion": "mlendpoints.io/v1alpha1",
            "kind": "InstanceType",
            "metadata": {"name": "gpu", "uid": "u"},
        },
        type="Normal",
        reason="Ready",
        message="m",
    )
    assert sent == []
    assert Kube(Recording()).in_scope(resources.SERVICE, "anything")  # unconfined


def test_rendering_settings_from_env_reach_the_scoring_pods(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.render import builders

    monkeypatch.setenv("MLENDPOINTS_IMAGE_PULL_POLICY", "Always")
    monkeypatch.setenv("MLENDPOINTS_CLUSTER_DOMAIN", "corp.example")
    monkeypatch.setenv(
        "MLENDPOINTS_DEFAULT_RESOURCES", '{"requests": {"cpu": "250m"}, "limits": {"memory": 2}}'
    )
    render = OperatorSettings.from_env().render_settings()
    container = builders.container(builders.deployment(), settings=render)
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == {"requests": {"cpu": "250m"}, "limits": {"memory": "2"}}
    ep = builders.endpoint(routing={"type": "none"}, traffic={"blue": 100})
    states = [online.DeploymentState(name="blue", ready=True)]
    rendered = online.endpoint_children(
        ep, deployments=states, keys=None, gateway_api_available=False, settings=render
    )
    assert rendered.scoring_uri == "http://ep1.ml.svc.corp.example/score"


def test_defaults_match_the_renderers_defaults() -> None:
    from mlendpoints.render.settings import RenderSettings

    assert OperatorSettings().render_settings() == RenderSettings()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '{"limits": {"memory": "1Mb"}}',
            "MLENDPOINTS_DEFAULT_RESOURCES: limits.memory: '1Mb' is not a Kubernetes quantity",
        ),
        ('{"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}', "requests.cpu must not be above limits.cpu"),
        ('{"requests": {"disk": "1Gi"}}', "MLENDPOINTS_DEFAULT_RESOURCES: requests.disk: Extra inputs"),
        ("{not json", "MLENDPOINTS_DEFAULT_RESOURCES: not valid JSON"),
    ],
)
def test_bad_default_resources_name_the_variable_and_the_field(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("MLENDPOINTS_DEFAULT_RESOURCES", value)
    with pytest.raises(SettingsError) as err:
        OperatorSettings.from_env()
    assert expected in str(err.value)
