"""What every reconciler needs: the API client, the watch cache, settings, and the queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlendpoints.clients import resources
from mlendpoints.clients.kube import Kube
from mlendpoints.clients.resources import Kind
from mlendpoints.clients.store import Body, Store
from mlendpoints.render.settings import RenderSettings

log = logging.getLogger(__name__)


@dataclass
class Context:
    kube: Kube
    store: Store
    render: RenderSettings
    enqueue: Callable[[tuple[str, str, str]], None]
    gateway_api: bool = False
    #: Deployments each endpoint has seen, to tell "deleted while it had traffic" from "not created yet".
    seen_deployments: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking client call off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def live(self, kind: Kind, namespace: str | None, name: str) -> Body | None:
        """The object from the watch cache, else from the API (a cache miss is not absence)."""
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


def kind_of(obj: Body) -> Kind:
    return resources.of(obj)
