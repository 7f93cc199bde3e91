"""Batch kinds get honest status: references checked, kstatus-readable outcomes, never a silent Current."""

from __future__ import annotations

from typing import Any

import pytest

from mlendpoints.status import kstatus
from tests.integration.conftest import get, wait_for
from tests.integration.test_online import API

pytestmark = pytest.mark.usefixtures("operator")


def _kstatus(cluster: Any, kind: str, name: str, ns: str) -> str:
    return kstatus.compute(get(cluster, kind, name, ns) or {})


def test_batch_resources_report_references_and_job_execution_state(cluster: Any, namespace: str) -> None:
    ns = namespace
    dep = {
        "apiVersion": API,
        "kind": "BatchDeployment",
        "metadata": {"name": "scorer", "namespace": ns},
        "spec": {
            "endpointName": "bep1",
            "model": {"path": "pvc://models/m/", "type": "mlflow"},
            "settings": {"miniBatchSize": 5},
        },
    }
    ep = {
        "apiVersion": API,
        "kind": "BatchEndpoint",
        "metadata": {"name": "bep1", "namespace": ns},
        "spec": {"defaults": {"deploymentName": "scorer"}},
    }
    job = {
        "apiVersion": API,
        "kind": "BatchJob",
        "metadata": {"name": "job1", "namespace": ns},
        "spec": {
            "endpointName": "bep1",
            "inputs": {"data": {"path": "pvc://data/in/"}},
            "output": {"path": "pvc://data/out/"},
        },
    }
    cluster.apply(job)
    # The endpoint does not exist yet: the job is in progress, not Current.
    wait_for(
        lambda: (
            _kstatus(cluster, "bjob", "job1", ns) == kstatus.IN_PROGRESS
            and (get(cluster, "bjob", "job1", ns) or {}).get("status", {}).get("phase") == "Pending"
        ),
        what="job pending",
    )
    cluster.apply([ep, dep])
    wait_for(lambda: _kstatus(cluster, "bep", "bep1", ns) == kstatus.CURRENT, what="batch endpoint current")
    wait_for(
        lambda: _kstatus(cluster, "bdep", "scorer", ns) == kstatus.CURRENT, what="batch deployment current"
    )
    wait_for(
        lambda: _kstatus(cluster, "bjob", "job1", ns) == kstatus.FAILED, what="job reported as not executable"
    )
    body = get(cluster, "bjob", "job1", ns)
    assert body is not None
    assert body["status"]["deploymentName"] == "scorer"
    stalled = next(c for c in body["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "BatchExecutionUnavailable"


def test_batch_deployment_with_unknown_instance_type_is_stalled(cluster: Any, namespace: str) -> None:
    ns = namespace
    cluster.apply(
        {
            "apiVersion": API,
            "kind": "BatchDeployment",
            "metadata": {"name": "scorer", "namespace": ns},
            "spec": {
                "endpointName": "bep1",
                "instanceType": "no-such-type",
                "model": {"path": "pvc://m/x", "type": "mlflow"},
                "settings": {"miniBatchSize": 5},
            },
        }
    )
    wait_for(
        lambda: _kstatus(cluster, "bdep", "scorer", ns) == kstatus.FAILED, what="batch deployment stalled"
    )


def test_default_deployment_of_another_endpoint_is_reported_whatever_the_apply_order(
    cluster: Any, namespace: str
) -> None:
    ns = namespace
    wrong = {
        "apiVersion": API,
        "kind": "BatchEndpoint",
        "metadata": {"name": "bep2", "namespace": ns},
        "spec": {"defaults": {"deploymentName": "scorer"}},
    }
    cluster.apply(wrong)
    wait_for(
        lambda: _kstatus(cluster, "bep", "bep2", ns) == kstatus.IN_PROGRESS, what="waiting for its deployment"
    )
    # The deployment arrives later and belongs to another endpoint: bep2 must notice.
    cluster.apply(
        {
            "apiVersion": API,
            "kind": "BatchDeployment",
            "metadata": {"name": "scorer", "namespace": ns},
            "spec": {
                "endpointName": "bep1",
                "model": {"path": "pvc://m/x", "type": "mlflow"},
                "settings": {"miniBatchSize": 5},
            },
        }
    )
    wait_for(lambda: _kstatus(cluster, "bep", "bep2", ns) == kstatus.FAILED, what="EndpointMismatch")
