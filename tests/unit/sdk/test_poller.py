"""Pollers over kstatus (mlendpoints.sdk.poller) and resources read back as entities (readback).

The resources are the dicts the API server returns (spec + status with conditions); the poller
reads them through ``probe_of`` in order, as it would read them from the cluster.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.ai.ml import entities as e
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.polling import LROPoller

from mlendpoints.sdk import readback
from mlendpoints.sdk.poller import StalledError, poller, probe_of


def endpoint(generation: int, observed: int | None, **conditions: tuple[str, str, str]) -> dict[str, Any]:
    """An OnlineEndpoint; ``conditions``: type -> (status, reason, message)."""
    status: dict[str, Any] = {
        "scoringUri": "http://gw.example/ns/ep1/score",
        "conditions": [
            {"type": t, "status": s, "reason": r, "message": m} for t, (s, r, m) in conditions.items()
        ],
    }
    if observed is not None:
        status["observedGeneration"] = observed
    return {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "ep1", "namespace": "ns", "generation": generation},
        "spec": {"authMode": "key", "traffic": {"blue": 100}},
        "status": status,
    }


READY = ("True", "Ready", "serving")
NOT_READY = ("False", "Progressing", "waiting for blue")
STALLED = ("True", "InvalidSpec", "traffic: deployment nosuch does not exist")


def reading(*reads: dict[str, Any] | None) -> tuple[LROPoller[Any], Iterator[Any]]:
    """A poller that reads ``reads`` in order (the first one at once, as ``begin_*`` does)."""
    it = iter(reads)
    return poller(lambda: probe_of(next(it), readback.online_endpoint), "OnlineEndpoint ep1", interval=0), it


def test_result_waits_for_ready_of_the_current_generation_and_reads_back() -> None:
    p, left = reading(
        endpoint(2, 1, Ready=READY),  # Ready, but for the previous generation
        endpoint(2, 2, Ready=NOT_READY),
        endpoint(2, 2, Ready=READY),
    )
    assert isinstance(p, LROPoller)  # azure-core's own class, as azure-ai-ml returns
    got = p.result()
    assert isinstance(got, e.ManagedOnlineEndpoint)
    assert (got.name, got.traffic, got.scoring_uri) == (
        "ep1",
        {"blue": 100},
        "http://gw.example/ns/ep1/score",
    )
    assert got.provisioning_state == "Succeeded"
    assert list(left) == []
    assert (p.done(), p.status()) == (True, "Succeeded")


def test_ready_at_once_starts_no_thread() -> None:
    p, _ = reading(endpoint(1, 1, Ready=READY))
    assert p.done()
    assert p.result().provisioning_state == "Succeeded"


def test_stalled_raises_with_the_status_message() -> None:
    p, _ = reading(endpoint(1, 1, Ready=("False", "InvalidSpec", "x"), Stalled=STALLED))
    with pytest.raises(StalledError) as info:
        p.result()
    assert str(info.value) == (
        "OnlineEndpoint ep1 is Stalled: InvalidSpec: traffic: deployment nosuch does not exist"
    )
    assert isinstance(info.value, HttpResponseError)  # what azure-ai-ml code catches
    assert (p.done(), p.status()) == (True, "Failed")


def test_stalled_after_progressing_raises_too() -> None:
    p, _ = reading(endpoint(1, None, Ready=NOT_READY), endpoint(1, 1, Stalled=STALLED))
    with pytest.raises(StalledError, match="is Stalled: InvalidSpec"):
        p.result()


def test_a_timeout_returns_the_resource_as_it_is_like_azure_core() -> None:
    ready_at = time.monotonic() + 0.5

    def read() -> Any:
        obj = endpoint(1, 1, Ready=READY if time.monotonic() > ready_at else NOT_READY)
        return probe_of(obj, readback.online_endpoint)

    p = poller(read, "OnlineEndpoint ep1", interval=0.01)
    got = p.result(timeout=0.05)
    assert got.provisioning_state == "Creating"
    assert (p.done(), p.status()) == (False, "InProgress")
    assert p.result().provisioning_state == "Succeeded"  # no limit: until Ready


def test_deleted_while_waiting_is_not_found() -> None:
    p, _ = reading(endpoint(1, None, Ready=NOT_READY), None)
    with pytest.raises(ResourceNotFoundError, match="deleted while waiting"):
        p.result()


def test_done_callbacks_run_when_done() -> None:
    seen: list[str] = []
    p, _ = reading(endpoint(1, None, Ready=NOT_READY), endpoint(1, 1, Ready=READY))
    p.add_done_callback(lambda method: seen.append(method.status()))
    p.wait()
    p.add_done_callback(lambda method: seen.append("late"))
    assert seen == ["Succeeded", "late"]


@pytest.mark.parametrize(
    ("obj", "state"),
    [
        pytest.param(endpoint(1, 1, Ready=READY), "Succeeded", id="ready"),
        pytest.param(endpoint(1, 1, Stalled=STALLED), "Failed", id="stalled"),
        pytest.param(endpoint(1, None), "Creating", id="new"),
        pytest.param(endpoint(3, 2, Ready=READY), "Updating", id="changed"),
        pytest.param(
            {
                **endpoint(1, 1, Ready=READY),
                "metadata": {"name": "ep1", "generation": 1, "deletionTimestamp": "t"},
            },
            "Deleting",
            id="deleting",
        ),
    ],
)
def test_provisioning_state_from_kstatus(obj: dict[str, Any], state: str) -> None:
    assert readback.provisioning_state(obj) == state


def test_deployments_read_back_with_model_settings_and_kind() -> None:
    dep = {
        "kind": "OnlineDeployment",
        "metadata": {"name": "blue", "generation": 1},
        "spec": {
            "endpointName": "ep1",
            "model": {"path": "az://up/ep1/blue-model/abc/", "type": "mlflow"},
            "instanceType": "standard-ds3-v2",
            "instanceCount": 2,
            "requestSettings": {
                "requestTimeoutMs": 9000,
                "maxConcurrentRequestsPerInstance": 1,
                "maxQueueWaitMs": 500,
            },
            "livenessProbe": {"period": 5},
            "codeConfiguration": {"scoringScript": "score.py", "configMap": {"name": "ep1-blue-code"}},
        },
        "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]},
    }
    got = readback.online_deployment(dep)
    assert isinstance(got, e.ManagedOnlineDeployment)
    assert (got.name, got.endpoint_name, got.instance_type, got.instance_count) == (
        "blue",
        "ep1",
        "standard-ds3-v2",
        2,
    )
    assert (got.model.path, got.model.type) == ("az://up/ep1/blue-model/abc/", "mlflow_model")
    assert got.request_settings.request_timeout_ms == 9000
    assert got.liveness_probe.period == 5
    assert got.code_configuration.code == "configmap:ep1-blue-code"
    assert got.provisioning_state == "Succeeded"
    dep["spec"]["resources"] = {"requests": {"cpu": "500m"}}
    assert isinstance(readback.online_deployment(dep), e.KubernetesOnlineDeployment)


def test_batch_resources_read_back() -> None:
    ep = {"kind": "BatchEndpoint", "metadata": {"name": "heart", "generation": 1},
          "spec": {"defaults": {"deploymentName": "xgb"}}, "status": {"scoringUri": "http://x"}}  # fmt: skip
    got = readback.batch_endpoint(ep)
    assert (got.name, got.defaults["deployment_name"], got.provisioning_state) == ("heart", "xgb", "Creating")
    dep = {"kind": "BatchDeployment", "metadata": {"name": "xgb", "generation": 1},
           "spec": {"endpointName": "heart", "model": {"path": "az://m/", "type": "mlflow"},
                    "settings": {"miniBatchSize": 5, "outputAction": "summaryOnly",
                                 "retrySettings": {"maxRetries": 2, "timeout": 60}}}}  # fmt: skip
    got_dep = readback.batch_deployment(dep)
    assert got_dep.settings.mini_batch_size == 5
    assert got_dep.settings.output_action == "summary_only"
    assert got_dep.settings.retry_settings.max_retries == 2
    assert got_dep.model.type == "mlflow_model"
