"""End-to-end fixtures: a local cluster with its add-ons (Traefik, Azurite, the HTTPS file server).

``cluster`` here overrides the session cluster of tests/conftest.py for tests under tests/e2e/:
a :class:`~mlendpoints_dev.LocalCluster` started with ``addons=True`` (what
``mlendpoints dev cluster up`` runs), with our CRDs and the Gateway API CRDs installed. The
``namespace`` fixture of tests/conftest.py then makes namespaces in this cluster; ``addons``
gives the add-ons' addresses (``state.json``'s ``addons`` record).

The local cluster is required (an external ``MLENDPOINTS_TEST_KUBECONFIG`` cluster has no
add-ons we could address): with that variable set these tests skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mlendpoints_dev import LocalCluster

REPO = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install Azurite (npm, minutes on a fresh machine) before the first test, outside pytest-timeout."""
    if os.environ.get("MLENDPOINTS_TEST_KUBECONFIG") or session.config.option.collectonly:
        return
    if not any(E2E_DIR in Path(str(item.path)).parents for item in session.items):
        return
    from mlendpoints_dev import azurite

    capture = session.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=False)
    try:
        azurite.ensure_installed()
    finally:
        if capture is not None:
            capture.resume_global_capture()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A local cluster with Traefik, Azurite and the file server, our CRDs and the Gateway API CRDs."""
    if os.environ.get("MLENDPOINTS_TEST_KUBECONFIG"):
        pytest.skip("end-to-end tests run on the local dev cluster only (MLENDPOINTS_TEST_KUBECONFIG is set)")
    from mlendpoints_dev import LocalCluster
    from mlendpoints_dev.install import install_crds

    state_dir = tmp_path_factory.mktemp("e2e-cluster")
    local = LocalCluster(f"e2e-{os.getpid()}", state_dir=state_dir, die_with_parent=True, addons=True)
    try:
        local.start(timeout=600)  # includes a first-time npm install of Azurite (streamed)
        install_crds(local, REPO / "crds")
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def addons(cluster: LocalCluster) -> dict[str, Any]:
    """``state.json``'s ``addons``: ``gateway`` (url, address), ``azurite`` (connection_string, ...), ``files``."""
    record: dict[str, Any] = cluster.state()["addons"]
    return record


@pytest.fixture(scope="session")
def process_nodes(cluster: LocalCluster) -> list[dict[str, Any]]:
    """The cluster's process nodes (pods really run there); skips the test when there are none."""
    from mlendpoints_dev.cluster import KWOK_NODE_ANNOTATION

    nodes = [
        n
        for n in cluster.kubectl_json("get", "nodes")["items"]
        if KWOK_NODE_ANNOTATION not in (n["metadata"].get("annotations") or {})
    ]
    if not nodes:
        pytest.skip("this cluster has no process nodes (every node is a kwok node): pods cannot really run")
    return nodes


@pytest.fixture(scope="session")
def operator(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The operator as a process against the e2e cluster, with its own client identity."""
    from tests.integration.conftest import OPERATOR_USER, OperatorProcess

    work = tmp_path_factory.mktemp("e2e-operator")
    op = OperatorProcess(kubeconfig=cluster.make_kubeconfig(OPERATOR_USER), log_path=work / "operator.log",
                         user=OPERATOR_USER, log_level="INFO", gateway_probe=True)  # fmt: skip
    op.start()
    try:
        yield op
    finally:
        op.stop()
        print(f"e2e operator log: {op.log_path}")


@pytest.fixture(scope="session")
def scoring(
    cluster: LocalCluster, addons: dict[str, Any], process_nodes: list[dict[str, Any]], operator: Any
) -> dict[str, Any]:
    """Everything a scoring test needs once: InstanceType on the process nodes, the Gateway
    (Programmed), and the blue/green diabetes models in Azurite.

    Returns ``gateway_url``, ``models`` ({"blue": az URI, "green": az URI}), ``expected``
    ({name: prediction for ``row``}), ``who`` ({prediction: name}) and ``row``.
    """
    from mlendpoints_dev import azurite, demoscore
    from mlendpoints_dev.nodeagent.nodes import KIND_LABEL
    from tests.e2e import helpers
    from tests.integration.conftest import condition, get, wait_for

    selector = {KIND_LABEL: process_nodes[0]["metadata"]["labels"][KIND_LABEL]}
    taints = [t for n in process_nodes for t in (n.get("spec") or {}).get("taints") or []]
    tolerations = [{"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in taints]
    cluster.apply(helpers.instance_type(selector, tolerations))
    cluster.apply(helpers.gateway())
    wait_for(
        lambda: (condition(get(cluster, "gateway", helpers.GATEWAY_NAME, helpers.GATEWAY_NAMESPACE), "Programmed")
                 or {}).get("status") == "True",
        timeout=60, what="the e2e Gateway Programmed=True",
    )  # fmt: skip
    trained = demoscore._diabetes_models()
    conn = addons["azurite"]["connection_string"]
    models, expected = {}, {}
    import tempfile

    import joblib

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("blue", "green"):
            folder = Path(tmp) / name
            folder.mkdir()
            joblib.dump(trained[name], folder / "model.joblib")
            azurite.upload(conn, folder, helpers.CONTAINER, f"diabetes/{name}")
            models[name] = f"az://{helpers.CONTAINER}/diabetes/{name}/"
            expected[name] = round(float(trained[name].predict(trained["row"])[0]), 6)
    assert expected["blue"] != expected["green"]
    return {"gateway_url": addons["gateway"]["url"], "models": models, "expected": expected,
            "who": {v: k for k, v in expected.items()}, "row": trained["row"]}  # fmt: skip


@pytest.fixture
def ns(cluster: LocalCluster, namespace: str, addons: dict[str, Any], scoring: dict[str, Any]) -> str:
    """A test namespace with the Azurite credentials Secret and the scoring script ConfigMap."""
    from mlendpoints_dev import azurite
    from tests.e2e import helpers

    cluster.apply(azurite.secret_manifest(addons["azurite"]["connection_string"]), "-n", namespace)
    cluster.apply(helpers.score_configmap(), "-n", namespace)
    return namespace
