"""The watch table: what is cached is what is watched and primed, and each event wakes its owner.

Includes the restart scenario the cache design got wrong: the keys Secret of an endpoint made by
an earlier operator process must be deleted when the endpoint switches to ``authMode: none``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import kopf
import pytest

from mlendpoints.backends.kubernetes import deployment, endpoint, monitor
from mlendpoints.clients import diff
from mlendpoints.clients import store as store_module
from mlendpoints.clients.store import Store
from mlendpoints.controller import handlers, watches
from mlendpoints.controller.manager import PAGE, Manager
from mlendpoints.controller.settings import OperatorSettings
from tests.unit.controller.fakekube import FakeKube

NS = "team-a"
API = "mlendpoints.io/v1alpha1"


def _manager(kube: FakeKube) -> Manager:
    return Manager(kube, OperatorSettings())  # type: ignore[arg-type]


def _endpoint(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "OnlineEndpoint",
        "metadata": {"name": "ep1", "namespace": NS},
        "spec": {"routing": {"type": "none"}, **spec},
    }


def _owned(kind: str, api_version: str, name: str, owner: dict[str, Any], **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {**watches.MANAGED, "mlendpoints.io/owner-uid": owner["metadata"]["uid"], **labels},
            "ownerReferences": [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
    }


def test_every_pruned_kind_is_cached_and_every_cached_kind_is_primed_and_watched_alike() -> None:
    cached = watches.cached()
    for kind in {*deployment.CHILD_KINDS, *endpoint.CHILD_KINDS, *monitor.CHILD_KINDS}:
        assert kind.kind in cached, f"{kind.kind} is pruned from the cache but not cached"
    assert "Secret" not in cached  # read by name only: never listed or watched (docs/security.md)
    registered = {h.id for h in kopf.get_default_registry()._watching.get_all_handlers()}
    assert registered == {f"observe-{w.kind.plural}" for w in watches.TABLE}

    kube = FakeKube()
    mine = kube.put(_owned("Service", "v1", "ep1", {**_endpoint(), "metadata": {"name": "ep1", "uid": "u"}}))
    kube.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "theirs", "namespace": NS}})
    manager = _manager(kube)
    asyncio.run(manager._prime())
    assert [s["metadata"]["name"] for s in manager.store.all("Service")] == [mine["metadata"]["name"]]


def test_the_store_refuses_what_no_watch_would_keep_current() -> None:
    store = Store(watches.cached())
    with pytest.raises(KeyError):
        store.upsert("Secret", {"metadata": {"name": "s", "namespace": NS}})
    store.upsert("Service", {"metadata": {"name": "theirs", "namespace": NS}})  # outside the selector
    assert store.get("Service", NS, "theirs") is None
    with pytest.raises(KeyError):
        store.by_label("Service", NS, "mlendpoints.io/deployment", "blue")  # not an index of Service


def test_the_endpoints_own_service_wakes_the_endpoint() -> None:
    """Deleting the endpoint's stable Service (no deployment label) must reconcile the endpoint."""
    manager = _manager(FakeKube())
    owner = {**_endpoint(), "metadata": {"name": "ep1", "namespace": NS, "uid": "ep-uid"}}
    svc = _owned("Service", "v1", "ep1", owner, **{"mlendpoints.io/endpoint": "ep1"})
    ev = watches.Event("Service", "DELETED", NS, "ep1", svc, None)
    assert watches.enqueues(manager.ctx, ev) == [("OnlineEndpoint", NS, "ep1")]


def test_a_status_only_change_wakes_the_endpoint_but_not_the_deployment_itself() -> None:
    """The reconcile that wrote a status has nothing to answer in it; its endpoint reads it."""
    manager = _manager(FakeKube())
    dep = {
        "apiVersion": API,
        "kind": "OnlineDeployment",
        "metadata": {"name": "blue", "namespace": NS, "resourceVersion": "1", "generation": 1},
        "spec": {"endpointName": "ep1"},
    }
    status = {**dep, "metadata": {**dep["metadata"], "resourceVersion": "2"}, "status": {"readyReplicas": 1}}

    def wakes(obj: dict[str, Any], old: dict[str, Any] | None) -> list[tuple[str, str, str]]:
        return watches.enqueues(
            manager.ctx, watches.Event("OnlineDeployment", "MODIFIED", NS, "blue", obj, old)
        )

    assert wakes(status, dep) == [("OnlineEndpoint", NS, "ep1")]
    assert wakes(dep, None) == [("OnlineDeployment", NS, "blue"), ("OnlineEndpoint", NS, "ep1")]
    relabelled = {**status, "metadata": {**status["metadata"], "labels": {"team": "a"}}}
    assert wakes(relabelled, status)[0] == ("OnlineDeployment", NS, "blue")
    respecced = {**status, "spec": {"endpointName": "ep1", "instanceCount": 2}}
    assert wakes(respecced, status)[0] == ("OnlineDeployment", NS, "blue")
    ep = {**_endpoint(), "metadata": {"name": "ep1", "namespace": NS, "resourceVersion": "1"}}
    ep_status = {**ep, "metadata": {**ep["metadata"], "resourceVersion": "2"}, "status": {"traffic": {}}}
    event = watches.Event("OnlineEndpoint", "MODIFIED", NS, "ep1", ep_status, ep)
    assert watches.enqueues(manager.ctx, event) == []


