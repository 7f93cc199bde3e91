"""The Grafana dashboard (docs/grafana/mlendpoints.json) queries only metrics and labels we export.

Exported = the runtime's registry (with the payload collector's families) as ``GET /metrics`` writes
it, plus the operator's prometheus_client registry (controller metrics and the ModelMonitor drift
gauges). ``namespace`` and ``pod`` are added by Prometheus' Kubernetes service discovery, ``le``
by histograms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mlendpoints.runtime import config
from mlendpoints.runtime.collector import Collector
from mlendpoints.runtime.metrics import Registry

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "mlendpoints.json"
METRIC = re.compile(r"\b((?:mlendpoints|process)_[a-z0-9_]+)\b")
BY = re.compile(r"\bby \(([^)]*)\)")
DISCOVERY_LABELS = {"namespace", "pod", "le"}


def _runtime() -> tuple[set[str], set[str]]:
    registry = Registry()
    Collector(config.from_env({}, collector_enabled=True), registry)
    names: set[str] = set()
    labels: set[str] = set()
    for family in registry.families():
        labels |= set(family.labelnames)
    for line in registry.render().decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"} if kind == "histogram" else {name}
    return names, labels


def _operator() -> tuple[set[str], set[str]]:
    from prometheus_client import REGISTRY

    import mlendpoints.backends.kubernetes.monitor
    import mlendpoints.controller.metrics  # noqa: F401

    names: set[str] = set()
    labels: set[str] = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(
            family.type, ("",)
        )
        names |= {family.name + s for s in suffixes}
    for collector in list(REGISTRY._collector_to_names):
        labels |= set(getattr(collector, "_labelnames", ()))
    return names, labels


def _queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_every_queried_metric_and_label_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    runtime_names, runtime_labels = _runtime()
    operator_names, operator_labels = _operator()
    exported = runtime_names | operator_names
    known_labels = runtime_labels | operator_labels | DISCOVERY_LABELS
    queries = _queries(dashboard)
    used = {m for q in queries for m in METRIC.findall(q)}
    assert used, "the dashboard queries nothing"
    assert used - exported == set(), f"queried but not exported: {sorted(used - exported)}"
    grouped = {label.strip() for q in queries for group in BY.findall(q) for label in group.split(",")}
    assert grouped - known_labels == set(), f"grouped by unknown labels: {sorted(grouped - known_labels)}"
    # the list: requests, latency, errors, shed 429/503, batch size, drift, dropped records
    for needed in (
        "mlendpoints_requests_total",
        "mlendpoints_request_duration_seconds_bucket",
        "mlendpoints_queue_rejections_total",
        "mlendpoints_batch_size_bucket",
        "mlendpoints_drift_score",
        "mlendpoints_collector_dropped_total",
    ):
        assert needed in used, needed


def test_runtime_and_operator_share_no_metric_name() -> None:
    # One name for two things (as mlendpoints_queue_depth once was: scoring requests waiting in the
    # runtime, reconciles pending in the operator) makes a query over both jobs mix them silently.
    # process_* and python_* are prometheus-client's per-process collectors, the same in both.
    runtime_names, _ = _runtime()
    operator_names, _ = _operator()
    shared = {n for n in runtime_names & operator_names if not n.startswith(("process_", "python_"))}
    assert shared == set()
    assert "mlendpoints_queue_depth" in runtime_names
    assert "mlendpoints_reconcile_queue_depth" in operator_names


def test_panels_are_laid_out_without_overlap() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    cells = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, panel["title"]
        assert g["x"] + g["w"] <= 24
        cells |= area
