"""target: azureml end to end: the operator (a real process) on the local control plane, reconciling
into the fake Azure Resource Manager (tests/azureml/fake_arm.py) through the real azure-ai-ml client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.azureml.fake_arm import FakeArm
from tests.integration.conftest import OperatorProcess, condition, get, wait_condition, wait_for
from tests.integration.test_online import API, _reconciled

pytestmark = pytest.mark.usefixtures("operator")
ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000000"


def ws_name(ns: str) -> str:
    """A workspace of the test's own (names are at most 33 characters; namespaces are longer)."""
    return "ws-" + hashlib.sha256(ns.encode()).hexdigest()[:12]


def ws_path(ws: str, rg: str = "ml-rg") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"


def example(path: str, ns: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((ROOT / path).read_text()) if d]
    for d in docs:
        d["metadata"]["namespace"] = ns
    return docs


def azureml(ws: str, **extra: Any) -> dict[str, Any]:
    return {"subscriptionId": SUB, "resourceGroup": "ml-rg", "workspaceName": ws, **extra}


def secret_data(cluster: Any, name: str, ns: str) -> dict[str, str]:
    body = get(cluster, "secret", name, ns) or {}
    return {k: base64.b64decode(v).decode() for k, v in (body.get("data") or {}).items()}


def events(cluster: Any, ns: str, name: str) -> list[str]:
    items = cluster.kubectl_json("get", "events", "-n", ns)["items"]
    return [e["reason"] for e in items if e["involvedObject"]["name"] == name]


def ordered(fake: FakeArm, method: str, path: str) -> list[Any]:
    return [r for r in fake.calls(method) if r.path.lower() == path.lower()]


