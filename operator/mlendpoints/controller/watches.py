"""The watch table: every kind the operator watches, how, and which reconciles its events wake.

One row per kind drives everything that used to be spread over several lists: the kopf
registrations (``handlers.py``), the server-side label selector of each watch, the LIST that
primes the cache at startup (``Manager._prime``), what the cache holds and indexes
(:class:`~mlendpoints.clients.store.Store`), and the mapping from an event to the reconciles it
enqueues (``Manager.observe``).

The rule that keeps the cache independent of history: a kind is cached if and only if it is
watched *and* primed with the same selector, so after a restart the cache holds exactly what
it held before. Kinds the operator only reads by name are never cached: Secrets (the operator may
``get`` them but never lists or watches them, docs/security.md) and the ConfigMaps and
PersistentVolumeClaims a resource names (watched only to wake the resources that name them).

Children are mapped to their owner by their controller ``ownerReference`` (which users do not
edit by accident), not by labels; Pods, whose owner is a ReplicaSet or Job, by their labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlendpoints.backends.kubernetes import endpoint, instancetype, references
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients import resources
from mlendpoints.clients.resources import Kind
from mlendpoints.clients.store import Indexed
from mlendpoints.controller.queue import Item
from mlendpoints.render import labels as child_labels

#: Server-side selector of every child watch: only what this operator created is streamed.
MANAGED = {"app.kubernetes.io/managed-by": child_labels.MANAGED_BY}
#: Kinds that have a reconciler (``Manager._reconcile``); nothing else is ever enqueued.
RECONCILED = frozenset(
    {
        "OnlineEndpoint",
        "OnlineDeployment",
        "InstanceType",
        "BatchEndpoint",
        "BatchDeployment",
        "BatchJob",
        "ModelMonitor",
    }
)
ENDPOINT_LABEL = child_labels.ENDPOINT
DEPLOYMENT_LABEL = child_labels.DEPLOYMENT
#: drift pods (render/monitor.py) and batch pods (render/batchjob.py)
MONITOR_LABEL = "mlendpoints.io/monitor"
BATCH_JOB_LABEL = "mlendpoints.io/batch-job"


@dataclass(frozen=True)
class Event:
    """One watch event, with the cached object from before it (None: not cached, or new)."""

    kind: str
    type: str | None
    namespace: str
    name: str
    obj: Mapping[str, Any]
    old: Mapping[str, Any] | None

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.obj.get("spec") or {}

    def status_only(self) -> bool:
        """Whether the event changed nothing but the object's status (and resourceVersion and
        managedFields, which every write changes). Never for a deletion, for kopf's (re)listing
        (type None: a resync after a restart or a lost watch), or for uncached kinds (no ``old``)."""
        if self.type in (None, "DELETED") or self.old is None:
            return False
        return _beyond_status(self.obj) == _beyond_status(self.old)

    def echo(self) -> bool:
        """Whether the event brings the version the cache already holds: the operator's own write,
        whose response went into the cache first. The writer has seen it; its dependents (mapped
        from their own fields, e.g. an endpoint from its deployment's status) may still care."""
        if self.type not in ("ADDED", "MODIFIED") or self.old is None:
            return False
        version = (self.obj.get("metadata") or {}).get("resourceVersion")
        return version is not None and version == (self.old.get("metadata") or {}).get("resourceVersion")

    def label(self, key: str) -> str | None:
        """The label on the object, else on its cached version (a label removed by hand still maps)."""
        for body in (self.obj, self.old or {}):
            value = ((body.get("metadata") or {}).get("labels") or {}).get(key)
            if value:
                return str(value)
        return None


#: ``(ctx, event) -> reconciles``; ``ctx.store`` already reflects the event.
Mapper = Callable[[Context, Event], Iterable[Item]]
#: ``(store, namespace, name) -> bool``: whether an object of an uncached, filtered kind matters.
Referenced = Callable[[Context, str, str], bool]


@dataclass(frozen=True)
class Watch:
    """How one kind is watched.

    Attributes:
        kind: The API kind.
        enqueue: Maps an event of this kind to the reconciles it may affect.
        selector: Equality labels of the server-side label selector (watch and priming LIST);
            empty: every object of the kind.
        cached: Kept in the Store (primed at startup, updated by every event). False: events only
            wake reconciles, and reconcilers read the object by name (``Context.live`` GETs it).
        indexes: Labels the Store indexes for ``by_label`` lookups.
        referenced: For uncached kinds, a client-side filter: only events of objects a resource
            refers to are handled.
        gateway_api: Served only when the Gateway API is installed (skipped in priming otherwise).
        fields: Top-level fields the Store keeps (None: all), to bound its memory.
    """

    kind: Kind
    enqueue: Mapper
    selector: Mapping[str, str] | None = None
    cached: bool = True
    indexes: tuple[str, ...] = ()
    referenced: Referenced | None = None
    gateway_api: bool = False
    fields: tuple[str, ...] | None = None

    @property
    def label_selector(self) -> str | None:
        """The selector as a ``labelSelector`` query value (None: none)."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.selector.items())) if self.selector else None


# -- mappers --------------------------------------------------------------------------------------
#: Metadata fields every write changes: not a change a reconcile has to answer.
_BOOKKEEPING = frozenset({"resourceVersion", "managedFields"})


#: Annotations Kubernetes components keep on the objects we own (the Deployment controller's
#: ``deployment.kubernetes.io/revision``, kubectl's ``last-applied-configuration``): bookkeeping
#: that is not ours to answer. The operator sets none in these domains on objects' own metadata.
_BOOKKEEPING_ANNOTATIONS = ("deployment.kubernetes.io/", "kubectl.kubernetes.io/")


def _ours(key: str) -> bool:
    return not key.startswith(_BOOKKEEPING_ANNOTATIONS)


def _beyond_status(body: Mapping[str, Any]) -> dict[str, Any]:
    """The object without its status, the metadata every write changes, and annotations that
    Kubernetes components keep (e.g. the Deployment controller's revision)."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _BOOKKEEPING}
    annotations = {k: v for k, v in (meta.pop("annotations", None) or {}).items() if _ours(k)}
    if annotations:
        meta["annotations"] = annotations
    return {k: v for k, v in body.items() if k != "status"} | {"metadata": meta}


def _self(ev: Event) -> Iterator[Item]:
    """The object itself, unless the event only changed its status.

    Status is written by the object's own reconcile (which has just computed it), so answering a
    status-only change would run a reconcile that finds nothing to do: controller-runtime's
    ``GenerationChangedPredicate``, widened to metadata (labels, ownerReferences, deletion) that
    the reconcile also answers. Events of the object's children and dependencies still wake it.
    """
    if ev.type != "DELETED" and not ev.status_only():
        yield (ev.kind, ev.namespace, ev.name)


def _owners(ev: Event) -> Iterator[Item]:
    """The reconciled owner named by the controller ownerReference (of the object or its cached version)."""
    for body in (ev.obj, ev.old or {}):
        for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
            ours = str(ref.get("apiVersion", "")).startswith("mlendpoints.io/")
            if ref.get("controller") and ours and ref.get("kind") in RECONCILED:
                yield (str(ref["kind"]), ev.namespace, str(ref["name"]))


def online_endpoint(ctx: Context, ev: Event) -> Iterator[Item]:
    yield from _self(ev)
    for other in references.same_host(ctx.store, ev.obj, ev.old):  # a host freed or claimed
        yield ("OnlineEndpoint", other["metadata"]["namespace"], other["metadata"]["name"])
    if ev.old is None or ev.old.get("spec") != ev.obj.get("spec") or ev.type == "DELETED":
        for dep in ctx.store.by_label("OnlineDeployment", ev.namespace, ENDPOINT_LABEL, ev.name):
            yield ("OnlineDeployment", ev.namespace, dep["metadata"]["name"])


def online_deployment(ctx: Context, ev: Event) -> Iterator[Item]:
    yield from _self(ev)
    if ev.spec.get("endpointName"):
        yield ("OnlineEndpoint", ev.namespace, str(ev.spec["endpointName"]))
    for mon in ctx.store.in_namespace("ModelMonitor", ev.namespace):
        if (mon.get("spec") or {}).get("deploymentName") == ev.name:
            yield ("ModelMonitor", ev.namespace, mon["metadata"]["name"])


def model_monitor(ctx: Context, ev: Event) -> Iterator[Item]:
    yield ("ModelMonitor", ev.namespace, ev.name)


def instance_type(ctx: Context, ev: Event) -> Iterator[Item]:
    yield from _self(ev)
    for ns, user in instancetype.users(ctx, ev.name):
        yield ("OnlineDeployment", ns, user)
    for bdep in ctx.store.all("BatchDeployment"):
        if (bdep.get("spec") or {}).get("instanceType") == ev.name:
            yield ("BatchDeployment", bdep["metadata"]["namespace"], bdep["metadata"]["name"])


def batch_endpoint(ctx: Context, ev: Event) -> Iterator[Item]:
    yield ("BatchEndpoint", ev.namespace, ev.name)
    for job in ctx.store.in_namespace("BatchJob", ev.namespace):
        if (job.get("spec") or {}).get("endpointName") == ev.name:
            yield ("BatchJob", ev.namespace, job["metadata"]["name"])


def batch_deployment(ctx: Context, ev: Event) -> Iterator[Item]:
    yield ("BatchDeployment", ev.namespace, ev.name)
    if ev.spec.get("endpointName"):
        yield ("BatchEndpoint", ev.namespace, str(ev.spec["endpointName"]))
    # Endpoints naming it as their default judge it too (e.g. it belongs to another endpoint).
    for bep in ctx.store.in_namespace("BatchEndpoint", ev.namespace):
        if ((bep.get("spec") or {}).get("defaults") or {}).get("deploymentName") == ev.name:
            yield ("BatchEndpoint", ev.namespace, bep["metadata"]["name"])
    for job in ctx.store.in_namespace("BatchJob", ev.namespace):
        yield ("BatchJob", ev.namespace, job["metadata"]["name"])


def batch_job(ctx: Context, ev: Event) -> Iterator[Item]:
    yield from _self(ev)


def child(ctx: Context, ev: Event) -> Iterator[Item]:
    """A child the operator created: its owner, whatever happened to it (drift, deletion, status),
    except the echo of the owner's own write."""
    if not ev.echo():
        yield from _owners(ev)


def _traffic_facts(body: Mapping[str, Any] | None) -> tuple[object, object]:
    """What the endpoint reads of a Deployment: its labels (whose it is) and available pods."""
    body = body or {}
    return (body.get("metadata") or {}).get("labels"), (body.get("status") or {}).get("availableReplicas")


def deployment_child(ctx: Context, ev: Event) -> Iterator[Item]:
    """An apps/v1 Deployment: its OnlineDeployment; and its endpoint when it appears, goes, or its
    labels or available pods change (they decide traffic; other rollout steps do not concern the
    endpoint, which hears of them through the OnlineDeployment's status)."""
    if not ev.echo():
        yield from _owners(ev)
    endpoint_name = ev.label(ENDPOINT_LABEL)
    changed = ev.old is None or ev.type == "DELETED" or _traffic_facts(ev.obj) != _traffic_facts(ev.old)
    if endpoint_name and ev.label(DEPLOYMENT_LABEL) and changed:
        yield ("OnlineEndpoint", ev.namespace, endpoint_name)


def pod(ctx: Context, ev: Event) -> Iterator[Item]:
    """Pods are owned by ReplicaSets and Jobs, not by us: mapped by the labels of their template."""
    for label, kind in (
        (DEPLOYMENT_LABEL, "OnlineDeployment"),
        (MONITOR_LABEL, "ModelMonitor"),
        (BATCH_JOB_LABEL, "BatchJob"),
    ):
        value = ev.label(label)
        if value:
            yield (kind, ev.namespace, value)


def gateway(ctx: Context, ev: Event) -> Iterator[Item]:
    for ep_ns, ep_name in endpoint.gateway_users(ctx, ev.namespace, ev.name):
        yield ("OnlineEndpoint", ep_ns, ep_name)


def _pvc_uri(uri: str, name: str) -> bool:
    return uri.startswith(f"pvc://{name}/") or uri == f"pvc://{name}"


def _batch_users(ctx: Context, kind: str, namespace: str, name: str) -> Iterator[Item]:
    """BatchDeployments whose model/code claim (PersistentVolumeClaim) or code ConfigMap is ``name``."""
    for bdep in ctx.store.in_namespace("BatchDeployment", namespace):
        spec = bdep.get("spec") or {}
        code = spec.get("codeConfiguration") or {}
        if kind == "ConfigMap":
            hit = (code.get("configMap") or {}).get("name") == name
        else:
            uris = [(spec.get("model") or {}).get("path") or "", code.get("code") or ""]
            hit = any(_pvc_uri(u, name) for u in uris)
        if hit:
            yield ("BatchDeployment", namespace, bdep["metadata"]["name"])


def _online_configmap_users(ctx: Context, namespace: str, name: str) -> Iterator[Item]:
    for dep in ctx.store.in_namespace("OnlineDeployment", namespace):
        code = (dep.get("spec") or {}).get("codeConfiguration") or {}
        if (code.get("configMap") or {}).get("name") == name:
            yield ("OnlineDeployment", namespace, dep["metadata"]["name"])


def _job_pvc_users(ctx: Context, namespace: str, name: str) -> Iterator[Item]:
    for job in ctx.store.in_namespace("BatchJob", namespace):
        spec = job.get("spec") or {}
        uris = [i.get("path", "") for i in (spec.get("inputs") or {}).values()]
        uris.append((spec.get("output") or {}).get("path", ""))
        if any(_pvc_uri(u, name) for u in uris):
            yield ("BatchJob", namespace, job["metadata"]["name"])


def configmap(ctx: Context, ev: Event) -> Iterator[Item]:
    yield from _batch_users(ctx, "ConfigMap", ev.namespace, ev.name)
    yield from _online_configmap_users(ctx, ev.namespace, ev.name)


def pvc(ctx: Context, ev: Event) -> Iterator[Item]:
    yield from _batch_users(ctx, "PersistentVolumeClaim", ev.namespace, ev.name)
    yield from _job_pvc_users(ctx, ev.namespace, ev.name)


def configmap_referenced(ctx: Context, namespace: str, name: str) -> bool:
    return any(configmap(ctx, Event("ConfigMap", None, namespace, name, {}, None)))


def pvc_referenced(ctx: Context, namespace: str, name: str) -> bool:
    return any(pvc(ctx, Event("PersistentVolumeClaim", None, namespace, name, {}, None)))


# -- the table ------------------------------------------------------------------------------------
TABLE: tuple[Watch, ...] = (
    Watch(resources.ONLINE_ENDPOINT, online_endpoint),
    Watch(resources.ONLINE_DEPLOYMENT, online_deployment, indexes=(ENDPOINT_LABEL,)),
    Watch(resources.INSTANCE_TYPE, instance_type),
    Watch(resources.BATCH_ENDPOINT, batch_endpoint),
    Watch(resources.BATCH_DEPLOYMENT, batch_deployment),
    Watch(resources.BATCH_JOB, batch_job),
    Watch(resources.MODEL_MONITOR, model_monitor),
    # children (pruned by owner uid, so indexed by it)
    Watch(resources.DEPLOYMENT, deployment_child, MANAGED, indexes=(child_labels.OWNER_UID,)),
    Watch(resources.SERVICE, child, MANAGED, indexes=(child_labels.OWNER_UID,)),
    Watch(resources.HPA, child, MANAGED, indexes=(child_labels.OWNER_UID,)),
    Watch(resources.PDB, child, MANAGED, indexes=(child_labels.OWNER_UID,)),
    Watch(resources.NETWORK_POLICY, child, MANAGED, indexes=(child_labels.OWNER_UID,)),
    Watch(resources.INGRESS, child, MANAGED, indexes=(child_labels.OWNER_UID,)),
    Watch(resources.HTTPROUTE, child, MANAGED, indexes=(child_labels.OWNER_UID,), gateway_api=True),
    Watch(resources.JOB, child, MANAGED, indexes=(child_labels.OWNER_UID,)),
    Watch(resources.CRONJOB, child, MANAGED, indexes=(child_labels.OWNER_UID,)),
    Watch(
        resources.POD,
        pod,
        MANAGED,
        indexes=(DEPLOYMENT_LABEL, MONITOR_LABEL, BATCH_JOB_LABEL),
        fields=("metadata", "status"),  # stall reasons and run results; a pod's spec is never read
    ),
    # not ours: read for Programmed and addresses (an endpoint is Ready only on a Programmed one)
    Watch(resources.GATEWAY, gateway, gateway_api=True),
    # read by name; events only wake the resources that name them
    Watch(resources.CONFIGMAP, configmap, cached=False, referenced=configmap_referenced),
    Watch(resources.PVC, pvc, cached=False, referenced=pvc_referenced),
)
BY_KIND: dict[str, Watch] = {w.kind.kind: w for w in TABLE}


def cached() -> dict[str, Indexed]:
    """What the Store holds: the cached kinds, each with its selector, indexes and kept fields."""
    return {
        w.kind.kind: Indexed(selector=dict(w.selector or {}), indexes=w.indexes, fields=w.fields)
        for w in TABLE
        if w.cached
    }


def enqueues(ctx: Context, ev: Event) -> list[Item]:
    """The reconciles an event wakes, in order, without duplicates (kinds without a row: none).

    Raises:
        ValueError: an item of a kind that has no reconciler (a bug in a mapper).
    """
    watch = BY_KIND.get(ev.kind)
    if watch is None:
        return []
    out: dict[Item, None] = {}
    for item in watch.enqueue(ctx, ev):
        if item[0] not in RECONCILED:
            raise ValueError(f"{ev.kind} event mapped to {item}: {item[0]} has no reconciler")
        out[item] = None
    return list(out)