def test_the_deployment_controllers_revision_annotation_is_not_a_change_ours_is() -> None:
    owner = {"apiVersion": API, "kind": "OnlineDeployment", "metadata": {"name": "blue", "uid": "dep-uid"}}
    dep = _owned("Deployment", "apps/v1", "ep1-blue", owner)
    dep["metadata"]["resourceVersion"] = "1"

    def annotated(key: str) -> dict[str, Any]:
        meta = {**dep["metadata"], "resourceVersion": "2", "annotations": {key: "1"}}
        return {**dep, "metadata": meta, "status": {"observedGeneration": 1}}

    kcm = watches.Event(
        "Deployment", "MODIFIED", NS, "ep1-blue", annotated("deployment.kubernetes.io/revision"), dep
    )
    assert kcm.status_only()
    edit = watches.Event(
        "Deployment", "MODIFIED", NS, "ep1-blue", annotated("mlendpoints.io/ignored-env"), dep
    )
    assert not edit.status_only()


def test_the_echo_of_an_owners_own_write_does_not_wake_it_and_a_relisting_does() -> None:
    """A child event with the resourceVersion the cache holds (the owner's apply response went in
    first) wakes nobody; kopf's (re)listing (type None) is a resync: every object reconciles."""
    manager = _manager(FakeKube())
    owner = {"apiVersion": API, "kind": "OnlineDeployment", "metadata": {"name": "blue", "uid": "dep-uid"}}
    svc = _owned("Service", "v1", "ep1-blue", owner)
    svc["metadata"]["resourceVersion"] = "7"
    manager.store.upsert("Service", svc)  # what converge does with the apply response
    cached = manager.store.get("Service", NS, "ep1-blue")
    echo = watches.Event("Service", "MODIFIED", NS, "ep1-blue", svc, cached)
    assert watches.enqueues(manager.ctx, echo) == []
    newer = {**svc, "metadata": {**svc["metadata"], "resourceVersion": "8"}}
    edited = watches.Event("Service", "MODIFIED", NS, "ep1-blue", newer, cached)
    assert watches.enqueues(manager.ctx, edited) == [("OnlineDeployment", NS, "blue")]
    dep = {**owner, "metadata": {**owner["metadata"], "namespace": NS, "resourceVersion": "3"}, "spec": {}}
    listed = watches.Event("OnlineDeployment", None, NS, "blue", dep, dep)
    assert watches.enqueues(manager.ctx, listed) == [("OnlineDeployment", NS, "blue")]


def test_a_child_whose_managed_by_label_is_removed_still_wakes_its_owner() -> None:
    """The server-side selector turns the label's removal into DELETED; the owner restores it."""
    manager = _manager(FakeKube())
    owner = {"apiVersion": API, "kind": "OnlineDeployment", "metadata": {"name": "blue", "uid": "dep-uid"}}
    labels = {"mlendpoints.io/endpoint": "ep1", "mlendpoints.io/deployment": "blue"}
    live = _owned("Deployment", "apps/v1", "ep1-blue", owner, **labels)
    manager.observe("Deployment", "ADDED", live)
    assert manager.store.get("Deployment", NS, "ep1-blue") is not None
    stripped = {**live, "metadata": {**live["metadata"], "labels": {}, "ownerReferences": []}}
    ev = watches.Event("Deployment", "DELETED", NS, "ep1-blue", stripped, live)
    assert watches.enqueues(manager.ctx, ev) == [
        ("OnlineDeployment", NS, "blue"),
        ("OnlineEndpoint", NS, "ep1"),
    ]