def test_managed_example_ready_with_uris_keys_traffic_order_restart_and_orphan(
    cluster: Any, namespace: str, azure_fake: FakeArm, operator: OperatorProcess
) -> None:
    ns, fake = namespace, azure_fake
    cluster.apply(example("examples/online/azureml-managed.yaml", ns))
    ep = wait_condition(cluster, "oep", "credit-azure", ns, "Ready", timeout=120)
    dep = wait_condition(cluster, "odep", "main", ns, "Ready", timeout=60)
    base = ws_path("ml-ws") + "/onlineEndpoints/credit-azure"
    st = ep["status"]
    assert st["provisioningState"] == "Succeeded"
    assert st["scoringUri"] == f"{fake.url}/score/ml-ws/credit-azure"
    assert st["swaggerUri"] == f"{fake.url}/score/ml-ws/credit-azure/swagger.json"
    assert st["azureResourceId"] == base
    assert st["traffic"] == {"main": 100}
    assert st["keysSecretName"] == "credit-azure-keys"
    assert dep["status"]["provisioningState"] == "Succeeded"
    assert "mlendpoints.io/azureml" in ep["metadata"]["finalizers"]

    # Keys: the Secret holds Azure's keys, in the in-cluster shape, and they score.
    keys = secret_data(cluster, "credit-azure-keys", ns)
    assert set(keys) == {"primaryKey", "secondaryKey"}
    assert (keys["primaryKey"], keys["secondaryKey"]) == fake.keys[base.lower()]
    req = urllib.request.Request(
        st["scoringUri"],
        data=b'{"data": [[1, 2]]}',
        method="POST",
        headers={"Authorization": f"Bearer {keys['primaryKey']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=str(fake.ca_path))) as resp:
        assert json.loads(resp.read())["endpoint"] == "credit-azure"

    # Order: endpoint created without traffic, then the deployment, then traffic by an endpoint update.
    ep_puts = ordered(fake, "PUT", base)
    dep_puts = ordered(fake, "PUT", base + "/deployments/main")
    assert [p.body["properties"]["traffic"] for p in ep_puts] == [{}, {"main": 100}]
    assert len(dep_puts) == 1
    assert ep_puts[0].at < dep_puts[0].at < ep_puts[1].at
    assert dep_puts[0].body["properties"]["instanceType"] == "Standard_DS3_v2"
    assert dep_puts[0].body["sku"]["capacity"] == 1
    assert dep_puts[0].body["properties"]["requestSettings"]["requestTimeout"] == "PT10S"
    # The deployment's ops finished before the traffic update was sent.
    settled = [
        r
        for r in fake.calls("GET", "/onlineEndpoints/credit-azure/deployments/main$")
        if r.at < ep_puts[1].at
    ]
    assert settled

    # Idempotence: a restart, and a metadata-only touch, send no PUT to Azure and write nothing.
    puts_before = len(fake.calls("PUT", "/workspaces/ml-ws/"))
    mark = cluster.audit_mark() if cluster.is_local else None
    operator.restart()
    cluster.kubectl("label", "oep", "credit-azure", "-n", ns, "touched=yes")
    wait_for(
        lambda: _reconciled(operator, {"OnlineEndpoint": 2, "OnlineDeployment": 1}),
        what="reconciles after restart",
    )
    assert len(fake.calls("PUT", "/workspaces/ml-ws/")) == puts_before
    if mark is not None and operator.user is not None:
        writes = [
            f"{e['verb']} {e['objectRef'].get('resource')}/{e['objectRef'].get('name')}"
            for e in cluster.audit_events(mark, user=operator.user)
            if (e.get("objectRef") or {}).get("namespace") == ns
            and (e.get("objectRef") or {}).get("resource") != "events"
        ]
        assert writes == []

    # Regenerating the primary key goes to Azure, and the Secret follows.
    cluster.kubectl("annotate", "oep", "credit-azure", "-n", ns, "mlendpoints.io/regenerate-keys=primary@1")
    wait_for(lambda: fake.calls("POST", "/credit-azure/regenerateKeys$"), what="regenerateKeys call")
    assert fake.calls("POST", "/credit-azure/regenerateKeys$")[-1].body == {
        "keyType": "Primary",
        "keyValue": keys["primaryKey"],
    }
    wait_for(
        lambda: (
            secret_data(cluster, "credit-azure-keys", ns).get("primaryKey") not in (None, keys["primaryKey"])
        ),
        what="new primary key in the Secret",
    )
    new = secret_data(cluster, "credit-azure-keys", ns)
    assert new["secondaryKey"] == keys["secondaryKey"]
    assert new["primaryKey"] == fake.keys[base.lower()][0]

    # deletionPolicy Orphan: the resources go, Azure keeps its endpoint.
    cluster.kubectl("delete", "oep", "credit-azure", "-n", ns, "--wait=false")
    wait_for(lambda: get(cluster, "oep", "credit-azure", ns) is None, what="endpoint CR gone")
    wait_for(lambda: get(cluster, "odep", "main", ns) is None, what="deployment CR gone (owner reference)")
    assert fake.resource(base) is not None
    assert not fake.calls("DELETE", "/workspaces/ml-ws/")


def _two_deployments(ns: str, ws: str, **ep_spec: Any) -> list[dict[str, Any]]:
    def dep(name: str) -> dict[str, Any]:
        return {
            "apiVersion": API,
            "kind": "OnlineDeployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "endpointName": "ep1",
                "model": {"path": "azureml:m:1", "type": "mlflow"},
                "instanceType": "Standard_DS2_v2",
                "instanceCount": 1,
            },
        }

    ep = {
        "apiVersion": API,
        "kind": "OnlineEndpoint",
        "metadata": {"name": "ep1", "namespace": ns},
        "spec": {
            "target": "azureml",
            "azureml": azureml(ws, credential={"secretRef": {"name": "sp"}}),
            **ep_spec,
        },
    }
    return [ep, dep("blue"), dep("green")]


def _sp_secret(ns: str, secret: str = "test-secret") -> dict[str, Any]:  # noqa: S107
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "sp", "namespace": ns, "labels": {"mlendpoints.io/allow-reference": "true"}},
        "stringData": {
            "AZURE_TENANT_ID": "t1",
            "AZURE_CLIENT_ID": "test-client",
            "AZURE_CLIENT_SECRET": secret,
        },
    }


def test_traffic_and_mirror_follow_succeeded_deployments_and_delete_policy_cleans_up(
    cluster: Any, namespace: str, azure_fake: FakeArm
) -> None:
    ns, fake = namespace, azure_fake
    cluster.apply(_sp_secret(ns))
    cluster.apply(
        _two_deployments(
            ns, ws_name(ns), traffic={"blue": 100}, mirrorTraffic={"green": 10}, authMode="aadToken"
        )
    )
    ep = wait_condition(cluster, "oep", "ep1", ns, "Ready", timeout=120)
    base = ws_path(ws_name(ns)) + "/onlineEndpoints/ep1"
    puts = ordered(fake, "PUT", base)
    assert puts[0].body["properties"]["traffic"] == {}
    assert puts[-1].body["properties"]["traffic"] == {"blue": 100}
    assert puts[-1].body["properties"]["mirrorTraffic"] == {"green": 10}
    assert puts[-1].body["properties"]["authMode"] == "AADToken"
    last_dep_put = max(r.at for r in fake.calls("PUT", "/onlineEndpoints/ep1/deployments/"))
    assert puts[-1].at > last_dep_put
    assert ep["status"]["mirrorTraffic"] == {"green": 10}
    assert get(cluster, "secret", "ep1-keys", ns) is None  # aadToken: no keys Secret

    # deletionPolicy Delete (the default): the Azure endpoint is deleted before the CR goes.
    cluster.kubectl("delete", "oep", "ep1", "-n", ns, "--wait=false")
    wait_for(lambda: get(cluster, "oep", "ep1", ns) is None, timeout=60, what="endpoint CR gone")
    assert ordered(fake, "DELETE", base)
    assert fake.resource(base) is None
    wait_for(
        lambda: get(cluster, "odep", "blue", ns) is None and get(cluster, "odep", "green", ns) is None,
        timeout=60,
        what="deployment CRs gone",
    )


