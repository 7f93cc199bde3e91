"""The operator<->runtime contract: what the operator renders is exactly what the runtime reads.

Renders a scoring Deployment (keys, data collector on) and starts the runtime's settings from
exactly that container environment; probe paths are routes the runtime serves.
"""

from __future__ import annotations

from mlendpoints.api import collector as dc
from mlendpoints.api import contract
from mlendpoints.runtime import config
from tests.unit.render import builders


def _rendered() -> tuple[dict[str, str], dict[str, object]]:
    dep = builders.deployment(
        requestSettings={"requestTimeoutMs": 4000, "maxConcurrentRequestsPerInstance": 3},
        dataCollector={"enabled": True, "collections": {"modelInputs": {"enabled": True}}},
    )
    c = builders.container(dep, builders.endpoint(authMode="key"))
    return builders.env_of(c), c


def test_every_runtime_variable_the_operator_renders_is_read_by_the_runtime() -> None:
    env, _ = _rendered()
    read = {o.env for o in config.OPTIONS} | {o for option in config.OPTIONS for o in option.aliases}
    read |= {getattr(dc, n) for n in dir(dc) if n.startswith("ENV_")}
    unread = sorted(k for k in env if k.startswith("MLENDPOINTS_") and k not in read)
    assert unread == []


def test_the_runtime_starts_from_exactly_the_rendered_environment() -> None:
    env, c = _rendered()
    settings = config.from_env(env)
    assert settings.port == contract.PORT
    assert settings.request_timeout_ms == 4000
    assert settings.model_name == "blue"
    probes = {c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"]}  # type: ignore[index]
    assert probes == {contract.LIVENESS_PATH, contract.READINESS_PATH}
    assert {p["containerPort"] for p in c["ports"]} >= {contract.PORT}  # type: ignore[attr-defined]