def test_a_deployments_rollout_steps_wake_its_endpoint_only_when_available_pods_change() -> None:
    """The endpoint reads a Deployment's available pods (traffic); other status steps only wake the owner."""
    manager = _manager(FakeKube())
    owner = {"apiVersion": API, "kind": "OnlineDeployment", "metadata": {"name": "blue", "uid": "dep-uid"}}
    labels = {"mlendpoints.io/endpoint": "ep1", "mlendpoints.io/deployment": "blue"}
    live = _owned("Deployment", "apps/v1", "ep1-blue", owner, **labels)
    both = [("OnlineDeployment", NS, "blue"), ("OnlineEndpoint", NS, "ep1")]
    assert (
        watches.enqueues(manager.ctx, watches.Event("Deployment", "ADDED", NS, "ep1-blue", live, None))
        == both
    )

    def step(old: dict[str, Any], **status: int) -> tuple[dict[str, Any], list[Any]]:
        new = {**old, "status": status}
        ev = watches.Event("Deployment", "MODIFIED", NS, "ep1-blue", new, old)
        return new, watches.enqueues(manager.ctx, ev)

    live, woken = step(live, replicas=1, updatedReplicas=1)
    assert woken == both[:1]
    live, woken = step(live, replicas=1, updatedReplicas=1, readyReplicas=1, availableReplicas=1)
    assert woken == both
    live, woken = step(
        live, replicas=1, updatedReplicas=1, readyReplicas=1, availableReplicas=1, observedGeneration=2
    )
    assert woken == both[:1]
    gone = watches.Event("Deployment", "DELETED", NS, "ep1-blue", live, live)
    assert watches.enqueues(manager.ctx, gone) == both


def test_uncached_referenced_kinds_wake_their_users_without_entering_the_cache() -> None:
    manager = _manager(FakeKube())
    dep = {
        "apiVersion": API,
        "kind": "OnlineDeployment",
        "metadata": {"name": "blue", "namespace": NS, "uid": "d"},
        "spec": {"endpointName": "ep1", "codeConfiguration": {"configMap": {"name": "score"}}},
    }
    manager.observe("OnlineDeployment", "ADDED", dep)
    assert manager.referenced("ConfigMap", NS, "score")
    assert not manager.referenced("ConfigMap", NS, "other")
    manager.observe("ConfigMap", "MODIFIED", {"metadata": {"name": "score", "namespace": NS}})
    assert manager.store.count("ConfigMap") == 0
    assert ("OnlineDeployment", NS, "blue") in manager.queue._pending


def test_after_a_restart_switching_auth_mode_to_none_deletes_the_keys_secret() -> None:
    """The keys Secret was made by an earlier process: the new one has never seen it."""
    kube = FakeKube()
    ep = kube.put(_endpoint(authMode="key"))
    keys = _owned("Secret", "v1", "ep1-keys", ep)
    kube.put({**keys, "data": {"primaryKey": "YQ==", "secondaryKey": "Yg=="}})

    async def restart_then_switch() -> None:
        manager = _manager(kube)  # a fresh process: primes its cache from the API
        await manager._prime()
        switched = kube.edit("OnlineEndpoint", NS, "ep1")
        switched["spec"]["authMode"] = "none"
        manager.observe("OnlineEndpoint", "MODIFIED", switched)
        await endpoint.reconcile(manager.ctx, NS, "ep1")

    asyncio.run(restart_then_switch())
    assert kube.find("Secret", NS, "ep1-keys") is None
    assert kube.writes[("delete", "Secret")] == 1


def test_child_watches_select_server_side_and_own_kinds_do_not() -> None:
    settings = kopf.OperatorSettings()
    handlers.select(settings)
    services = kopf.Resource("", "v1", "services", kind="Service", namespaced=True)
    endpoints = kopf.Resource(
        "mlendpoints.io", "v1alpha1", "onlineendpoints", kind="OnlineEndpoint", namespaced=True
    )
    assert list(settings.watching.label_selectors.collect(services)) == [
        "app.kubernetes.io/managed-by=mlendpoints-operator"
    ]
    assert list(settings.watching.label_selectors.collect(endpoints)) == []


def test_the_cache_keeps_only_what_reconcilers_read() -> None:
    store = Store(watches.cached())
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": NS,
            "labels": {**watches.MANAGED, "mlendpoints.io/deployment": "blue"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "keep": "me"},
            "managedFields": [
                {"manager": "kubelet", "operation": "Update", "subresource": "status"},
                {"manager": "mlendpoints-operator", "operation": "Apply", "fieldsV1": {}},
            ],
        },
        "spec": {"containers": [{"name": "main", "image": "x"}]},
        "status": {"phase": "Running"},
    }
    kept = store.upsert("Pod", pod)
    assert set(kept) == {"apiVersion", "kind", "metadata", "status"}
    assert kept["metadata"]["annotations"] == {"keep": "me"}
    [entry] = kept["metadata"]["managedFields"]
    assert entry["manager"] == "mlendpoints-operator"
    assert store_module.fields_v1(entry) == {}
    assert store.by_label("Pod", NS, "mlendpoints.io/deployment", "blue") == [kept]
    assert "spec" in pod  # the event body itself is not changed
    # Each event is parsed anew; cached copies share their keys and short strings (memory).
    again = json.loads(json.dumps({**pod, "metadata": {**pod["metadata"], "name": "q"}}))
    other = store.upsert("Pod", again)
    assert other is not kept
    assert next(k for k in other["status"] if k == "phase") is next(k for k in kept["status"] if k == "phase")
    assert other["status"]["phase"] is kept["status"]["phase"]


