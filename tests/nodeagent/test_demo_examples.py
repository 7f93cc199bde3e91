"""The demo applies no example that could only look Ready: GPU examples need a GPU node that runs containers.

kwok's ``kwok-gpu-0`` offers ``nvidia.com/gpu`` but runs nothing, so a GPU deployment there would
report Ready without ever serving. ``mlendpoints dev demo`` skips the examples that need a GPU
unless a node that really runs containers offers one.
"""

from __future__ import annotations

from pathlib import Path

from mlendpoints_dev import KubeCluster
from mlendpoints_dev.install import GPU_RESOURCE, gpu_examples, manifest_files, real_gpu_nodes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_gpu_example_is_found_by_its_instance_type() -> None:
    found = gpu_examples(manifest_files(EXAMPLES, recursive=True))
    assert {p.relative_to(EXAMPLES).as_posix(): why for p, why in found.items()} == {
        "online/gpu-custom-container.yaml": f"instanceType gpu-t4 requests {GPU_RESOURCE}"
    }


def test_a_deployment_asking_for_a_gpu_itself_is_found(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(
        "apiVersion: mlendpoints.io/v1alpha1\nkind: OnlineDeployment\nmetadata: {name: x}\n"
        "spec: {endpointName: e, resources: {limits: {nvidia.com/gpu: 1}}}\n"
    )
    (tmp_path / "cpu.yaml").write_text(
        "apiVersion: mlendpoints.io/v1alpha1\nkind: OnlineDeployment\nmetadata: {name: y}\n"
        "spec: {endpointName: e, instanceType: cpu-small}\n"
    )
    assert gpu_examples(sorted(tmp_path.iterdir())) == {tmp_path / "d.yaml": f"it requests {GPU_RESOURCE}"}


def test_kwoks_gpu_node_is_not_a_real_gpu_node(cluster: KubeCluster) -> None:
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    simulated = [n for n in nodes if n["status"].get("allocatable", {}).get(GPU_RESOURCE, "0") != "0"]
    assert [n["metadata"]["name"] for n in simulated] == ["kwok-gpu-0"]
    assert real_gpu_nodes(nodes) == []
    # A node that is not kwok's and offers GPUs counts.
    real = {"metadata": {"name": "gpu-box"}, "status": {"allocatable": {GPU_RESOURCE: "2"}}}
    assert real_gpu_nodes([*nodes, real]) == ["gpu-box"]


def test_deployments_only_on_kwok_nodes_are_reported_as_simulated(cluster: KubeCluster) -> None:
    from mlendpoints_dev.demoscore import simulated_deployments

    nodes = cluster.kubectl_json("get", "nodes")["items"]
    names = [n["metadata"]["name"] for n in nodes]
    assert {"kwok-node-0", "process-node-0"} <= set(names)

    def pod(ep: str, dep: str, node: str | None) -> dict[str, object]:
        labels = {"mlendpoints.io/endpoint": ep, "mlendpoints.io/deployment": dep}
        return {"metadata": {"namespace": "ns", "labels": labels}, "spec": {"nodeName": node} if node else {}}

    pods = [
        pod("iris", "main", "kwok-node-0"), pod("iris", "main", "kwok-node-1"),
        pod("diabetes", "blue", "process-node-0"),
        pod("mixed", "a", "kwok-node-0"), pod("mixed", "a", "process-node-1"),
        pod("pending", "p", None),
    ]  # fmt: skip
    assert simulated_deployments(pods, nodes) == {"ns/iris/main": ["kwok-node-0", "kwok-node-1"]}
