"""What a resource may point at (backends.kubernetes.references), against an in-memory API.

The API server is the outside here: ``FakeKube.get`` answers with the Secrets a test put in.
tests/integration/test_security.py runs the same rules through the operator on a real cluster.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from mlendpoints.api.v1alpha1 import BatchDeployment, BatchJob
from mlendpoints.api.v1alpha1.common import AzureMLSettings
from mlendpoints.backends.azureml.common import Azure, AzureSettings, Stop, credential
from mlendpoints.backends.kubernetes import batchjob, references
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients.resources import Kind
from mlendpoints.clients.store import Store
from mlendpoints.controller import watches
from mlendpoints.render.settings import RenderSettings
from mlendpoints.status.conditions import State


class FakeKube:
    def __init__(self, secrets: dict[str, dict[str, Any]]) -> None:
        self.secrets = secrets

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        assert kind.kind == "Secret"
        found = self.secrets.get(f"{namespace}/{name}")
        if found is None:
            return None
        return {**found, "metadata": {**found["metadata"], "namespace": namespace, "name": name}}


def _ctx(secrets: dict[str, dict[str, Any]] | None = None) -> Context:
    return Context(
        kube=FakeKube(secrets or {}),
        store=Store(watches.cached()),
        render=RenderSettings(),
        enqueue=lambda item: None,
    )  # type: ignore[arg-type]


def _secret(labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"labels": labels}, "data": {"k": "c2VjcmV0"}}


def _endpoint(ns: str, name: str, created: str, host: str | None, uid: str = "ep-uid") -> dict[str, Any]:
    return {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"namespace": ns, "name": name, "uid": uid, "creationTimestamp": created},
        "spec": {"routing": {"host": host} if host else {}},
    }


def test_only_labelled_secrets_that_mlendpoints_did_not_make_may_be_referenced() -> None:
    ctx = _ctx(
        {
            "a/plain": _secret({}),
            "a/opted": _secret({"mlendpoints.io/allow-reference": "true"}),
            "a/keys": _secret({"mlendpoints.io/allow-reference": "true", "mlendpoints.io/owner-uid": "x"}),
        }
    )
    field = "spec.model.credentialsSecretRef"
    assert asyncio.run(references.check_secrets(ctx, "a", [(field, "opted")])) is None
    plain = asyncio.run(references.check_secrets(ctx, "a", [(field, "plain")]))
    assert plain is not None
    assert plain.state is State.STALLED
    assert plain.reason == "SecretNotAllowed"
    assert field in plain.message
    assert "'plain'" in plain.message
    assert "mlendpoints.io/allow-reference" in plain.message
    keys = asyncio.run(references.check_secrets(ctx, "a", [(field, "keys")]))
    assert keys is not None
    assert "managed by mlendpoints" in keys.message
    missing = asyncio.run(references.check_secrets(ctx, "a", [(field, "nope")]))
    assert missing is not None
    assert missing.reason == "SecretNotFound"
    other_ns = asyncio.run(references.check_secrets(ctx, "b", [(field, "opted")]))
    assert other_ns is not None
    assert other_ns.reason == "SecretNotFound"


def test_keys_secret_must_be_the_endpoints_own() -> None:
    ep = _endpoint("a", "payments", "2026-01-01T00:00:00Z", None, uid="mine")
    ctx = _ctx({"a/payments-keys": _secret({"mlendpoints.io/owner-uid": "someone-else"})})
    conflict = asyncio.run(references.check_keys_secret(ctx, "a", "payments-keys", ep))
    assert conflict is not None
    assert conflict.reason == "NameConflict"
    assert "'payments-keys'" in conflict.message
    ctx = _ctx({"a/payments-keys": _secret({"mlendpoints.io/owner-uid": "mine"})})
    assert asyncio.run(references.check_keys_secret(ctx, "a", "payments-keys", ep)) is None
    waiting = asyncio.run(references.check_keys_secret(_ctx(), "a", "payments-keys", ep))
    assert waiting is not None
    assert waiting.state is State.PROGRESSING


def test_the_first_endpoint_keeps_a_host_across_namespaces() -> None:
    ctx = _ctx()
    first = _endpoint("team-a", "ep", "2026-01-01T00:00:00Z", "score.example.com")
    second = _endpoint("team-b", "ep", "2026-01-02T00:00:00Z", "Score.Example.com")
    same_ns = _endpoint("team-a", "other", "2026-01-03T00:00:00Z", "score.example.com")
    for body in (first, second, same_ns):
        ctx.store.upsert("OnlineEndpoint", body)
    assert references.host_conflict(ctx, first) is None
    verdict = references.host_conflict(ctx, second)
    assert verdict is not None
    assert verdict.reason == "HostConflict"
    assert "OnlineEndpoint team-a/ep" in verdict.message
    assert "spec.routing.host" in verdict.message
    assert references.host_conflict(ctx, same_ns) is None  # same namespace: not a claim
    no_host = _endpoint("team-c", "ep", "2026-01-04T00:00:00Z", None)
    assert references.host_conflict(ctx, no_host) is None
    # who is re-judged when a host is freed or claimed
    assert [o["metadata"]["namespace"] for o in references.same_host(ctx.store, first, None)] == ["team-b"]


def test_a_wildcard_host_claims_the_endpoints_own_name_under_it() -> None:
    ctx = _ctx()
    wildcard = _endpoint("team-a", "fraud", "2026-01-01T00:00:00Z", "*.ml.example.com")
    exact = _endpoint("team-b", "ep", "2026-01-02T00:00:00Z", "fraud.ml.example.com")
    unrelated = _endpoint("team-c", "ep", "2026-01-03T00:00:00Z", "other.ml.example.com")
    for body in (wildcard, exact, unrelated):
        ctx.store.upsert("OnlineEndpoint", body)
    verdict = references.host_conflict(ctx, exact)
    assert verdict is not None
    assert "team-a/fraud" in verdict.message
    assert references.host_conflict(ctx, unrelated) is None


def _batch(model_secret: str | None) -> tuple[Any, Any]:
    model: dict[str, Any] = {"path": "s3://models/m/", "type": "mlflow"}
    if model_secret:
        model["credentialsSecretRef"] = {"name": model_secret}
    dep = BatchDeployment.model_validate(
        {
            "metadata": {"name": "scorer", "namespace": "a"},
            "spec": {"endpointName": "ep1", "model": model, "settings": {"miniBatchSize": 1}},
        }
    )
    job = BatchJob.model_validate(
        {
            "metadata": {"name": "nightly", "namespace": "a"},
            "spec": {
                "endpointName": "ep1",
                "inputs": {
                    "zeta": {"path": "s3://in/z/", "credentialsSecretRef": {"name": "z-creds"}},
                    "alpha": {"path": "s3://in/a/", "credentialsSecretRef": {"name": "a-creds"}},
                    "plain": {"path": "pvc://data/in"},
                },
                "output": {"path": "s3://out/", "credentialsSecretRef": {"name": "out-creds"}},
            },
        }
    )
    return dep, job


def test_batch_jobs_name_every_secret_their_pods_would_use_by_field() -> None:
    dep, job = _batch("model-creds")
    assert batchjob.deployment_secrets(dep) == [("spec.model.credentialsSecretRef", "model-creds")]
    assert batchjob.job_secrets(job, dep) == [
        ("spec.inputs.alpha.credentialsSecretRef", "a-creds"),
        ("spec.inputs.zeta.credentialsSecretRef", "z-creds"),
        ("spec.output.credentialsSecretRef", "out-creds"),
        ("BatchDeployment 'scorer' spec.model.credentialsSecretRef", "model-creds"),
    ]
    dep, _ = _batch(None)
    assert batchjob.deployment_secrets(dep) == []
    # through the rule: the first Secret that does not qualify is named with its field
    ctx = _ctx(
        {f"a/{n}": _secret({"mlendpoints.io/allow-reference": "true"}) for n in ("a-creds", "z-creds")}
    )
    problem = asyncio.run(references.check_secrets(ctx, "a", batchjob.job_secrets(job, dep)))
    assert problem is not None
    assert problem.reason == "SecretNotFound"
    assert problem.message.startswith("spec.output.credentialsSecretRef: Secret 'out-creds'")


def _azure(secrets: dict[str, dict[str, Any]]) -> tuple[Any, Any, Any]:
    settings = AzureMLSettings.model_validate(
        {
            "subscriptionId": "00000000-0000-0000-0000-000000000000",
            "resourceGroup": "rg",
            "workspaceName": "ws",
            "credential": {"secretRef": {"name": "sp"}},
        }
    )
    body = {"kind": "OnlineEndpoint", "metadata": {"namespace": "a", "name": "ep"}}
    return Azure(ctx=_ctx(secrets), settings=AzureSettings()), body, settings


def _sp(labels: dict[str, str]) -> dict[str, Any]:
    data = {
        k: base64.b64encode(b"v").decode()
        for k in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
    }
    return {"metadata": {"labels": labels}, "data": data}


def test_the_azure_credential_secret_follows_the_same_rule() -> None:
    opted = {"mlendpoints.io/allow-reference": "true"}
    cases = {
        "not opted in": ({}, "not opted in"),
        "made by mlendpoints": (opted | {"mlendpoints.io/owner-uid": "x"}, "managed by mlendpoints"),
    }
    for labels, says in cases.values():
        az, body, settings = _azure({"a/sp": _sp(labels)})
        with pytest.raises(Stop) as stop:
            asyncio.run(credential(az, body, settings))
        outcome = stop.value.verdict.outcome
        assert outcome.state is State.STALLED
        assert outcome.reason == "SecretNotAllowed"
        assert outcome.message.startswith("spec.azureml.credential.secretRef: Secret 'sp'")
        assert says in outcome.message
        assert stop.value.verdict.requeue == references.RECHECK_S
    az, body, settings = _azure({"a/sp": _sp(opted)})
    cred = asyncio.run(credential(az, body, settings))
    assert cred.mode == "secret"
    assert dict(cred.values) == {"AZURE_TENANT_ID": "v", "AZURE_CLIENT_ID": "v", "AZURE_CLIENT_SECRET": "v"}
    az, body, settings = _azure({})
    with pytest.raises(Stop) as stop:
        asyncio.run(credential(az, body, settings))
    assert stop.value.verdict.outcome.reason == "AzureCredentialMissing"
    assert "spec.azureml.credential.secretRef" in stop.value.verdict.outcome.message
