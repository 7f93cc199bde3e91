"""What the operator, run as a process, writes: one JSON object per log line (MLENDPOINTS_LOG_FORMAT
default), and metrics without ``*_created`` series."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import wait_condition


@pytest.mark.usefixtures("operator")
def test_operator_log_lines_are_json(cluster: Any, namespace: str, operator: Any) -> None:
    cluster.apply({"apiVersion": "mlendpoints.io/v1alpha1", "kind": "OnlineEndpoint",
                   "metadata": {"name": "logs", "namespace": namespace}, "spec": {"routing": {"type": "none"}}})  # fmt: skip
    wait_condition(cluster, "oep", "logs", namespace, "Ready")
    lines = [line for line in operator.log_path.read_text().splitlines() if line.strip()]
    assert lines
    not_json = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            not_json.append(line)
    assert not_json == []  # every line is one JSON object
    entries = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e["logger"].startswith("kopf") for e in entries)
    # per-event lines are DEBUG (this operator logs at DEBUG, so they are there, demoted)
    per_event = [e for e in entries if e["logger"] == "aiohttp.access" or
                 (e["logger"] == "kopf.objects" and e["message"].endswith("' succeeded."))]  # fmt: skip
    assert per_event
    assert {e["level"] for e in per_event} == {"DEBUG"}


def test_operator_metrics_have_no_created_series(operator: Any) -> None:
    text = operator.metrics()
    assert "mlendpoints_" in text
    assert [line for line in text.splitlines() if "_created" in line] == []
