"""Batch kinds get honest status: references checked, kstatus-readable outcomes, never a silent Current.

BatchJob execution (Job, pods, progress) is in test_batch_jobs.py."""

from __future__ import annotations

from typing import Any

import pytest

from mlendpoints_dev import kstatus
from tests.integration.conftest import get, wait_for
from tests.integration.test_online import API

pytestmark = pytest.mark.usefixtures("operator")


def _kstatus(cluster: Any, kind: str, name: str, ns: str) -> str:
    return kstatus.compute(get(cluster, kind, name, ns) or {})


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