def test_azure_failures_become_conditions(cluster: Any, namespace: str, azure_fake: FakeArm) -> None:
    ns, fake = namespace, azure_fake
    docs = _two_deployments(ns, ws_name(ns), traffic={"blue": 100})
    cluster.apply(docs[:2])
    # No Secret yet: Stalled, saying what is missing.
    wait_condition(cluster, "oep", "ep1", ns, "Stalled", reason="AzureCredentialMissing")
    # A Secret its owner did not opt in (mlendpoints.io/allow-reference) is never used: nothing is sent.
    unlabelled = _sp_secret(ns, secret="wrong")
    unlabelled["metadata"]["labels"] = {}
    cluster.apply(unlabelled)
    cluster.kubectl("annotate", "oep", "ep1", "-n", ns, "unlabelled=1")
    refused = wait_condition(cluster, "oep", "ep1", ns, "Stalled", reason="SecretNotAllowed")
    message = condition(refused, "Stalled")["message"]  # type: ignore[index]
    assert "spec.azureml.credential.secretRef: Secret 'sp'" in message
    assert "mlendpoints.io/allow-reference" in message
    assert not fake.calls("PUT", f"/workspaces/{ws_name(ns)}/")
    # Opted in, but a wrong client secret: Azure AD refuses it.
    cluster.apply(_sp_secret(ns, secret="wrong"))
    cluster.kubectl("annotate", "oep", "ep1", "-n", ns, "retry=1")
    stalled = wait_condition(cluster, "oep", "ep1", ns, "Stalled", reason="AzureAuthFailed")
    assert "wrong" not in json.dumps(stalled["status"])
    # Throttling, then a server error, on the endpoint PUT: retried (after Retry-After), then Ready.
    endpoint_put = f"/workspaces/{ws_name(ns)}/onlineEndpoints/ep1$"
    fake.inject(
        "PUT", endpoint_put, 429, code="TooManyRequests", message="slow down", headers={"Retry-After": "2"}
    )
    fake.inject("PUT", endpoint_put, 500, code="InternalServerError", message="try later")
    # A conflict, then a failed long-running operation, on the deployment.
    dep_put = f"/workspaces/{ws_name(ns)}/onlineEndpoints/ep1/deployments/blue$"
    fake.inject("PUT", dep_put, 409, code="Conflict", message="operation in progress")
    fake.fail_next_lro(dep_put, "QuotaExceeded", "Not enough quota for Standard_DS2_v2 in eastus")
    cluster.apply(_sp_secret(ns))
    cluster.kubectl("annotate", "oep", "ep1", "-n", ns, "retry=2", "--overwrite")
    wait_condition(cluster, "odep", "blue", ns, "Stalled", reason="AzureProvisioningFailed", timeout=120)
    # Azure's error arrives with the operation status, which the SDK polls every 5 s for deployments.
    wait_for(
        lambda: (
            "QuotaExceeded: Not enough quota for Standard_DS2_v2 in eastus"
            in (condition(get(cluster, "odep", "blue", ns), "Stalled") or {}).get("message", "")
        ),
        timeout=30,
        what="Azure's error in the Stalled message",
    )
    attempts = ordered(fake, "PUT", ws_path(ws_name(ns)) + "/onlineEndpoints/ep1")
    assert len(attempts) >= 3
    throttled = next(r for r in fake.calls("PUT", endpoint_put) if r is attempts[0])
    assert attempts[1].at - throttled.at >= 1.9  # Retry-After honoured, not a hot loop
    for reason in ("AzureCredentialMissing", "AzureAuthFailed", "AzureThrottled", "AzureUnavailable"):
        assert reason in events(cluster, ns, "ep1"), reason
    assert "AzureOperationInProgress" in events(cluster, ns, "blue")
    # The endpoint waits for its deployment, and says so.
    ep = wait_condition(cluster, "oep", "ep1", ns, "Reconciling", reason="WaitingForDeployments")
    assert ep["status"]["provisioningState"] == "Succeeded"
    # Fixing the spec (a new hash) re-sends it; then everything is Ready and traffic flows.
    cluster.kubectl("patch", "odep", "blue", "-n", ns, "--type=merge", "-p", '{"spec":{"instanceCount":2}}')
    wait_condition(cluster, "odep", "blue", ns, "Ready", timeout=60)
    ep = wait_condition(cluster, "oep", "ep1", ns, "Ready", timeout=60)
    assert ep["status"]["traffic"] == {"blue": 100}
    assert (
        ordered(fake, "PUT", ws_path(ws_name(ns)) + "/onlineEndpoints/ep1/deployments/blue")[-1].body["sku"][
            "capacity"
        ]
        == 2
    )


