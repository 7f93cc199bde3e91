"""BatchJobs against the real control plane: the Indexed Job, status while running and after,
failure, cancel and deletion.

The job's pods are kept unscheduled (an InstanceType whose nodeSelector matches no node) and the
test plays the kubelet: it writes each pod's terminal status with the runner's termination
message, as a real kubelet does when the container exits. The Job controller (kube-controller-
manager) then does what it does in any cluster: counts indexes, applies the podFailurePolicy,
completes or fails the Job.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from mlendpoints.batch import contract
from mlendpoints_dev import kstatus
from tests.integration.conftest import get, wait_condition, wait_for
from tests.integration.test_online import API

pytestmark = pytest.mark.usefixtures("operator")


def _pvc(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def _setup(cluster: Any, ns: str, it: str) -> None:
    cluster.apply(
        {"apiVersion": API, "kind": "InstanceType", "metadata": {"name": it},
         "spec": {"nodeSelector": {"mlendpoints.io/test-node": "none"},
                  "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}}
    )  # fmt: skip
    cluster.apply([_pvc("models", ns), _pvc("data", ns)])
    cluster.apply(
        [
            {"apiVersion": API, "kind": "BatchEndpoint", "metadata": {"name": "scoring", "namespace": ns},
             "spec": {"defaults": {"deploymentName": "scorer"}}},
            {"apiVersion": API, "kind": "BatchDeployment", "metadata": {"name": "scorer", "namespace": ns},
             "spec": {"endpointName": "scoring", "model": {"path": "pvc://models/m", "type": "mlflow"},
                      "instanceType": it,
                      "settings": {"miniBatchSize": 5, "instanceCount": 2, "maxConcurrencyPerInstance": 2,
                                   "environmentVariables": {"A": "dep", "B": "dep"}}}},
        ]
    )  # fmt: skip


def _job(ns: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "BatchJob",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"endpointName": "scoring", "inputs": {"d": {"path": "pvc://data/in"}},
                 "output": {"path": "pvc://data/out"}, **spec},
    }  # fmt: skip


def _pods(cluster: Any, ns: str, job: str) -> dict[int, dict[str, Any]]:
    items = cluster.kubectl_json("get", "pods", "-n", ns, "-l", f"mlendpoints.io/batch-job={job}")["items"]
    return {int(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]): p for p in items}


def _exit(cluster: Any, ns: str, pod: dict[str, Any], code: int, message: dict[str, Any]) -> None:
    """What the kubelet writes when the batch container exits."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                  "message": json.dumps(message), "startedAt": now, "finishedAt": now}  # fmt: skip
    status = {
        "phase": "Succeeded" if code == 0 else "Failed",
        "containerStatuses": [{"name": "batch", "image": "runtime", "imageID": "", "ready": False,
                               "restartCount": 0, "state": {"terminated": terminated}}],
    }  # fmt: skip
    cluster.kubectl("patch", "pod", pod["metadata"]["name"], "-n", ns, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": status}))  # fmt: skip


def _msg(
    index: int, done: int, ok: int, failed: int, *, assembled: bool = False, error: str = ""
) -> dict[str, Any]:
    return {"index": index, "ok": not error, "assembled": assembled, "totalMiniBatches": 6,
            "completedMiniBatches": done, "failedMiniBatches": 0, "succeededItems": ok, "failedItems": failed,
            "message": "", "error": error}  # fmt: skip


def test_batch_job_runs_as_an_indexed_job_and_reports_progress(cluster: Any, namespace: str) -> None:
    ns = namespace
    _setup(cluster, ns, "batch-nowhere-1")
    cluster.apply(_job(ns, "nightly", overrides={"instanceCount": 2, "environmentVariables": {"B": "job"}}))
    job = wait_for(lambda: get(cluster, "job", "batch-nightly", ns), what="the Indexed Job")
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [contract.EXIT_JOB_FAILED]
    pod = spec["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert json.loads(env[contract.INPUTS]) == {"d": {"type": "uri_folder", "path": "/mnt/batch/inputs/0/in"}}
    assert env[contract.OUTPUT] == "/mnt/batch/output/out"
    assert (env[contract.MAX_CONCURRENCY], env["A"], env["B"]) == ("2", "dep", "job")
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {"model": "models", "input-0": "data", "output": "data"}
    assert job["metadata"]["ownerReferences"][0]["kind"] == "BatchJob"

    pods = wait_for(lambda: (p := _pods(cluster, ns, "nightly")) and len(p) == 2 and p, what="two pods")
    wait_condition(cluster, "bjob", "nightly", ns, "Reconciling", reason="Running")
    _exit(cluster, ns, pods[0], 0, _msg(0, 3, 14, 1))
    try:
        running = wait_for(
            lambda: (
                (b := get(cluster, "bjob", "nightly", ns)) and b["status"].get("progressText") == "3/6" and b
            ),
            what="progress after the first index",
        )
    except AssertionError as exc:
        pod_now = _pods(cluster, ns, "nightly")[0]
        raise AssertionError(f"{exc}; status {get(cluster, 'bjob', 'nightly', ns)}; pod {pod_now}") from None
    assert running["status"]["phase"] == "Running"
    assert running["status"]["progress"]["succeededItems"] == 14
    _exit(cluster, ns, pods[1], 0, _msg(1, 6, 29, 1, assembled=True))
    done = wait_condition(cluster, "bjob", "nightly", ns, "Ready", "True", reason="Succeeded")
    status = done["status"]
    assert status["phase"] == "Succeeded"
    assert status["progressText"] == "6/6"
    assert status["progress"] == {"totalMiniBatches": 6, "completedMiniBatches": 6, "failedMiniBatches": 0,
                                  "succeededItems": 29, "failedItems": 1}  # fmt: skip
    assert status["outputUri"] == "pvc://data/out"
    assert status["startTime"]
    assert status["completionTime"]
    assert kstatus.compute(done) == kstatus.CURRENT
    columns = cluster.kubectl("get", "bjob", "nightly", "-n", ns).stdout.split("\n")[0].split()
    assert columns[:5] == ["NAME", "PHASE", "READY", "REASON", "PROGRESS"]
    events = cluster.kubectl(
        "get", "events", "-n", ns, "--field-selector", "involvedObject.name=nightly"
    ).stdout
    assert "JobCreated" in events


def test_failing_script_fails_the_job_quoting_the_first_error_then_deletion(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    _setup(cluster, ns, "batch-nowhere-2")
    cluster.apply(_job(ns, "broken"))
    pods = wait_for(lambda: (p := _pods(cluster, ns, "broken")) and len(p) == 2 and p, what="two pods")
    error = "mini-batch 0 (a.csv): ValueError: bad row"
    _exit(cluster, ns, pods[0], contract.EXIT_JOB_FAILED, _msg(0, 1, 0, 5, error=error))
    failed = wait_condition(cluster, "bjob", "broken", ns, "Stalled", "True", reason="JobFailed")
    assert failed["status"]["phase"] == "Failed"
    stalled = next(c for c in failed["status"]["conditions"] if c["type"] == "Stalled")
    assert error in stalled["message"]
    assert kstatus.compute(failed) == kstatus.FAILED
    # podFailurePolicy failed the whole Job at once: the other index is not retried
    job = get(cluster, "job", "batch-broken", ns)
    assert job is not None
    assert any(c["type"] == "Failed" and c["status"] == "True" for c in job["status"]["conditions"])
    cluster.kubectl("delete", "bjob", "broken", "-n", ns, "--wait=true")
    wait_for(lambda: get(cluster, "job", "batch-broken", ns) is None, what="the Job garbage-collected")
    assert get(cluster, "pvc", "data", ns) is not None  # outputs are never touched


def test_cancel_suspends_the_job_and_resume_unsuspends(cluster: Any, namespace: str) -> None:
    ns = namespace
    _setup(cluster, ns, "batch-nowhere-3")
    cluster.apply(_job(ns, "long"))
    wait_for(lambda: get(cluster, "job", "batch-long", ns), what="the Job")
    cluster.kubectl("patch", "bjob", "long", "-n", ns, "--type=merge", "-p", '{"spec": {"suspend": true}}')
    canceled = wait_condition(cluster, "bjob", "long", ns, "Stalled", "True", reason="Canceled")
    assert canceled["status"]["phase"] == "Canceled"
    assert (get(cluster, "job", "batch-long", ns) or {})["spec"]["suspend"] is True
    cluster.kubectl("patch", "bjob", "long", "-n", ns, "--type=merge", "-p", '{"spec": {"suspend": false}}')
    wait_for(lambda: (get(cluster, "job", "batch-long", ns) or {}).get("spec", {}).get("suspend") is False,
             what="the Job resumed")  # fmt: skip
    # the rest of the spec is immutable, like a Job's
    res = cluster.kubectl("patch", "bjob", "long", "-n", ns, "--type=merge", "-p",
                          '{"spec": {"output": {"path": "pvc://data/elsewhere"}}}', check=False)  # fmt: skip
    assert res.returncode != 0
    assert "output is immutable" in res.stderr


def test_bad_references_and_overrides_are_clear(cluster: Any, namespace: str) -> None:
    ns = namespace
    _setup(cluster, ns, "batch-nowhere-4")
    cluster.apply(_job(ns, "noep") | {"spec": {**_job(ns, "noep")["spec"], "endpointName": "nowhere"}})
    pending = wait_condition(cluster, "bjob", "noep", ns, "Reconciling", reason="WaitingForEndpoint")
    assert pending["status"]["phase"] == "Pending"
    cluster.apply(_job(ns, "nodep", deploymentName="missing"))
    wait_condition(cluster, "bjob", "nodep", ns, "Reconciling", reason="WaitingForDeployments")
    cluster.apply(_job(ns, "noclaim", inputs={"d": {"path": "pvc://nope/in"}}))
    stalled = wait_condition(cluster, "bjob", "noclaim", ns, "Stalled", "True", reason="ClaimNotFound")
    assert "'nope'" in next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")["message"]
    assert get(cluster, "job", "batch-noclaim", ns) is None
    cluster.apply(
        _job(ns, "noout", output=None)
        | {"spec": {k: v for k, v in _job(ns, "x")["spec"].items() if k != "output"}}
    )
    wait_condition(cluster, "bjob", "noout", ns, "Stalled", "True", reason="InvalidSpec")
    res = cluster.kubectl("apply", "-f", "-", input=json.dumps(_job(ns, "badset", overrides={"miniBatchSize": 0})),
                          check=False)  # fmt: skip
    assert res.returncode != 0
    assert "miniBatchSize" in res.stderr
    # a deployment whose model claim does not exist is not Ready
    cluster.apply({"apiVersion": API, "kind": "BatchDeployment", "metadata": {"name": "lost", "namespace": ns},
                   "spec": {"endpointName": "scoring", "model": {"path": "pvc://gone/m", "type": "mlflow"},
                            "settings": {"miniBatchSize": 1}}})  # fmt: skip
    wait_condition(cluster, "bdep", "lost", ns, "Stalled", "True", reason="ClaimNotFound")
    cluster.apply(_pvc("gone", ns))
    wait_condition(cluster, "bdep", "lost", ns, "Ready", "True")


def _secret(ns: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "stringData": {"AWS_SECRET_ACCESS_KEY": "do-not-leak"}}  # fmt: skip


def _stalled_message(obj: dict[str, Any]) -> str:
    return str(next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")["message"])


def test_batch_secrets_must_be_opted_in_and_not_made_by_mlendpoints(cluster: Any, namespace: str) -> None:
    """The confused deputy, for batch: no Job mounts a Secret its owner did not opt in."""
    ns = namespace
    _setup(cluster, ns, "batch-nowhere-5")
    opted = {"mlendpoints.io/allow-reference": "true"}
    cluster.apply([_secret(ns, "in-creds", opted), _secret(ns, "out-creds", {}),
                   _secret(ns, "other-keys", opted | {"mlendpoints.io/owner-uid": "someone-elses"})])  # fmt: skip
    inputs = {"d": {"path": "pvc://data/in", "credentialsSecretRef": {"name": "in-creds"}}}
    output = {"path": "pvc://data/out", "credentialsSecretRef": {"name": "out-creds"}}
    cluster.apply(_job(ns, "creds", inputs=inputs, output=output))
    stalled = wait_condition(cluster, "bjob", "creds", ns, "Stalled", "True", reason="SecretNotAllowed")
    assert stalled["status"]["phase"] == "Pending"
    assert "spec.output.credentialsSecretRef: Secret 'out-creds'" in _stalled_message(stalled)
    assert "do-not-leak" not in json.dumps(stalled["status"])
    assert get(cluster, "job", "batch-creds", ns) is None
    # an mlendpoints-made Secret never qualifies, labelled or not
    cluster.apply(
        _job(ns, "keys", inputs={"d": {**inputs["d"], "credentialsSecretRef": {"name": "other-keys"}}})
    )
    keys = wait_condition(cluster, "bjob", "keys", ns, "Stalled", "True", reason="SecretNotAllowed")
    assert "spec.inputs.d.credentialsSecretRef" in _stalled_message(keys)
    assert "managed by mlendpoints" in _stalled_message(keys)
    cluster.apply(_job(ns, "gone", output={**output, "credentialsSecretRef": {"name": "nope"}}))
    gone = wait_condition(cluster, "bjob", "gone", ns, "Stalled", "True", reason="SecretNotFound")
    assert "spec.output.credentialsSecretRef: Secret 'nope'" in _stalled_message(gone)
    # the owner opts the Secret in: the same BatchJob starts (re-checked, Secrets are not watched)
    cluster.kubectl("label", "secret", "out-creds", "-n", ns, "mlendpoints.io/allow-reference=true")
    wait_for(lambda: get(cluster, "job", "batch-creds", ns), timeout=90, what="the Job after opt-in")
    job = get(cluster, "job", "batch-creds", ns)
    env_from = json.dumps(job["spec"]["template"]["spec"])  # type: ignore[index]
    assert "in-creds" in env_from
    assert "out-creds" in env_from
    # a BatchDeployment's model credentials follow the same rule
    cluster.apply({"apiVersion": API, "kind": "BatchDeployment", "metadata": {"name": "borrow", "namespace": ns},
                   "spec": {"endpointName": "scoring", "settings": {"miniBatchSize": 1},
                            "model": {"path": "s3://models/m/", "type": "mlflow",
                                      "credentialsSecretRef": {"name": "other-keys"}}}})  # fmt: skip
    bdep = wait_condition(cluster, "bdep", "borrow", ns, "Stalled", "True", reason="SecretNotAllowed")
    assert "spec.model.credentialsSecretRef: Secret 'other-keys'" in _stalled_message(bdep)
    cluster.apply(_job(ns, "viadep", deploymentName="borrow"))
    viadep = wait_condition(cluster, "bjob", "viadep", ns, "Stalled", "True", reason="SecretNotAllowed")
    assert "BatchDeployment 'borrow' spec.model.credentialsSecretRef" in _stalled_message(viadep)
    assert get(cluster, "job", "batch-viadep", ns) is None


def test_opt_in_egress_policy_is_created_with_the_job_and_owned_by_the_batch_job(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    _setup(cluster, ns, "batch-nowhere-6")
    egress = {"enabled": True, "cidrs": [{"cidr": "203.0.113.0/24", "ports": [443, 9000]}]}
    cluster.apply({"apiVersion": API, "kind": "BatchDeployment", "metadata": {"name": "fenced", "namespace": ns},
                   "spec": {"endpointName": "scoring", "model": {"path": "pvc://models/m", "type": "mlflow"},
                            "instanceType": "batch-nowhere-6", "settings": {"miniBatchSize": 1},
                            "egress": egress}})  # fmt: skip
    cluster.apply([_job(ns, "plain"), _job(ns, "fenced", deploymentName="fenced")])
    batch_job = wait_for(lambda: get(cluster, "bjob", "fenced", ns) if get(cluster, "job", "batch-fenced", ns) else None,
                         timeout=90, what="the fenced Job")  # fmt: skip
    policy = get(cluster, "networkpolicy", "batch-fenced", ns)
    assert policy is not None
    (owner,) = policy["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "BatchJob",
        "fenced",
        batch_job["metadata"]["uid"],
    )
    assert policy["spec"]["podSelector"] == {"matchLabels": {"mlendpoints.io/batch-job": "fenced"}}
    assert policy["spec"]["policyTypes"] == ["Egress"]
    assert policy["spec"]["egress"][1] == {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
                                           "ports": [{"protocol": "TCP", "port": 443},
                                                     {"protocol": "TCP", "port": 9000}]}  # fmt: skip
    # the default deployment has no egress: its jobs get no policy
    wait_for(lambda: get(cluster, "job", "batch-plain", ns), timeout=90, what="the plain Job")
    assert get(cluster, "networkpolicy", "batch-plain", ns) is None
    # a malformed block is rejected by the API server, naming the field
    bad = {"apiVersion": API, "kind": "BatchDeployment", "metadata": {"name": "bad", "namespace": ns},
           "spec": {"endpointName": "scoring", "model": {"path": "pvc://models/m", "type": "mlflow"},
                    "settings": {"miniBatchSize": 1}, "egress": {"enabled": True, "cidrs": [{"cidr": "example.com"}]}}}  # fmt: skip
    res = cluster.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert res.returncode != 0
    assert "spec.egress.cidrs[0].cidr" in res.stderr


def test_cli_invoke_streams_progress_until_the_job_succeeds(cluster: Any, namespace: str) -> None:
    ns = namespace
    _setup(cluster, ns, "batch-nowhere-5")
    cmd = [sys.executable, "-m", "mlendpoints.cli", "batch", "invoke", "scoring", "--input", "pvc://data/in",
           "--output", "pvc://data/out", "--name", "streamed", "--set", "instanceCount=1", "--stream",
           "-n", ns, "--kubeconfig", str(cluster.kubeconfig)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        pods = wait_for(lambda: (p := _pods(cluster, ns, "streamed")) and p, what="the pod")
        job = get(cluster, "job", "batch-streamed", ns)
        assert job is not None
        assert job["spec"]["completions"] == 1
        _exit(cluster, ns, pods[0], 0, _msg(0, 6, 30, 0, assembled=True))
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "batchjob.mlendpoints.io/streamed created" in out
    assert "phase=Succeeded  progress=6/6" in out
    assert "outputs: pvc://data/out" in out
    listed = subprocess.run([*cmd[:4], "list", "scoring", "-n", ns, "--kubeconfig", str(cluster.kubeconfig)],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert listed.startswith("streamed  phase=Succeeded")
