"""``helm install`` into the real control plane, then the operator with the chart's ServiceAccount token.

Order matters inside this module (pytest runs it top to bottom): template validation, install
(watching the release namespace: Role + RoleBinding), an endpoint driven to Ready by the
operator authenticated only by a TokenRequest token of the chart's ServiceAccount, the
``helm test`` check, ``helm upgrade`` with a changed CRD, and ``helm uninstall`` keeping the
CRDs and the users' objects. kwok runs no containers: the chart's operator pod turns Ready
without running, and the real operator runs here as a process.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlendpoints.api import crdgen
from mlendpoints_dev import kstatus
from tests.chart.conftest import (
    CHART,
    Release,
    create_namespace,
    delete_namespace,
    installed,
    one,
    run_helm,
    scoring_manifests,
    template,
    token_kubeconfig,
)
from tests.conftest import namespace_name
from tests.integration.conftest import get, wait_condition

pytestmark = pytest.mark.timeout(600)


def _kube_version(cluster: Any) -> str:
    version = cluster.kubectl_json("version")["serverVersion"]
    return str(version["gitVersion"]).split("+")[0].split("-")[0]


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_rendered_chart_passes_server_side_dry_run(
    cluster: Any, helm: Path, namespace: str, tmp_path: Path, mode: str
) -> None:
    other = create_namespace(cluster, namespace_name("dry-run-other"))
    values: dict[str, Any] = (
        {"operator": {"watchNamespaces": [namespace, other]}} if mode == "namespaced" else {}
    )
    objects = template(
        helm,
        tmp_path,
        values,
        namespace=namespace,
        extra=["--kube-version", _kube_version(cluster)],
    )
    manifest = tmp_path / "rendered.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    # Pod admission looks the ServiceAccount up, and a dry run creates nothing: create the helm
    # test hook's ServiceAccount for real (as `helm test` does before the Pod) in this throwaway namespace.
    hook_sa = [
        o
        for o in objects
        if o["kind"] == "ServiceAccount" and "helm.sh/hook" in (o["metadata"].get("annotations") or {})
    ]
    cluster.apply(hook_sa)
    out = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--server-side",
        "--field-manager=chart-dry-run",
        "--force-conflicts",
        "-f",
        str(manifest),
        "-o",
        "name",
    ).stdout
    assert len(out.split()) == len(objects)
    cluster.kubectl("delete", "namespace", other, "--wait=false")


@pytest.fixture(scope="module")
def release(cluster: Any, helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    ns = create_namespace(cluster, namespace_name("chart-install"))
    work = tmp_path_factory.mktemp("chart-install")
    values = {"operator": {"watchNamespaces": [ns]}}
    try:
        with installed(cluster, helm, work, name="mlep", namespace=ns, values=values) as rel:
            yield rel
    finally:
        delete_namespace(cluster, ns)


def test_install_creates_the_namespaced_rbac_and_a_running_operator_pod(
    cluster: Any, release: Release
) -> None:
    ns = release.namespace
    manifest = release.manifest()
    kinds = sorted({o["kind"] for o in manifest})
    assert kinds == sorted(
        {
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        }
    )
    assert one(manifest, "Role")["metadata"]["namespace"] == ns
    # helm --wait returned: the Deployment (kwok "runs" its pod) is available.
    deployment = cluster.kubectl_json("get", "deployment", release.fullname, "-n", ns)
    assert deployment["status"].get("availableReplicas") == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    for name in (p.stem for p in crdgen_dir()):
        crd = cluster.kubectl_json("get", "crd", name)
        assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == "mlep"
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    notes = run_helm(release.helm, *release.helm_args("get", "notes", "mlep"), env=cluster.env())
    assert f"It reconciles endpoints in: {ns}." in notes
    assert len(notes.strip().splitlines()) <= 20


def crdgen_dir() -> list[Path]:
    return sorted((Path(__file__).resolve().parents[2] / "crds").glob("*.yaml"))


def test_operator_with_the_chart_token_drives_an_endpoint_to_ready(cluster: Any, release: Release) -> None:
    ns = release.namespace
    cluster.apply(scoring_manifests(ns, "ep1", ("blue",)))
    dep = wait_condition(cluster, "onlinedeployment", "blue", ns, "Ready")
    ep = wait_condition(cluster, "onlineendpoint", "ep1", ns, "Ready")
    assert kstatus.compute(dep) == kstatus.compute(ep) == kstatus.CURRENT
    assert get(cluster, "deployment", "ep1-blue", ns) is not None
    assert get(cluster, "secret", ep["status"]["keysSecretName"], ns) is not None
    problems = release.permission_problems()
    assert not problems, "the chart's RBAC denied the operator:\n" + "\n".join(problems[:20])
    if cluster.is_local:
        writes = release.writes()
        status_writes = [w for w in writes if w.get("objectRef", {}).get("subresource") == "status"]
        assert status_writes, f"no status write was made as {release.user}"
        assert {w["user"]["username"] for w in writes} == {release.user}


def test_a_missing_rule_is_caught_as_a_403(cluster: Any, release: Release) -> None:
    """The check above is not vacuous: take one verb away from the Role and the operator is denied."""
    ns = release.namespace
    role = cluster.kubectl_json("get", "role", release.fullname, "-n", ns)
    trimmed = json.loads(json.dumps(role))
    for rule in trimmed["rules"]:
        if rule["resources"] == ["secrets"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != "create"]
    cluster.kubectl("replace", "-f", "-", "-n", ns, input=json.dumps(trimmed))
    try:
        cluster.apply(scoring_manifests(ns, "ep2", ("green",)))
        denied = wait_for_problems(release)
        assert any("secrets" in line for line in denied), denied
    finally:
        restored = {k: v for k, v in role.items() if k != "metadata"} | {
            "metadata": {
                "name": role["metadata"]["name"],
                "namespace": ns,
                "labels": role["metadata"].get("labels", {}),
            }
        }
        cluster.kubectl("replace", "-f", "-", "-n", ns, input=json.dumps(restored))
        cluster.kubectl("delete", "onlineendpoint", "ep2", "-n", ns, "--wait=false", check=False)
        cluster.kubectl("delete", "onlinedeployment", "green", "-n", ns, "--wait=false", check=False)
    wait_condition(cluster, "onlineendpoint", "ep1", ns, "Ready")


def wait_for_problems(release: Release) -> list[str]:
    from tests.integration.conftest import wait_for

    return wait_for(release.permission_problems, timeout=60, what="a 403 in the operator's log")


def test_helm_test_check_passes_against_the_release(cluster: Any, release: Release, tmp_path: Path) -> None:
    hooks = release.hooks()
    pod = one(hooks, "Pod")
    config_map = one(hooks, "ConfigMap")
    service_account = one(hooks, "ServiceAccount")
    assert pod["spec"]["serviceAccountName"] == service_account["metadata"]["name"]
    script = tmp_path / "check.py"
    script.write_text(config_map["data"]["check.py"])
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["HEALTH_URL"].startswith(f"http://{release.fullname}.{release.namespace}.svc:8080/")
    # The chart's operator pod is on a kwok node here (nothing runs at its IP): no service-proxy
    # fallback, whose target the API server could not reach (tests/e2e/test_helm.py covers it).
    del env["HEALTH_PROXY_PATH"]

    # The hook's ServiceAccount (no RBAC), as `helm test` would create it; its token checks discovery.
    cluster.apply(service_account)
    try:
        kubeconfig = token_kubeconfig(
            cluster,
            tmp_path / "test.kubeconfig",
            namespace=release.namespace,
            service_account=service_account["metadata"]["name"],
        )
        config = json.loads(kubeconfig.read_text())
        token_file, ca_file = tmp_path / "token", tmp_path / "ca.crt"
        token_file.write_text(config["users"][0]["user"]["token"])
        import base64

        ca_file.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
        assert release.operator is not None
        run_env = {
            **os.environ,
            **env,
            # kwok runs no containers: the Service has no endpoint, so the check reaches the operator
            # process directly; the API server is reached as from a pod, with the pod's token and CA.
            "HEALTH_URL": f"http://127.0.0.1:{release.operator.liveness_port}/healthz",
            "APISERVER": config["clusters"][0]["cluster"]["server"],
            "TOKEN_FILE": str(token_file),
            "CA_FILE": str(ca_file),
        }
        proc = subprocess.run(
            [sys.executable, str(script)],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "ok: mlendpoints.io/v1alpha1 serves" in proc.stdout
        assert "answers 200" in proc.stdout
        # and it fails when the operator does not answer
        bad = {**run_env, "HEALTH_URL": "http://127.0.0.1:9/healthz"}
        failed = subprocess.run(
            [sys.executable, str(script)],
            env={**bad, "CHECK_ATTEMPTS": "2", "CHECK_DELAY": "0.1"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert failed.returncode != 0
        assert "FAIL: operator health probe" in failed.stderr
    finally:
        cluster.kubectl(
            "delete",
            "serviceaccount",
            service_account["metadata"]["name"],
            "-n",
            release.namespace,
            check=False,
        )


def _chart_with_extra_crd_field(tmp_path: Path) -> Path:
    """A copy of the chart whose InstanceType CRD has one more spec field (the kind of change upgrades bring)."""
    chart = tmp_path / "mlendpoints"
    shutil.copytree(CHART, chart)
    crd = next(c for c in crdgen.all_crds() if c["metadata"]["name"] == "instancetypes.mlendpoints.io")
    crd = copy.deepcopy(crd)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["upgradeMarker"] = {"type": "string", "description": "Added by the upgrade test."}
    (chart / "templates" / "crds" / "instancetypes.mlendpoints.io.yaml").write_text(
        crdgen.chart_template(crd)
    )
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["version"] = "0.1.1"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    return chart


def _spec_fields(cluster: Any) -> set[str]:
    crd = cluster.kubectl_json("get", "crd", "instancetypes.mlendpoints.io")
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return set(schema["properties"]["spec"]["properties"])


def test_helm_upgrade_updates_a_changed_crd(cluster: Any, release: Release, tmp_path: Path) -> None:
    assert "upgradeMarker" not in _spec_fields(cluster)
    changed = _chart_with_extra_crd_field(tmp_path)
    release.install(changed, upgrade=True)
    assert "upgradeMarker" in _spec_fields(cluster)
    # A CR using the new field is accepted (not pruned) once the upgrade is done.
    name = f"upgrade-{release.namespace[-6:]}"
    cluster.apply(
        {
            "apiVersion": "mlendpoints.io/v1alpha1",
            "kind": "InstanceType",
            "metadata": {"name": name},
            "spec": {"upgradeMarker": "x"},
        }
    )
    assert cluster.kubectl_json("get", "instancetype", name)["spec"]["upgradeMarker"] == "x"
    cluster.kubectl("delete", "instancetype", name)
    # and upgrading back to the released chart removes the field again
    release.install(CHART, upgrade=True)
    assert "upgradeMarker" not in _spec_fields(cluster)


def test_helm_uninstall_keeps_the_crds_and_the_users_resources(cluster: Any, release: Release) -> None:
    ns = release.namespace
    release.stop_operator()
    before = {
        kind: get(cluster, kind, name, ns)
        for kind, name in (("onlineendpoint", "ep1"), ("onlinedeployment", "blue"))
    }
    assert all(before.values())
    release.uninstall()
    for path in crdgen_dir():
        crd = cluster.kubectl_json("get", "crd", path.stem)
        assert not crd["metadata"].get("deletionTimestamp"), f"{path.stem} is being deleted"
    for kind, obj in before.items():
        after = get(cluster, kind, obj["metadata"]["name"], ns)  # type: ignore[index]
        assert after is not None, f"{kind} was deleted by helm uninstall"
        assert after["metadata"]["uid"] == obj["metadata"]["uid"]  # type: ignore[index]
    assert get(cluster, "deployment", release.fullname, ns) is None
    assert get(cluster, "clusterrole", release.fullname) is None


def test_manifests_for_installs_without_helm_pass_server_side_dry_run(cluster: Any) -> None:
    from tests.chart import rendered

    text = rendered.OUTPUT.read_text()
    # The Namespace must exist for the namespaced objects' dry run; create it for real (it is empty).
    cluster.apply(rendered.NAMESPACE_DOC)
    out = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--server-side",
        "--field-manager=kubectl",
        "-f",
        "-",
        "-o",
        "name",
        input=text,
    ).stdout
    assert {line.split("/")[0] for line in out.split()} >= {
        "namespace",
        "serviceaccount",
        "clusterrole.rbac.authorization.k8s.io",
        "clusterrolebinding.rbac.authorization.k8s.io",
        "service",
        "deployment.apps",
    }
