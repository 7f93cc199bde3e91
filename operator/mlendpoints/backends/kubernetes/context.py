"""What every reconciler needs: the API client, the watch cache, settings, and the queue."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from mlendpoints.clients.kube import Kube
from mlendpoints.clients.resources import Kind
from mlendpoints.clients.store import Body, Store
from mlendpoints.render.settings import RenderSettings

log = logging.getLogger(__name__)

#: Seconds between two status writes of one object that only report progress (it stays
#: Reconciling at the same generation: a rollout's replica counts, a waiting reason). Transitions
#: (Ready, Stalled, a new generation, the first status) are written at once. Without the limit a
#: rollout writes each step the Deployment controller reports: 3-4 writes per object that nobody
#: waits on (kstatus, ``kubectl wait`` and Helm read only the transitions), times 1,000 endpoints.
PROGRESS_INTERVAL = 5.0
#: Remembered write times beyond this many are pruned to those within PROGRESS_INTERVAL.
_WRITTEN_MAX = 4096


class Enqueue(Protocol):
    """``WorkQueue.add``: reconcile ``(kind, namespace, name)`` now, or after ``delay`` seconds."""

    def __call__(self, item: tuple[str, str, str], *, delay: float = 0.0) -> None: ...


@dataclass
class Context:
    kube: Kube
    store: Store
    render: RenderSettings
    enqueue: Enqueue
    gateway_api: bool = False
    #: Deployments each endpoint has seen, to tell "deleted while it had traffic" from "not created yet".
    seen_deployments: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    #: Seconds a waiting problem (missing deployment or Gateway, unanswered route) stays Reconciling
    #: before the object is Stalled (MLENDPOINTS_STALL_AFTER).
    stall_after: float = 120.0
    #: (namespace, name, reason) -> monotonic time the problem was first seen, without a break.
    problem_since: dict[tuple[str, str, str], float] = field(default_factory=dict)
    #: Seconds between progress-only status writes of one object (see PROGRESS_INTERVAL).
    progress_interval: float = PROGRESS_INTERVAL
    #: Threads for blocking client calls (None: asyncio's default pool, min(32, CPUs + 4) threads,
    #: which on a 2-CPU node lets only 6 API calls run at once across all reconciles).
    executor: Executor | None = None
    #: (kind, namespace, name) -> monotonic time of this process's last status write of it.
    status_written: dict[tuple[str, str, str], float] = field(default_factory=dict)
    #: Probe the Gateway's data plane before an endpoint is Ready (MLENDPOINTS_GATEWAY_PROBE;
    #: backends/kubernetes/gatewayprobe.py).
    gateway_probe: bool = False
    #: (namespace, endpoint) -> what its last successful probe covered (routes, address, deployments).
    probed: dict[tuple[str, str], object] = field(default_factory=dict)
    #: (namespace, endpoint) -> gateway probes failed in a row (the retry backoff's exponent).
    probe_failures: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (kind, namespace, name) -> events so far that changed more than a status (see full_needed).
    changes: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: (kind, namespace, name) -> ``changes`` as of the start of its last complete full reconcile.
    clean: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def changed(self, key: tuple[str, str, str]) -> None:
        """Record an event for ``key`` that changed more than a status (spec, metadata, a child's
        spec, a deletion, an uncached dependency): its next reconcile reads everything again."""
        self.changes[key] = self.changes.get(key, 0) + 1

    def full_needed(self, key: tuple[str, str, str]) -> tuple[bool, int]:
        """Whether ``key`` needs a full reconcile, and the change count to pass to :meth:`mark_clean`.

        A full reconcile reads every input (including the uncached Secrets and ConfigMaps, one GET
        each) and converges every child. It is not needed when, since the last full reconcile that
        completed, only statuses changed (a rollout's steps, a route's acceptance, a dependency's
        status): the light reconcile then recomputes status, and the endpoint's traffic, from the
        watch cache alone. This is controller-runtime's status-change predicate, applied per
        input rather than per event source.
        """
        epoch = self.changes.get(key, 0)
        return self.clean.get(key) != epoch, epoch

    def mark_clean(self, key: tuple[str, str, str], epoch: int) -> None:
        """A full reconcile of ``key`` that started at change count ``epoch`` converged."""
        self.clean[key] = epoch

    def forget_object(self, key: tuple[str, str, str]) -> None:
        """Drop what was remembered about a deleted object."""
        self.changes.pop(key, None)
        self.clean.pop(key, None)
        self.status_written.pop(key, None)
        if key[0] == "OnlineEndpoint":
            self.probed.pop(key[1:], None)
            self.probe_failures.pop(key[1:], None)

    def progress_wait(self, key: tuple[str, str, str]) -> float:
        """Seconds until a progress-only status write of ``key`` is due (0: now)."""
        last = self.status_written.get(key)
        return 0.0 if last is None else max(0.0, last + self.progress_interval - time.monotonic())

    def wrote_status(self, key: tuple[str, str, str]) -> None:
        """Remember a status write of ``key`` now (bounded: old entries no longer matter)."""
        now = time.monotonic()
        if len(self.status_written) >= _WRITTEN_MAX:
            cutoff = now - self.progress_interval
            self.status_written = {k: t for k, t in self.status_written.items() if t > cutoff}
        self.status_written[key] = now

    def forget(self, namespace: str, name: str) -> None:
        """Drop what was remembered about a deleted endpoint, so one re-created with the same name
        starts fresh (and the memory of endpoints deleted over time is given back)."""
        self.seen_deployments.pop((namespace, name), None)
        for key in [k for k in self.problem_since if k[:2] == (namespace, name)]:
            del self.problem_since[key]

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking client call off the event loop, in :attr:`executor`."""
        if self.executor is None:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(fn, *args, **kwargs))

    async def live(self, kind: Kind, namespace: str | None, name: str) -> Body | None:
        """The object from the watch cache, else from the API.

        A cache miss is not absence: the kind may not be cached (Secrets, ConfigMaps), or the
        object may not have arrived yet.
        """
        cached = self.store.get(kind.kind, namespace, name)
        if cached is not None:
            return cached
        found: Body | None = await self.call(self.kube.get, kind, namespace, name)
        return found

    async def event(self, body: Body, *, type: str, reason: str, message: str) -> None:
        log.info(
            "%s %s/%s: %s: %s",
            body.get("kind"),
            body["metadata"].get("namespace"),
            body["metadata"]["name"],
            reason,
            message,
        )
        await self.call(self.kube.event, body, type=type, reason=reason, message=message)
