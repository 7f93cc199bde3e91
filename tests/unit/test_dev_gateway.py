"""The dev cluster's Traefik flags against the runtime they front (no cluster, no Traefik process).

Inputs: ``mlendpoints_dev.gateway.args`` and the runtime's default settings. Output: the rule that
the gateway closes idle upstream connections before the runtime does (else a POST written into a
connection the runtime is closing is answered 502), and the access log the e2e tests read.
"""

from __future__ import annotations

from pathlib import Path

from mlendpoints.runtime import config
from mlendpoints_dev import gateway


def _flag(flags: list[str], name: str) -> str:
    values = [f.split("=", 1)[1] for f in flags if f.startswith(f"--{name}=")]
    assert len(values) == 1, flags
    return values[0]


def test_traefik_closes_idle_upstream_connections_before_the_runtime() -> None:
    flags = gateway.args(address="127.0.80.1", ping_port=8081, access_log=Path("logs/traefik-access.log"))
    idle = _flag(flags, "serversTransport.forwardingTimeouts.idleConnTimeout")
    assert idle.endswith("s"), idle
    assert idle[:-1].isdigit(), idle
    keep_alive_s = config.from_env({}).keep_alive_ms / 1000
    # Margin: the gateway must have closed well before the runtime's timer fires, even when a
    # loaded machine delays either side by seconds.
    assert int(idle[:-1]) <= keep_alive_s / 2, (idle, keep_alive_s)


def test_traefik_writes_5xx_answers_to_the_access_log_as_json() -> None:
    log = Path("state/logs/traefik-access.log")
    flags = gateway.args(address="127.0.80.1", ping_port=8081, access_log=log)
    assert _flag(flags, "accesslog") == "true"
    assert _flag(flags, "accesslog.filepath") == str(log)
    assert _flag(flags, "accesslog.format") == "json"
    assert _flag(flags, "accesslog.filters.statuscodes") == "500-599"
    assert gateway.access_log_path(Path("state")) == log
