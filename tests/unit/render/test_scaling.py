"""HorizontalPodAutoscaler and PodDisruptionBudget (render.autoscaler, render.pdb)."""

from __future__ import annotations

import pytest

from mlendpoints.render import RenderError
from tests.unit.render.builders import children, deployment, instance_type

HPA = {"type": "targetUtilization", "minInstances": 2, "maxInstances": 10, "targetUtilizationPercentage": 60}


def test_no_hpa_for_scale_type_default() -> None:
    assert "HorizontalPodAutoscaler" not in children(deployment(instanceCount=3))


def test_hpa_fields() -> None:
    hpa = children(deployment(scaleSettings=HPA))["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ep1-blue"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
        }
    ]


def test_hpa_behavior_is_passed_through_verbatim() -> None:
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 600,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
            "selectPolicy": "Min",
        },
        "scaleUp": {"tolerance": "0.05", "stabilizationWindowSeconds": 0},
    }
    hpa = children(deployment(scaleSettings=HPA | {"behavior": behavior}))["HorizontalPodAutoscaler"]
    assert hpa["spec"]["behavior"] == behavior


def test_hpa_behavior_derived_from_polling_interval() -> None:
    hpa = children(deployment(scaleSettings=HPA | {"pollingInterval": 30}))["HorizontalPodAutoscaler"]
    behavior = hpa["spec"]["behavior"]
    assert {p["periodSeconds"] for p in behavior["scaleUp"]["policies"]} == {30}
    assert {p["periodSeconds"] for p in behavior["scaleDown"]["policies"]} == {30}
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_polling_interval_is_capped_at_the_api_maximum() -> None:
    hpa = children(deployment(scaleSettings=HPA | {"pollingInterval": 3600}))["HorizontalPodAutoscaler"]
    assert {p["periodSeconds"] for p in hpa["spec"]["behavior"]["scaleUp"]["policies"]} == {1800}


def test_hpa_cannot_scale_to_zero() -> None:
    with pytest.raises(RenderError, match=r"scaleSettings\.minInstances"):
        children(deployment(scaleSettings=HPA | {"minInstances": 0}))


@pytest.mark.parametrize(("count", "has_pdb"), [(0, False), (1, False), (2, True), (5, True)])
def test_pdb_only_with_more_than_one_replica(count: int, has_pdb: bool) -> None:
    objs = children(deployment(instanceCount=count))
    assert ("PodDisruptionBudget" in objs) is has_pdb
    if has_pdb:
        spec = objs["PodDisruptionBudget"]["spec"]
        assert spec["minAvailable"] == count - 1
        assert "maxUnavailable" not in spec
        assert spec["selector"] == objs["Deployment"]["spec"]["selector"]
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_pdb_under_hpa_follows_min_instances() -> None:
    pdb = children(deployment(scaleSettings=HPA))["PodDisruptionBudget"]
    assert pdb["spec"]["maxUnavailable"] == 1  # one at a time, however far the HPA scaled up
    assert "minAvailable" not in pdb["spec"]
    one = HPA | {"minInstances": 1}
    assert "PodDisruptionBudget" not in children(deployment(scaleSettings=one))


def test_hpa_needs_a_cpu_request() -> None:
    compute = instance_type(resources={"limits": {"memory": "1Gi"}})
    with pytest.raises(RenderError, match="CPU request"):
        children(deployment(scaleSettings=HPA), compute=compute)