def test_kubernetes_only_fields_are_rejected_with_a_condition(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(_sp_secret(ns))
    docs = _two_deployments(ns, ws_name(ns))
    docs[1]["spec"]["codeConfiguration"] = {"configMap": {"name": "code"}, "scoringScript": "score.py"}
    docs[1]["spec"]["model"] = {"path": "azureml:m:1"}
    docs[1]["spec"]["environment"] = {"image": "img:1"}
    cluster.apply(docs[:2])
    dep = wait_condition(cluster, "odep", "blue", ns, "Stalled", reason="InvalidSpec")
    assert "codeConfiguration.configMap" in condition(dep, "Stalled")["message"]


def test_batch_example_runs_a_job_and_delete_policy_removes_the_endpoint(
    cluster: Any, namespace: str, azure_fake: FakeArm
) -> None:
    ns, fake = namespace, azure_fake
    docs = example("examples/batch/azureml-batch.yaml", ns)
    for d in docs:
        if d["kind"] == "BatchEndpoint":
            d["spec"]["azureml"]["workspaceName"] = ws_name(
                ns
            )  # the example's names, in a workspace of its own
    cluster.apply(docs)
    job = wait_for(
        lambda: (
            (j := get(cluster, "bjob", "heart-azure-2026-11", ns))
            and j.get("status", {}).get("phase") == "Succeeded"
            and j
        ),
        timeout=120,
        what="batch job Succeeded",
    )
    st = job["status"]
    assert st["jobName"].startswith("mlendpoints-")
    assert st["studioUrl"].startswith("https://ml.azure.com/runs/" + st["jobName"])
    assert st["outputUri"] == "azureml://datastores/workspaceblobstore/paths/batch/heart/2026-11/"
    assert st["deploymentName"] == "heart-mlflow"
    assert condition(job, "Ready")["reason"] == "Succeeded"
    ep = wait_condition(cluster, "bep", "heart-azure", ns, "Ready")
    base = ws_path(ws_name(ns)) + "/batchEndpoints/heart-azure"
    assert ep["status"]["scoringUri"] == f"{fake.url}/batch/{ws_name(ns)}/heart-azure/jobs"
    puts = ordered(fake, "PUT", base)
    assert (puts[0].body["properties"].get("defaults") or {}).get("deploymentName") is None
    assert puts[-1].body["properties"]["defaults"] == {"deploymentName": "heart-mlflow"}
    assert puts[-1].at > ordered(fake, "PUT", base + "/deployments/heart-mlflow")[0].at
    invokes = fake.calls("POST", f"/batch/{ws_name(ns)}/heart-azure/jobs$")
    assert len(invokes) == 1
    assert invokes[0].headers["azureml-model-deployment"] == "heart-mlflow"
    assert (
        invokes[0]
        .body["properties"]["inputData"]["heart_dataset"]["uri"]
        .startswith("https://azuremlexampledata")
    )
    time.sleep(1.5)  # more reconciles of the finished job must not submit it again
    assert len(fake.calls("POST", f"/batch/{ws_name(ns)}/heart-azure/jobs$")) == 1

    cluster.kubectl("delete", "bep", "heart-azure", "-n", ns, "--wait=false")
    wait_for(
        lambda: get(cluster, "bep", "heart-azure", ns) is None, timeout=60, what="batch endpoint CR gone"
    )
    assert ordered(fake, "DELETE", base)
    assert fake.resource(base) is None
