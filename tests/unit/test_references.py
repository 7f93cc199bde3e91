"""What a resource may point at (backends.kubernetes.references), against an in-memory API.

The API server is the outside here: ``FakeKube.get`` answers with the Secrets a test put in.
tests/integration/test_security.py runs the same rules through the operator on a real cluster.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mlendpoints.backends.kubernetes import references
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients.resources import Kind
from mlendpoints.clients.store import Store
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
        kube=FakeKube(secrets or {}), store=Store(), render=RenderSettings(), enqueue=lambda item: None
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