def test_a_deleted_endpoint_is_forgotten() -> None:
    """Deployments it saw and problems it waited on must not follow a new endpoint of that name."""
    manager = _manager(FakeKube())
    manager.ctx.seen_deployments[(NS, "ep1")] = {"blue"}
    manager.ctx.problem_since[(NS, "ep1", "DeploymentNotFound")] = 1.0
    manager.ctx.problem_since[(NS, "ep2", "DeploymentNotFound")] = 1.0
    body = {**_endpoint(), "metadata": {"name": "ep1", "namespace": NS, "uid": "u"}}
    manager.observe("OnlineEndpoint", "DELETED", body)
    assert manager.ctx.seen_deployments == {}
    assert list(manager.ctx.problem_since) == [(NS, "ep2", "DeploymentNotFound")]


def test_a_write_response_older_than_the_cached_object_does_not_replace_it() -> None:
    """Our apply's response can arrive after the watch delivered the Gateway's status on top of it."""
    store = Store(watches.cached())
    owner = {"apiVersion": API, "kind": "OnlineEndpoint", "metadata": {"name": "ep1", "uid": "ep-uid"}}
    applied = {**_owned("HTTPRoute", "gateway.networking.k8s.io/v1", "ep1", owner), "spec": {"rules": []}}
    applied["metadata"]["resourceVersion"] = "10"
    accepted = {
        **applied,
        "metadata": {**applied["metadata"], "resourceVersion": "11"},
        "status": {"parents": [1]},
    }
    store.upsert("HTTPRoute", accepted)  # the watch event
    assert store.upsert("HTTPRoute", applied)["status"] == {"parents": [1]}  # the late response
    assert store.get("HTTPRoute", NS, "ep1")["status"] == {"parents": [1]}  # type: ignore[index]


def test_the_cache_keeps_only_the_operators_own_apply_entry_and_its_readers_still_read_it() -> None:
    """The readers of managedFields (diff.owns_dropped, the replicas handover) look for ours only;
    its fieldsV1 is cached as JSON text (memory) and read back through ``fields_v1``."""
    store = Store(watches.cached(), field_manager="mlendpoints-operator")
    owner = {"apiVersion": API, "kind": "OnlineEndpoint", "metadata": {"name": "ep1", "uid": "u"}}
    dep = _owned("Deployment", "apps/v1", "ep1-blue", owner)
    dep["spec"] = {"replicas": 2, "template": {}}
    ours = {
        "manager": "mlendpoints-operator",
        "operation": "Apply",
        "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}},
    }
    dep["metadata"]["managedFields"] = [
        {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {"f:paused": {}}}},
        ours,
        {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}},
    ]
    cached = store.upsert("Deployment", dep)
    [entry] = cached["metadata"]["managedFields"]
    assert entry["manager"] == "mlendpoints-operator"
    assert store_module.fields_v1(entry) == ours["fieldsV1"]
    assert deployment._owns_replicas(cached, "mlendpoints-operator")
    without_replicas = {**dep, "metadata": {"name": "ep1-blue"}, "spec": {"template": {}}}
    assert diff.owns_dropped(without_replicas, cached, "mlendpoints-operator")
    assert not diff.owns_dropped({**without_replicas, "spec": dep["spec"]}, cached, "mlendpoints-operator")


def test_the_same_version_is_not_copied_again_but_a_new_one_replaces_it() -> None:
    """kopf's initial listing repeats what priming cached: the cached copy stays, nothing is rebuilt."""
    store = Store(watches.cached())
    body = {**_endpoint(), "metadata": {"name": "ep1", "namespace": NS, "resourceVersion": "5"}}
    cached = store.upsert("OnlineEndpoint", body)
    assert store.upsert("OnlineEndpoint", json.loads(json.dumps(body))) is cached
    changed = {**body, "metadata": {**body["metadata"], "resourceVersion": "6"}, "spec": {"traffic": {}}}
    assert store.upsert("OnlineEndpoint", changed)["spec"] == {"traffic": {}}
    assert store.get("OnlineEndpoint", NS, "ep1")["spec"] == {"traffic": {}}  # type: ignore[index]


def test_priming_reads_every_page() -> None:
    """More objects than one page of the priming LIST: all of them are cached."""
    kube = FakeKube()
    owner = {"apiVersion": API, "kind": "OnlineEndpoint", "metadata": {"name": "ep1", "uid": "u"}}
    for i in range(2 * PAGE + 1):
        kube.put(_owned("Service", "v1", f"svc-{i}", owner))
    manager = _manager(kube)
    asyncio.run(manager._prime())
    assert manager.store.count("Service") == 2 * PAGE + 1
