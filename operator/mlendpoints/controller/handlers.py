"""kopf handlers: thin adapters from watch events to :class:`Manager.observe`.

Only ``on.event`` handlers are used, so kopf stores no progress or diff-base annotations and adds
no finalizers to users' objects (see the package docstring). Loaded by ``mlendpoints run`` and by
``kopf run -m mlendpoints.controller.handlers``.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from prometheus_client import REGISTRY

from mlendpoints.clients.kube import Kube, load_api_client
from mlendpoints.controller import metrics
from mlendpoints.controller.manager import Manager
from mlendpoints.controller.settings import OperatorSettings

GROUP, VERSION = "mlendpoints.io", "v1alpha1"
MANAGED = {"app.kubernetes.io/managed-by": "mlendpoints-operator"}

_manager: Manager | None = None


def manager() -> Manager:
    if _manager is None:
        raise kopf.TemporaryError("operator is starting", delay=1)
    return _manager


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
    kube = Kube(load_api_client(), namespaces=config.namespaces)
    _manager = Manager(kube, config)
    await _manager.start()


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


for _plural, _kind in (
    ("onlineendpoints", "OnlineEndpoint"),
    ("onlinedeployments", "OnlineDeployment"),
    ("instancetypes", "InstanceType"),
    ("batchendpoints", "BatchEndpoint"),
    ("batchdeployments", "BatchDeployment"),
    ("batchjobs", "BatchJob"),
    ("modelmonitors", "ModelMonitor"),
):
    kopf.on.event(GROUP, VERSION, _plural, id=f"observe-{_plural}")(_observe(_kind))

for _group_version, _plural, _kind in (
    ("apps/v1", "deployments", "Deployment"),
    ("v1", "services", "Service"),
    ("v1", "pods", "Pod"),
    ("autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    ("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "ingresses", "Ingress"),
    ("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy"),
    ("gateway.networking.k8s.io/v1", "httproutes", "HTTPRoute"),
    ("batch/v1", "jobs", "Job"),
):
    _group, _, _version = _group_version.rpartition("/")
    kopf.on.event(_group, _version, _plural, labels=MANAGED, id=f"observe-{_plural}")(_observe(_kind))

# Gateways are not ours: watched (read-only) because an endpoint is Ready only on a Programmed one.
kopf.on.event("gateway.networking.k8s.io", "v1", "gateways", id="observe-gateways")(_observe("Gateway"))


def _referenced_configmap(name: str, namespace: str | None, **_: Any) -> bool:
    return _manager is not None and _manager.watches_configmap(namespace or "", name)


kopf.on.event("", "v1", "configmaps", when=_referenced_configmap, id="observe-configmaps")(
    _observe("ConfigMap")
)


def _referenced_pvc(name: str, namespace: str | None, **_: Any) -> bool:
    return _manager is not None and _manager.watches_pvc(namespace or "", name)


kopf.on.event("", "v1", "persistentvolumeclaims", when=_referenced_pvc, id="observe-pvcs")(
    _observe("PersistentVolumeClaim")
)
