"""kopf handlers: thin adapters from watch events to :class:`Manager.observe`.

One ``on.event`` handler per row of the watch table (``watches.py``). Only ``on.event`` handlers are used, so kopf stores no progress or diff-base annotations and adds
no finalizers to users' objects (see the package docstring). Loaded by ``mlendpoints run`` and by
``kopf run -m mlendpoints.controller.handlers``.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from prometheus_client import REGISTRY

from mlendpoints.clients import resources
from mlendpoints.clients.kube import Kube, load_api_client
from mlendpoints.controller import metrics, watches
from mlendpoints.controller.manager import PAGE, Manager
from mlendpoints.controller.settings import OperatorSettings

_manager: Manager | None = None
#: kopf runs one worker task per object with events; an idle one lives on this long (kopf's
#: default: 5 s) holding the object's last event body. A restart lists every object within a few
#: seconds, so with the default every worker's body (30 KiB parsed for a Deployment) was in
#: memory at once. Our handler only updates the cache and enqueues, so a short life costs little.
IDLE_WORKER_S = 0.5
#: At most this many such workers at once (kopf's default: no limit), bounding the bodies they hold
#: during an initial listing; a new object's event waits for a free worker.
WORKER_LIMIT = 1000


def manager() -> Manager:
    if _manager is None:
        raise kopf.TemporaryError("operator is starting", delay=1)
    return _manager


def _group_version(kind: resources.Kind) -> tuple[str, str]:
    group, _, version = kind.api_version.rpartition("/")
    return group, version


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    global _manager
    # `mlendpoints run` hands its settings over (its --namespace flag included); `kopf run -m` reads the env.
    config = memo.get("settings") or OperatorSettings.from_env()
    logging.getLogger("mlendpoints").setLevel(config.log_level)
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    # kopf's own initial LIST of each watched kind, paged as the cache's priming is (memory).
    settings.watching.chunk_size = PAGE
    settings.queueing.idle_timeout = IDLE_WORKER_S
    settings.queueing.worker_limit = WORKER_LIMIT
    select(settings)
    kube = Kube(load_api_client(), namespaces=config.namespaces)
    _manager = Manager(kube, config)
    await _manager.start()


def select(settings: kopf.OperatorSettings) -> None:
    """Give every watch of the table its server-side label selector.

    The watch then streams exactly what the cache primes, and an object whose managed-by label is
    removed by hand arrives as DELETED, so its owner's reconcile restores the label.
    """
    for watch in watches.TABLE:
        if watch.label_selector:
            key = (*_group_version(watch.kind), watch.kind.plural)
            settings.watching.label_selectors[key] = watch.label_selector


def _writes() -> dict[tuple[str, str], int]:
    return dict(_manager.kube.writes) if _manager is not None else {}


REGISTRY.register(metrics.WritesCollector(_writes))


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    global _manager
    if _manager is not None:
        await _manager.stop()
        _manager = None


def _observe(kind: str):  # type: ignore[no-untyped-def]
    async def handler(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        manager().observe(kind, event.get("type"), body)

    handler.__name__ = f"observe_{kind.lower()}"
    return handler


def _referenced(kind: str):  # type: ignore[no-untyped-def]
    def when(name: str, namespace: str | None, **_: Any) -> bool:
        return _manager is not None and _manager.referenced(kind, namespace or "", name)

    return when


for _watch in watches.TABLE:
    _group, _version = _group_version(_watch.kind)
    kopf.on.event(
        _group,
        _version,
        _watch.kind.plural,
        id=f"observe-{_watch.kind.plural}",
        when=_referenced(_watch.kind.kind) if _watch.referenced is not None else None,
    )(_observe(_watch.kind.kind))
