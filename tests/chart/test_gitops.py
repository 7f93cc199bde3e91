"""What Flux, Helm 4 ``--wait`` and Argo CD read, on the real control plane.

The chart is installed watching the whole cluster (the default), and the operator runs with
the chart's ServiceAccount token. For each kind, objects are driven into the kstatus
in-progress, failed and current cases; each captured object is judged by the kstatus rules
(``mlendpoints_dev.kstatus``, the cli-utils decision table) and by the shipped Argo CD Lua
check (docs/gitops/health.lua via lupa), which must agree: Progressing, Degraded, Healthy. Then
no drift: a server-side dry-run of the same manifests changes nothing, and a final check that
the operator was never denied anything.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlendpoints_dev import kstatus
from tests.chart import argo
from tests.chart.conftest import (
    GROUP,
    Release,
    create_namespace,
    delete_namespace,
    installed,
    scoring_manifests,
)
from tests.conftest import namespace_name
from tests.integration.conftest import condition, get, wait_for

pytestmark = pytest.mark.timeout(600)
API = f"{GROUP}/v1alpha1"
MANAGER = "gitops-test"  # the field manager a GitOps tool would apply with


def _obj(kind: str, name: str, ns: str | None, spec: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": API, "kind": kind, "metadata": meta, "spec": spec}


def manifests(ns: str, suffix: str) -> list[dict[str, Any]]:
    """Objects that settle into known kstatus results (see CASES)."""
    objects = scoring_manifests(ns, "ep1", ("good",), traffic={"good": 100})
    base = objects[-1]["spec"]
    objects += [
        _obj("OnlineDeployment", "bad", ns, {**base, "instanceType": f"missing-{suffix}"}),
        _obj("OnlineDeployment", "orphan", ns, {**base, "endpointName": "nowhere"}),
        _obj("OnlineEndpoint", "waiting", ns, {"traffic": {"ghost": 100}}),
        _obj(
            "OnlineEndpoint",
            "splitnone",
            ns,
            {"traffic": {"aaa": 50, "bbb": 50}, "routing": {"type": "none"}},
        ),
        _obj("InstanceType", f"valid-{suffix}", None, {"nodeSelector": {"kubernetes.io/os": "linux"}}),
        _obj("BatchEndpoint", "bep-ok", ns, {"defaults": {"deploymentName": "scorer"}}),
        _obj("BatchEndpoint", "bep-wait", ns, {"defaults": {"deploymentName": "later"}}),
        _obj("BatchEndpoint", "bep-mismatch", ns, {"defaults": {"deploymentName": "scorer"}}),
    ]
    batch_dep = {"model": {"path": "pvc://models/m/", "type": "mlflow"}, "settings": {"miniBatchSize": 5}}
    objects += [
        _obj("BatchDeployment", "scorer", ns, {"endpointName": "bep-ok", **batch_dep}),
        _obj("BatchDeployment", "bdep-wait", ns, {"endpointName": "nobep", **batch_dep}),
        _obj(
            "BatchDeployment",
            "bdep-bad",
            ns,
            {"endpointName": "bep-ok", "instanceType": f"missing-{suffix}", **batch_dep},
        ),
    ]
    job = {"inputs": {"data": {"path": "pvc://data/in/"}}, "output": {"path": "pvc://data/out/"}}
    claim = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}
    objects += [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": n, "namespace": ns},
            "spec": claim,
        }
        for n in ("models", "data")
    ]
    objects += [
        _obj("BatchJob", "job-wait", ns, {"endpointName": "nobep", **job}),
        # its pods stay Pending (the claims are never bound: no provisioner), so the job is Running
        _obj("BatchJob", "job-run", ns, {"endpointName": "bep-ok", **job}),
        _obj(
            "BatchJob",
            "job-noclaim",
            ns,
            {**job, "endpointName": "bep-ok", "output": {"path": "pvc://gone/out"}},
        ),
    ]
    return objects


#: kind -> [(name, kstatus result, reason of the deciding condition)]
CASES: dict[str, list[tuple[str, str, str]]] = {
    "OnlineDeployment": [
        ("orphan", kstatus.IN_PROGRESS, "WaitingForEndpoint"),
        ("bad", kstatus.FAILED, "UnknownInstanceType"),
        ("good", kstatus.CURRENT, "Ready"),
    ],
    "OnlineEndpoint": [
        ("waiting", kstatus.IN_PROGRESS, "DeploymentNotFound"),
        ("splitnone", kstatus.FAILED, "RoutingUnsupported"),
        ("ep1", kstatus.CURRENT, "Ready"),
    ],
    "InstanceType": [("valid-{suffix}", kstatus.CURRENT, "Ready")],
    "BatchEndpoint": [
        ("bep-wait", kstatus.IN_PROGRESS, "WaitingForDeployments"),
        ("bep-mismatch", kstatus.FAILED, "EndpointMismatch"),
        ("bep-ok", kstatus.CURRENT, "Ready"),
    ],
    "BatchDeployment": [
        ("bdep-wait", kstatus.IN_PROGRESS, "WaitingForEndpoint"),
        ("bdep-bad", kstatus.FAILED, "UnknownInstanceType"),
        ("scorer", kstatus.CURRENT, "Ready"),
    ],
    "BatchJob": [
        ("job-wait", kstatus.IN_PROGRESS, "WaitingForEndpoint"),
        ("job-noclaim", kstatus.FAILED, "ClaimNotFound"),
        ("job-run", kstatus.IN_PROGRESS, "Running"),
    ],
}
DECIDING = {kstatus.IN_PROGRESS: "Reconciling", kstatus.FAILED: "Stalled", kstatus.CURRENT: "Ready"}


@pytest.fixture(scope="module")
def gitops(
    cluster: Any, helm: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Release, str, str]]:
    """The chart installed cluster-wide, its operator running, and the CASES objects applied."""
    ns = create_namespace(cluster, namespace_name("chart-gitops"))
    suffix = ns[-6:]
    work = tmp_path_factory.mktemp("chart-gitops")
    try:
        # A missing deployment turns Stalled after MLENDPOINTS_STALL_AFTER; keep "waiting" in progress.
        stall = {"operator": {"extraEnv": [{"name": "MLENDPOINTS_STALL_AFTER", "value": "3600"}]}}
        with installed(cluster, helm, work, name="mlep-gitops", namespace=ns, values=stall) as release:
            manifest = work / "manifests.json"
            manifest.write_text(
                json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests(ns, suffix)})
            )
            cluster.kubectl("apply", "--server-side", f"--field-manager={MANAGER}", "-f", str(manifest))
            yield release, ns, suffix
    finally:
        delete_namespace(cluster, ns)
        cluster.kubectl(
            "delete", "instancetype", f"valid-{suffix}", "--ignore-not-found", "--wait=false", check=False
        )


def settled(cluster: Any, kind: str, name: str, ns: str | None, expected: str, reason: str) -> dict[str, Any]:
    """Wait until the operator has reported on the latest generation with the expected verdict."""

    def check() -> dict[str, Any] | None:
        obj = get(cluster, kind, name, ns)
        status = (obj or {}).get("status") or {}
        if obj is None or status.get("observedGeneration") != obj["metadata"]["generation"]:
            return None
        cond = condition(obj, DECIDING[expected])
        if kstatus.compute(obj) == expected and cond is not None and cond.get("reason") == reason:
            return obj
        return None

    return wait_for(check, timeout=90, what=f"{kind}/{name} kstatus {expected} ({reason})")


@pytest.mark.parametrize("kind", list(CASES))
def test_kstatus_and_argo_health_per_kind(cluster: Any, gitops: tuple[Release, str, str], kind: str) -> None:
    _, ns, suffix = gitops
    namespaced = kind != "InstanceType"
    for name, expected, reason in CASES[kind]:
        name = name.format(suffix=suffix)
        obj = settled(cluster, kind, name, ns if namespaced else None, expected, reason)
        assert kstatus.compute(obj) == expected
        health = argo.health(obj)
        assert health["status"] == argo.KSTATUS_TO_ARGO[expected], (name, health, obj["status"])
        if expected != kstatus.CURRENT:
            assert health["message"], f"{kind}/{name}: Argo CD shows no message"
        conds = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
        assert not (conds.get("Reconciling") == "True" and conds.get("Stalled") == "True")


@pytest.mark.parametrize(
    ("kind", "name", "patch"),
    [
        ("OnlineEndpoint", "ep1", {"spec": {"description": "changed"}}),
        ("OnlineDeployment", "good", {"spec": {"description": "changed"}}),
        ("BatchEndpoint", "bep-ok", {"spec": {"description": "changed"}}),
        ("BatchDeployment", "scorer", {"spec": {"description": "changed"}}),
        ("InstanceType", "valid-{suffix}", {"spec": {"nodeSelector": {"changed": "true"}}}),
    ],
)
def test_a_spec_change_is_in_progress_until_observed(
    cluster: Any, gitops: tuple[Release, str, str], kind: str, name: str, patch: dict[str, Any]
) -> None:
    _, ns, suffix = gitops
    name = name.format(suffix=suffix)
    where = ["-n", ns] if kind != "InstanceType" else []
    settled(cluster, kind, name, ns if where else None, kstatus.CURRENT, "Ready")
    # The API server's answer to the write, before any operator could have reacted.
    written = json.loads(
        cluster.kubectl(
            "patch", kind, name, *where, "--type=merge", "-p", json.dumps(patch), "-o", "json"
        ).stdout
    )
    assert written["status"]["observedGeneration"] < written["metadata"]["generation"]
    assert kstatus.compute(written) == kstatus.IN_PROGRESS
    assert argo.health(written)["status"] == "Progressing"
    settled(cluster, kind, name, ns if where else None, kstatus.CURRENT, "Ready")


def test_instancetype_failed_case_is_refused_at_admission(
    cluster: Any, gitops: tuple[Release, str, str]
) -> None:
    """InstanceType has no Failed case to observe: the CRD (generated from the same model the
    operator validates with) rejects every spec the operator would call Stalled."""
    for spec in (
        {"nodeSelector": {f"k{i}": "v" for i in range(33)}},
        {"tolerations": [{"key": "a", "operator": "Sometimes"}]},
        {"resources": {"requests": {"cpu": "lots"}}},
    ):
        obj = _obj("InstanceType", "never", None, spec)
        proc = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(obj), check=False)
        assert proc.returncode != 0, f"accepted {spec}"


def test_no_drift_after_reconcile(cluster: Any, gitops: tuple[Release, str, str], tmp_path: Path) -> None:
    """A server-side dry-run apply of the applied manifests changes nothing the user owns."""
    _, ns, suffix = gitops
    settled(cluster, "OnlineEndpoint", "ep1", ns, kstatus.CURRENT, "Ready")
    objects = [o for o in manifests(ns, suffix) if o["kind"] != "InstanceType"]
    manifest = tmp_path / "manifests.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    # Same manifests, same field manager: what a GitOps tool's next sync would send. (The
    # description patches above were made by another manager, so they are not this one's to undo.)
    proc = subprocess.run(
        [
            str(cluster.bin("kubectl")),
            f"--kubeconfig={cluster.kubeconfig}",
            "diff",
            "--server-side",
            f"--field-manager={MANAGER}",
            "--force-conflicts",
            "-f",
            str(manifest),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=cluster.env(),
        check=False,
    )
    assert proc.returncode == 0, f"drift (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
    for obj in objects:
        live = get(cluster, obj["kind"], obj["metadata"]["name"], ns)
        assert live is not None
        meta = live["metadata"]
        # (Kubernetes itself protects claims in use with kubernetes.io/pvc-protection)
        finalizers = [f for f in meta.get("finalizers") or [] if f != "kubernetes.io/pvc-protection"]
        assert not finalizers, f"{obj['kind']}/{meta['name']}: the operator added finalizers"
        assert not [a for a in (meta.get("annotations") or {}) if "kopf" in a], (
            f"{obj['kind']}/{meta['name']}"
        )


def test_the_operator_was_never_denied(gitops: tuple[Release, str, str]) -> None:
    release, _, _ = gitops
    problems = release.permission_problems()
    assert not problems, "the chart's ClusterRole denied the operator:\n" + "\n".join(problems[:20])
    if release.cluster.is_local:
        assert release.writes(), "the operator wrote nothing: was another operator acting instead?"
