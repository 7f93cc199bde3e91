"""The az-ml-style verbs (``mlendpoints online-endpoint|online-deployment|batch-endpoint|batch-deployment …``)
against the real control plane.

Each verb runs through click's CliRunner (in-process, the real CLI code and its Kubernetes
client) with ``KUBECONFIG`` pointing at the test cluster, while the operator runs as a process
(tests/integration/conftest.py). The input is Azure ML CLI v2 YAML as Azure's samples write it,
plus our own manifests. kwok runs the pods, so invoke and pod logs are covered by
tests/e2e/test_cli.py instead.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from mlendpoints import cli
from tests.integration.conftest import get

pytestmark = pytest.mark.usefixtures("operator", "fake_gateway")
SCHEMAS = "https://azuremlschemas.azureedge.net/latest"


def run(cluster: Any, *args: str, code: int = 0, input: str | None = None) -> Result:
    res = CliRunner().invoke(cli.root, list(args), env={"KUBECONFIG": str(cluster.kubeconfig)}, input=input)
    assert res.exit_code == code, f"{args}: exit {res.exit_code}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res


def write(path: Path, *docs: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def azure_files(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text("def init():\n    pass\n\n\ndef run(raw):\n    return raw\n")
    endpoint = {
        "$schema": f"{SCHEMAS}/managedOnlineEndpoint.schema.json",
        "name": "cli-ep",
        "auth_mode": "key",
    }
    blue = {
        "$schema": f"{SCHEMAS}/managedOnlineDeployment.schema.json",
        "name": "blue",
        "endpoint_name": "cli-ep",
        "model": {"path": "https://models.example.com/m/1/"},
        "code_configuration": {"code": "./src", "scoring_script": "score.py"},
        "instance_type": "Standard_DS2_v2",
        "instance_count": 1,
        "egress_public_network_access": "disabled",
    }
    return write(tmp_path / "endpoint.yml", endpoint), write(tmp_path / "blue.yml", blue)


def secret_keys(cluster: Any, ns: str) -> dict[str, str]:
    data = get(cluster, "secret", "cli-ep-keys", ns)["data"]  # type: ignore[index]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_azure_yaml_to_a_ready_endpoint_then_every_verb(cluster: Any, namespace: str, tmp_path: Path) -> None:
    ns = ["--namespace", namespace]
    endpoint_yml, blue_yml = azure_files(tmp_path)

    res = run(cluster, "online-endpoint", "create", "-f", endpoint_yml, *ns, "--gateway", "gw")
    ep = json.loads(res.stdout)
    assert ep["spec"]["routing"]["parentRefs"] == [{"name": "gw"}]
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in ep["status"]["conditions"])
    again = run(cluster, "online-endpoint", "create", "-f", endpoint_yml, *ns, code=1)
    assert f"OnlineEndpoint cli-ep already exists in {namespace}; use update" in again.stderr

    res = run(cluster, "online-deployment", "create", "-f", blue_yml, *ns, "--all-traffic")
    assert "egress_public_network_access: ignored" in res.stderr
    dep = json.loads(res.stdout)
    assert dep["spec"]["instanceType"] == "standard-ds2-v2"
    assert dep["status"]["readyReplicas"] == 1
    # the VM size became an InstanceType, the code folder a ConfigMap, both applied by the CLI
    it = get(cluster, "instancetype", "standard-ds2-v2")
    assert it["spec"]["resources"]["limits"] == {"cpu": "2", "memory": "7168Mi"}  # type: ignore[index]
    cm = get(cluster, "configmap", "cli-ep-blue-code", namespace)
    assert "def run(raw)" in cm["data"]["score.py"]  # type: ignore[index]
    assert get(cluster, "oep", "cli-ep", namespace)["spec"]["traffic"] == {"blue": 100}  # type: ignore[index]

    shown = json.loads(run(cluster, "online-endpoint", "show", "-n", "cli-ep", *ns).stdout)
    assert shown["metadata"]["name"] == "cli-ep"
    table = run(cluster, "online-endpoint", "list", *ns, "-o", "table").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "TRAFFIC", "SCORING", "URI"]
    assert table[1].split()[:2] == ["cli-ep", "True"]
    deps = json.loads(run(cluster, "online-deployment", "list", "-e", "cli-ep", *ns).stdout)
    assert [d["metadata"]["name"] for d in deps] == ["blue"]

    keys = json.loads(run(cluster, "online-endpoint", "get-credentials", "-n", "cli-ep", *ns).stdout)
    assert keys == secret_keys(cluster, namespace)
    run(cluster, "online-endpoint", "regenerate-keys", "-n", "cli-ep", "--key-type", "secondary", *ns)
    rotated = secret_keys(cluster, namespace)
    assert rotated["primaryKey"] == keys["primaryKey"]
    assert rotated["secondaryKey"] != keys["secondaryKey"]

    # our own manifest is accepted too; then the 90/10 split in one command
    green = {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "OnlineDeployment",
        "metadata": {"name": "green"},
        "spec": {
            "endpointName": "cli-ep",
            "model": {"path": "https://models.example.com/m/2/", "type": "mlflow"},
        },
    }
    run(cluster, "online-deployment", "create", "-f", write(tmp_path / "green.yaml", green), *ns)
    res = run(cluster, "online-endpoint", "update", "-n", "cli-ep", "--traffic", "blue=90 green=10", *ns)
    assert json.loads(res.stdout)["status"]["traffic"] == {"blue": 90, "green": 10}
    res = run(cluster, "online-endpoint", "update", "-n", "cli-ep", "--traffic", "green=100", *ns)
    assert json.loads(res.stdout)["spec"]["traffic"] == {"green": 100}  # blue's share is removed, not kept

    # kwok pods have no containers to read logs from, but the pod and its containers are found
    res = run(
        cluster, "online-deployment", "get-logs", "-n", "blue", "-e", "cli-ep", "-c", "nope", *ns, code=1
    )
    assert "has no container 'nope' (it has " in res.stderr
    assert "scoring" in res.stderr

    run(cluster, "online-deployment", "delete", "-n", "blue", "-e", "cli-ep", *ns, input="n\n", code=1)
    assert get(cluster, "odep", "blue", namespace) is not None  # not confirmed: kept
    run(cluster, "online-deployment", "delete", "-n", "blue", "-e", "cli-ep", "-y", *ns)
    run(cluster, "online-endpoint", "delete", "-n", "cli-ep", "-y", *ns)
    assert get(cluster, "oep", "cli-ep", namespace) is None
    res = run(cluster, "online-endpoint", "show", "-n", "cli-ep", *ns, code=1)
    assert res.stderr.strip() == f"Error: OnlineEndpoint cli-ep not found in namespace {namespace}"


def test_update_of_a_missing_endpoint_and_a_stalled_deployment(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    ns = ["--namespace", namespace]
    endpoint_yml, _ = azure_files(tmp_path)
    res = run(cluster, "online-endpoint", "update", "-f", endpoint_yml, *ns, code=1)
    assert "OnlineEndpoint cli-ep does not exist" in res.stderr
    run(cluster, "online-endpoint", "create", "-f", endpoint_yml, *ns)
    bad = {"name": "blue", "endpoint_name": "cli-ep", "model": {"path": "https://m.example.com/1/", "type": "mlflow_model"},
           "instance_type": "no-such-instancetype"}  # fmt: skip
    res = run(cluster, "online-deployment", "create", "-f", write(tmp_path / "bad.yml", bad), *ns, code=1)
    assert "OnlineDeployment blue is Stalled" in res.stderr
    assert "no-such-instancetype" in res.stderr
    # Azure ML names deployments per endpoint; here per namespace: "blue" for another endpoint
    # is refused, by create and by update, before anything is uploaded or applied
    other = {**bad, "endpoint_name": "other-ep"}
    for verb in ("create", "update"):
        res = run(cluster, "online-deployment", verb, "-f", write(tmp_path / "other.yml", other), *ns, code=1)
        assert f"OnlineDeployment blue already exists in {namespace} for endpoint cli-ep" in res.stderr
        assert "deployment names are unique per namespace" in res.stderr
    assert get(cluster, "onlinedeployment", "blue", namespace)["spec"]["endpointName"] == "cli-ep"  # type: ignore[index]


DATA = Path(__file__).resolve().parents[1] / "data" / "azure" / "batch"


def test_batch_verbs_from_azure_batch_yaml(cluster: Any, namespace: str) -> None:
    ns = ["--namespace", namespace]
    res = run(cluster, "batch-endpoint", "create", "-f", str(DATA / "endpoint.yml"), *ns)
    assert "auth_mode: ignored" in res.stderr
    assert json.loads(res.stdout)["metadata"]["name"] == "heart-classifier-batch"
    res = run(cluster, "batch-deployment", "create", "-f", str(DATA / "mlflow-deployment.yml"), *ns)
    dep = json.loads(res.stdout)
    assert dep["spec"]["settings"]["miniBatchSize"] == 2
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in dep["status"]["conditions"])
    table = run(
        cluster, "batch-deployment", "list", "-e", "heart-classifier-batch", "-o", "table", *ns
    ).stdout
    assert table.splitlines()[1].split() == ["classifier-xgboost-mlflow", "True", "heart-classifier-batch"]

    res = run(cluster, "batch-endpoint", "invoke", "-n", "heart-classifier-batch", "-d", "classifier-xgboost-mlflow",
              "--input", "az://data/heart/", "--mini-batch-size", "5", "--job-name", "job-one", *ns)  # fmt: skip
    assert "batchjob.mlendpoints.io/job-one created" in res.stdout
    job = get(cluster, "bjob", "job-one", namespace)
    assert job["spec"]["inputs"] == {"data": {"type": "uri_folder", "path": "az://data/heart/"}}  # type: ignore[index]
    assert job["spec"]["overrides"] == {"miniBatchSize": 5}  # type: ignore[index]
    assert (
        "job-one" in run(cluster, "batch-endpoint", "list-jobs", "-n", "heart-classifier-batch", *ns).stdout
    )
    # az ml job show|list|cancel
    assert "endpointName: heart-classifier-batch" in run(cluster, "job", "show", "-n", "job-one", *ns).stdout
    listed = run(cluster, "job", "list", "-e", "heart-classifier-batch", *ns).stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["job-one"]
    assert "canceled (spec.suspend=true)" in run(cluster, "job", "cancel", "-n", "job-one", *ns).stdout
    assert get(cluster, "bjob", "job-one", namespace)["spec"]["suspend"] is True  # type: ignore[index]
    missing = run(cluster, "job", "show", "-n", "no-such-job", *ns, code=1)
    assert f"BatchJob 'no-such-job' not found in namespace {namespace}" in missing.stderr
    # --store-secret names the credentials of the object-store input and output (a newcomer's finding)
    run(cluster, "batch-endpoint", "invoke", "-n", "heart-classifier-batch", "--input", "az://data/heart/",
        "--output-path", "az://data/out/", "--store-secret", "store-creds", "--job-name", "job-two", *ns)  # fmt: skip
    two = get(cluster, "bjob", "job-two", namespace)["spec"]  # type: ignore[index]
    assert two["inputs"]["data"]["credentialsSecretRef"] == {"name": "store-creds"}
    assert two["output"] == {"path": "az://data/out/", "credentialsSecretRef": {"name": "store-creds"}}
    run(cluster, "job", "cancel", "-n", "job-two", *ns)

    run(cluster, "batch-deployment", "delete", "-n", "classifier-xgboost-mlflow", "-y", *ns)
    run(cluster, "batch-endpoint", "delete", "-n", "heart-classifier-batch", "-y", *ns)
    assert get(cluster, "bep", "heart-classifier-batch", namespace) is None


def test_the_clusters_own_instance_type_of_a_vm_size_name_is_kept(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    own = {"apiVersion": "mlendpoints.io/v1alpha1", "kind": "InstanceType", "metadata": {"name": "standard-ds1-v2"},
           "spec": {"resources": {"limits": {"cpu": "3", "memory": "1Gi"}}}}  # fmt: skip
    cluster.apply(own)
    dep = {"name": "blue", "endpoint_name": "cli-ep", "instance_type": "Standard_DS1_v2",
           "model": {"path": "https://m.example.com/1/", "type": "mlflow_model"}}  # fmt: skip
    res = run(cluster, "online-deployment", "create", "-f", write(tmp_path / "d.yml", dep), "--no-wait",
              "--namespace", namespace)  # fmt: skip
    assert "InstanceType standard-ds1-v2 exists: used as it is" in res.stderr
    assert "managedFields" not in res.stdout
    it = get(cluster, "instancetype", "standard-ds1-v2")
    assert it["spec"]["resources"] == {"limits": {"cpu": "3", "memory": "1Gi"}}  # type: ignore[index]


def test_an_unknown_vm_size_lists_the_table_and_the_clusters_instance_types(
    cluster: Any, namespace: str, tmp_path: Path
) -> None:
    cluster.apply(
        {"apiVersion": "mlendpoints.io/v1alpha1", "kind": "InstanceType", "metadata": {"name": "cli-listed"}}
    )
    dep = {"name": "blue", "endpoint_name": "cli-ep", "instance_type": "Standard_M416ms_v2",
           "model": {"path": "https://m.example.com/1/", "type": "mlflow_model"}}  # fmt: skip
    res = run(
        cluster,
        "online-deployment",
        "create",
        "-f",
        write(tmp_path / "d.yml", dep),
        "--namespace",
        namespace,
        code=1,
    )
    assert (
        "instance_type: 'Standard_M416ms_v2' is not in the table of Azure VM sizes (Standard_DS1_v2,"
        in res.stderr
    )
    assert "this cluster's InstanceTypes: " in res.stderr
    assert "cli-listed" in res.stderr.split("this cluster's InstanceTypes: ")[1]


@pytest.mark.usefixtures("azure_fake")
def test_the_same_verbs_for_target_azureml(cluster: Any, namespace: str, tmp_path: Path) -> None:
    """Azure YAML as it is (registered model and code, a VM size) to the fake Azure ML, with --azureml."""
    from tests.integration.test_azureml import SUB, secret_data, ws_name

    ns, workspace = ["--namespace", namespace], f"{SUB}/ml-rg/{ws_name(namespace)}"
    endpoint = {
        "$schema": f"{SCHEMAS}/managedOnlineEndpoint.schema.json",
        "name": "az-ep",
        "auth_mode": "key",
    }
    main = {"$schema": f"{SCHEMAS}/managedOnlineDeployment.schema.json", "name": "main", "endpoint_name": "az-ep",
            "model": "azureml:credit-model:1",
            "code_configuration": {"code": "azureml:credit-score:1", "scoring_script": "score.py"},
            "environment": {"image": "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py311-cpu-inference:latest"},
            "instance_type": "Standard_DS3_v2", "instance_count": 1}  # fmt: skip
    res = run(
        cluster,
        "online-endpoint",
        "create",
        "-f",
        write(tmp_path / "e.yml", endpoint),
        "--azureml",
        workspace,
        *ns,
    )
    ep = json.loads(res.stdout)
    assert ep["spec"]["target"] == "azureml"
    assert ep["status"]["provisioningState"] == "Succeeded"
    res = run(cluster, "online-deployment", "create", "-f", write(tmp_path / "d.yml", main), "--azureml", workspace,
              "--all-traffic", *ns)  # fmt: skip
    assert json.loads(res.stdout)["spec"]["instanceType"] == "Standard_DS3_v2"
    keys = json.loads(run(cluster, "online-endpoint", "get-credentials", "-n", "az-ep", *ns).stdout)
    assert keys == secret_data(cluster, "az-ep-keys", namespace)
    run(cluster, "online-endpoint", "regenerate-keys", "-n", "az-ep", "--key-type", "secondary", *ns)
    rotated = secret_data(cluster, "az-ep-keys", namespace)
    assert rotated["secondaryKey"] != keys["secondaryKey"]
    assert rotated["primaryKey"] == keys["primaryKey"]
    run(cluster, "online-endpoint", "delete", "-n", "az-ep", "-y", *ns)
