"""BatchJob -> Indexed Job rendering (pure) and ``mlendpoints render`` for batch manifests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from mlendpoints.api.v1alpha1 import BatchDeployment, BatchJob
from mlendpoints.batch import contract
from mlendpoints.render import batchjob as render
from mlendpoints.render.batchjob import batch_job
from mlendpoints.render.errors import RenderError
from mlendpoints.render.settings import RenderSettings

META = {"namespace": "team", "uid": "uid-1"}


def _dep(**settings: Any) -> BatchDeployment:
    return BatchDeployment.model_validate(
        {
            "metadata": {"name": "scorer", **META},
            "spec": {
                "endpointName": "images",
                "model": {"path": "https://models.example/m.tar.gz", "type": "custom"},
                "codeConfiguration": {"configMap": {"name": "code"}, "scoringScript": "batch.py"},
                "resources": {"requests": {"cpu": "2", "memory": "4Gi"}},
                "settings": {"miniBatchSize": 10, "instanceCount": 2, "maxConcurrencyPerInstance": 3,
                             "environmentVariables": {"A": "dep", "B": "dep", "AZUREML_MODEL_DIR": "/nope"},
                             **settings},
            },
        }
    )  # fmt: skip


def _job(**spec: Any) -> BatchJob:
    body = {
        "metadata": {"name": "nightly", **META},
        "spec": {
            "endpointName": "images",
            "inputs": {"photos": {"path": "pvc://data/photos/2024"}},
            "output": {"path": "az://results/nightly", "credentialsSecretRef": {"name": "blob-creds"}},
            **spec,
        },
    }
    return BatchJob.model_validate(body)


def _env(obj: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_indexed_job_shape_settings_and_overrides() -> None:
    job = _job(
        overrides={"instanceCount": 4, "miniBatchSize": 5, "environmentVariables": {"B": "job", "C": "job"}}
    )
    obj = batch_job(job, deployment=_dep(), compute=None, settings=RenderSettings())
    spec = obj["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    assert spec["backoffLimit"] == 12
    assert spec["suspend"] is False
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "FailJob", "onExitCodes": {"containerName": "batch", "operator": "In",
                                                             "values": [contract.EXIT_JOB_FAILED]}}  # fmt: skip
    assert rules[1]["action"] == "Ignore"
    assert rules[1]["onPodConditions"][0]["type"] == "DisruptionTarget"
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    container = pod["containers"][0]
    assert container["command"] == ["mlendpoints", "batch", "run"]
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert container["envFrom"] == [{"secretRef": {"name": "blob-creds"}}]
    env = _env(obj)
    assert json.loads(env[contract.INPUTS]) == {
        "photos": {"type": "uri_folder", "path": "/mnt/batch/inputs/0/photos/2024"}
    }
    assert env[contract.OUTPUT] == "az://results/nightly"
    assert env[contract.MINI_BATCH_SIZE] == "5"
    assert env[contract.MAX_CONCURRENCY] == "3"
    assert env[contract.INSTANCE_COUNT] == "4"
    assert env[contract.ENTRY_SCRIPT] == "batch.py"
    assert env["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models"  # the contract wins over the user
    assert (env["A"], env["B"], env["C"]) == (
        "dep",
        "job",
        "job",
    )  # the job's variables over the deployment's
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["input-0"]["persistentVolumeClaim"] == {"claimName": "data", "readOnly": True}
    assert volumes["code"] == {"name": "code", "configMap": {"name": "code"}}
    assert pod["initContainers"][0]["command"][:2] == ["mlendpoints", "fetch"]
    labels = obj["metadata"]["labels"]
    assert labels["mlendpoints.io/batch-job"] == "nightly"
    assert labels["mlendpoints.io/owner-uid"] == "uid-1"
    assert obj["metadata"]["ownerReferences"][0]["kind"] == "BatchJob"


def test_pvc_output_is_mounted_writable_and_suspend_is_carried() -> None:
    obj = batch_job(_job(output={"path": "pvc://results/out"}, suspend=True), deployment=_dep(), compute=None,
                    settings=RenderSettings())  # fmt: skip
    assert obj["spec"]["suspend"] is True
    mounts = {m["name"]: m for m in obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["output"] == {"name": "output", "mountPath": "/mnt/batch/output", "readOnly": False}
    assert _env(obj)[contract.OUTPUT] == "/mnt/batch/output/out"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"output": None}, "output: required for target kubernetes"),
        (
            {"inputs": {"d": {"path": "azureml:my-data:1"}}},
            "inputs.d.path: 'azureml:my-data:1' is an Azure ML data asset",
        ),
        ({"inputs": {"d": {"path": "https://x.example/folder/"}}}, "an https:// input must be a uri_file"),
        ({"output": {"path": "https://x.example/out"}}, "output.path: 'https://x.example/out': use pvc://"),
    ],
)
def test_unrunnable_jobs_are_render_errors_naming_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message.replace("(", r"\(").replace(".", r"\.")):
        batch_job(_job(**spec), deployment=_dep(), compute=None, settings=RenderSettings())


def test_render_cli_prints_the_job_of_a_batch_job(tmp_path: Path) -> None:
    docs = [
        {"apiVersion": "mlendpoints.io/v1alpha1", "kind": "BatchEndpoint", "metadata": {"name": "images"},
         "spec": {"defaults": {"deploymentName": "scorer"}}},
        {"apiVersion": "mlendpoints.io/v1alpha1", "kind": "BatchDeployment", "metadata": {"name": "scorer"},
         "spec": {"endpointName": "images", "model": {"path": "pvc://models/m", "type": "mlflow"},
                  "settings": {"miniBatchSize": 2, "instanceCount": 3}}},
        {"apiVersion": "mlendpoints.io/v1alpha1", "kind": "BatchJob", "metadata": {"name": "nightly"},
         "spec": {"endpointName": "images", "inputs": {"d": {"path": "pvc://data/in"}},
                  "output": {"path": "pvc://data/out"}}},
    ]  # fmt: skip
    path = tmp_path / "batch.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    proc = subprocess.run([sys.executable, "-m", "mlendpoints.cli", "render", "-f", str(path)],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    objects = [o for o in yaml.safe_load_all(proc.stdout) if o]
    assert [o["kind"] for o in objects] == ["Job"]
    assert objects[0]["metadata"]["name"] == "batch-nightly"
    assert objects[0]["spec"]["completions"] == 3


def _dep_with(**spec: Any) -> BatchDeployment:
    body = _dep().model_dump(by_alias=True, exclude_none=True, mode="json")
    return BatchDeployment.model_validate(body | {"spec": body["spec"] | spec})


def test_egress_policy_is_opt_in_and_allows_dns_and_the_listed_cidrs_only() -> None:
    job = _job()
    assert render.egress_policy(job, deployment=_dep()) is None
    off = _dep_with(egress={"enabled": False, "cidrs": [{"cidr": "10.0.0.0/8"}]})
    assert render.egress_policy(job, deployment=off) is None
    dep = _dep_with(egress={"enabled": True, "cidrs": [{"cidr": "203.0.113.0/24"},
                                                       {"cidr": "2001:db8::/32", "ports": [443, 9000]}]})  # fmt: skip
    policy = render.egress_policy(job, deployment=dep)
    assert policy is not None
    assert policy["kind"] == "NetworkPolicy"
    assert policy["metadata"]["name"] == render.job_name("nightly")
    assert policy["metadata"]["namespace"] == "team"
    (owner,) = policy["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "BatchJob",
        "nightly",
        "uid-1",
        True,
    )
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Egress"]
    assert "ingress" not in spec
    # it selects exactly the pods of this BatchJob's Job
    obj = render.batch_job(job, deployment=dep, compute=None, settings=RenderSettings())
    pod_labels = obj["spec"]["template"]["metadata"]["labels"]
    assert spec["podSelector"]["matchLabels"] == {render.BATCH_JOB_LABEL: "nightly"}
    assert spec["podSelector"]["matchLabels"].items() <= pod_labels.items()
    dns, v4, v6 = spec["egress"]
    assert dns["to"] == [{"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kube-system"]}]}}]  # fmt: skip
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert v4 == {
        "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }
    assert v6["ports"] == [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 9000}]
    only_dns = render.egress_policy(job, deployment=_dep_with(egress={"enabled": True}))
    assert only_dns is not None
    assert len(only_dns["spec"]["egress"]) == 1


@pytest.mark.parametrize("cidr", ["10.0.0.1/8", "300.0.0.0/8", "10.0.0.0", "example.com/24"])
def test_egress_cidrs_must_be_network_addresses(cidr: str) -> None:
    with pytest.raises(ValidationError, match="cidr"):
        _dep_with(egress={"enabled": True, "cidrs": [{"cidr": cidr}]})
