"""The models validate and default the way Azure ML does, and reject what the CRDs reject."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from mlendpoints.api import v1alpha1 as api
from mlendpoints.api.v1alpha1 import batch, online

ROOT = Path(__file__).resolve().parents[2]
KINDS = {k.crd.kind: k for k in api.KINDS}
CASES: list[dict[str, Any]] = yaml.safe_load((ROOT / "tests/data/invalid_manifests.yaml").read_text())


def _model(manifest: dict[str, Any]) -> Any:
    body = {"apiVersion": api.API_VERSION, **manifest}
    return KINDS[body["kind"]].model_validate(body)


def test_online_endpoint_defaults_match_azure_ml() -> None:
    ep = _model({"kind": "OnlineEndpoint", "metadata": {"name": "ep1"}, "spec": {}})
    assert ep.spec.target == "kubernetes"
    assert ep.spec.auth_mode == "key"
    assert ep.spec.traffic == {}
    assert ep.spec.deletion_policy == "Delete"
    assert ep.spec.routing.type == "auto"


def test_online_deployment_defaults_match_azure_ml() -> None:
    dep = _model(
        {
            "kind": "OnlineDeployment",
            "metadata": {"name": "blue"},
            "spec": {"endpointName": "ep1", "model": {"path": "https://m/x", "type": "mlflow"}},
        }
    )
    spec = dep.spec
    assert spec.instance_count == 1
    assert (
        spec.request_settings.request_timeout_ms,
        spec.request_settings.max_concurrent_requests_per_instance,
    ) == (
        5000,
        1,
    )
    assert spec.request_settings.max_queue_wait_ms == 500
    for probe in (spec.liveness_probe, spec.readiness_probe):
        assert (probe.initial_delay, probe.period, probe.timeout) == (10, 10, 2)
        assert (probe.success_threshold, probe.failure_threshold) == (1, 30)
    assert spec.scale_settings.type == "default"
    assert spec.scale_settings.target_utilization_percentage == 70
    assert spec.model is not None
    assert spec.model.type == "mlflow"


def test_batch_settings_defaults_match_azure_ml() -> None:
    s = batch.BatchSettings.model_validate({"miniBatchSize": 10})
    assert s.max_concurrency_per_instance == 1
    assert s.output_action == "appendRow"
    assert s.output_file_name == "predictions.csv"
    assert (s.retry_settings.max_retries, s.retry_settings.timeout) == (3, 30)
    assert s.error_threshold == -1
    assert s.logging_level == "info"


def test_mini_batch_size_is_required() -> None:
    with pytest.raises(ValidationError, match="miniBatchSize"):
        batch.BatchSettings.model_validate({})


def test_yaml_round_trip_uses_camel_case_and_omits_unset() -> None:
    spec = online.OnlineEndpointSpec.model_validate({"traffic": {"blue": 100}})
    out = spec.to_dict()
    assert out["authMode"] == "key"
    assert out["traffic"] == {"blue": 100}
    assert "azureml" not in out


def test_gpu_resources_use_the_kubernetes_resource_name() -> None:
    res = api.InstanceType.model_validate(
        {
            "kind": "InstanceType",
            "metadata": {"name": "gpu"},
            "spec": {"resources": {"limits": {"nvidia.com/gpu": 2}}},
        }
    )
    assert res.spec.resources is not None
    assert res.spec.resources.limits is not None
    assert res.spec.resources.limits.gpu == 2
    assert res.spec.to_dict()["resources"]["limits"] == {"nvidia.com/gpu": 2}


def test_every_example_validates() -> None:
    seen = set()
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in KINDS:
                _model(doc)
                seen.add(doc["kind"])
    assert seen == set(KINDS), f"examples miss kinds: {set(KINDS) - seen}"


def test_blue_green_example_is_ninety_ten() -> None:
    docs = list(yaml.safe_load_all((ROOT / "examples/online/blue-green.yaml").read_text()))
    ep = next(d for d in docs if d["kind"] == "OnlineEndpoint")
    assert _model(ep).spec.traffic == {"blue": 90, "green": 10}


@pytest.mark.parametrize("case", [c for c in CASES if c.get("offline", True)], ids=lambda c: c["case"])
def test_invalid_manifest_is_rejected_offline(case: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as err:
        _model(case["manifest"])
    # The error must point at the same field the API server names: its last path segment
    # (e.g. "traffic" for spec.traffic.blue) appears in a location or a message.
    leaf = case["expect"].split(".")[-1].split("[")[0]
    text = " ".join(".".join(map(str, e["loc"])) + " " + e["msg"] for e in err.value.errors())
    assert leaf in text, text


def test_there_are_at_least_thirty_invalid_cases() -> None:
    assert len(CASES) >= 30
    assert len({c["case"] for c in CASES}) == len(CASES)
