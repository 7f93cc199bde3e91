"""Prometheus metrics of the operator: reconciles, their duration and errors, API writes, queue depth."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import prometheus_client
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

RECONCILES = Counter("mlendpoints_reconcile_total", "Reconciles run", ["kind", "result"])
RECONCILE_SECONDS = Histogram(
    "mlendpoints_reconcile_duration_seconds",
    "Duration of one reconcile",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
#: client-go's ``workqueue_queue_duration_seconds``: time from an event to its reconcile starting
QUEUE_WAIT_SECONDS = Histogram(
    "mlendpoints_reconcile_queue_wait_seconds",
    "Seconds a reconcile waited in the queue before a worker took it",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
#: not ``mlendpoints_queue_depth``: that name is the scoring runtime's (requests waiting for a slot)
QUEUE_DEPTH = Gauge("mlendpoints_reconcile_queue_depth", "Reconciles pending or running")
WATCHED = Gauge("mlendpoints_watched_objects", "Objects in the watch cache", ["kind"])


class WritesCollector(Collector):
    """Exposes the API client's write counters (apply, patch_status, delete, ...) by kind."""

    def __init__(self, source: Callable[[], dict[tuple[str, str], int]]) -> None:
        self.source = source

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "mlendpoints_api_writes", "Writes to the Kubernetes API", labels=["verb", "kind"]
        )
        for (verb, kind), value in sorted(self.source().items()):
            family.add_metric([verb, kind], value)
        yield family


def serve(port: int, address: str, registry: CollectorRegistry = REGISTRY) -> None:
    # no `*_created` series: a timestamp per counter/histogram child doubles the series and no
    # dashboard of ours reads them (prometheus-client's switch; also PROMETHEUS_DISABLE_CREATED_SERIES)
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    if port:
        start_http_server(port, addr=address, registry=registry)
