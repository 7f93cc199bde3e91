"""``helm install`` then ``helm test`` on the local cluster, with the chart's pods really running.

The chart's operator pod and its ``helm test`` pod are scheduled on the process nodes (values
``nodeSelector``/``tolerations``), where the node agent runs them as processes: the operator
talks to the API server in-cluster (``KUBERNETES_SERVICE_HOST``, the ServiceAccount token), and
the test pod checks the CRDs and the operator's ``/healthz``. Pods there have no Service DNS or
ClusterIPs, so the health check answers through the API server's service proxy.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlendpoints_dev.cluster import AUDIT_READ_VERBS
from mlendpoints_dev.install import install_crds
from mlendpoints_dev.nodeagent import KIND_LABEL, TAINT_KEY
from tests.chart.conftest import CRDS, REPO, Release, restore_crds, run_helm

pytestmark = pytest.mark.timeout(600)


def test_helm_test_passes_with_the_chart_running_on_process_nodes(
    cluster: Any, namespace: str, process_nodes: list[dict[str, Any]], tmp_path: Path
) -> None:
    """README.md's order on the demo's cluster: the demo's CRD step, then `helm install` with the chart's
    CRDs enabled (Helm adopts them) and `-f dev/values/process-nodes.yaml`, then `helm test`."""
    placement = yaml.safe_load((REPO / "dev" / "values" / "process-nodes.yaml").read_text())
    assert placement == {
        "nodeSelector": {KIND_LABEL: "process"},
        "tolerations": [{"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
        # the Gateway listens on the host's loopback, out of a pod's reach
        "operator": {"gatewayProbe": False},
    }
    values = {**placement, "operator": {**placement["operator"], "watchNamespaces": [namespace]}}
    release = Release(cluster=cluster, helm=cluster.helm, name="mlep", namespace=namespace,
                      work=tmp_path, values=values)  # fmt: skip
    install_crds(cluster, CRDS, helm_release=("mlep", namespace))  # as `mlendpoints dev demo` does
    try:
        release.install()  # --wait: the operator pod runs and its Deployment is available
        pods = cluster.kubectl_json("get", "pods", "-n", namespace)["items"]
        assert {p["spec"]["nodeName"] for p in pods} <= {n["metadata"]["name"] for n in process_nodes}
        mark = cluster.audit_mark()
        proc = subprocess.run(
            [str(cluster.helm), *release.helm_args("test", "mlep", "--timeout=180s")],
            capture_output=True, text=True, timeout=240, env=cluster.env(), check=False,
        )  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        assert "Phase:          Succeeded" in out, out
        # The test pod (deleted on success, so no logs to read) asked the operator through the
        # API server, with its own ServiceAccount's token, and got an answer.
        test_sa = f"system:serviceaccount:{namespace}:mlep-mlendpoints-test"
        proxied = [e for e in cluster.audit_events(mark, user=test_sa, verbs=AUDIT_READ_VERBS)
                   if "/services/http:mlep-mlendpoints:health/proxy/healthz" in e.get("requestURI", "")]  # fmt: skip
        assert [e["responseStatus"]["code"] for e in proxied][-1:] == [200], proxied
    finally:
        run_helm(
            cluster.helm, *release.helm_args("uninstall", "mlep", "--ignore-not-found"), env=cluster.env()
        )
        restore_crds(cluster)  # kept by `helm.sh/resource-policy: keep`; back to the pristine crds/
