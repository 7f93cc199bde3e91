"""What every reconciler needs: the API client, the watch cache, settings, and the queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlendpoints.clients.kube import Kube
from mlendpoints.clients.resources import Kind
from mlendpoints.clients.store import Body, Store
from mlendpoints.render.settings import RenderSettings

log = logging.getLogger(__name__)


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

    def forget(self, namespace: str, name: str) -> None:
        """Drop what was remembered about a deleted endpoint, so one re-created with the same name
        starts fresh (and the memory of endpoints deleted over time is given back)."""
        self.seen_deployments.pop((namespace, name), None)
        for key in [k for k in self.problem_since if k[:2] == (namespace, name)]:
            del self.problem_since[key]

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking client call off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

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
