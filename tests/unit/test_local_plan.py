"""``mlendpoints local``'s plan (files -> what runs) and the front's choice, without starting anything."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from mlendpoints.local import plan, state
from mlendpoints.local.front import Front

ENDPOINT = {
    "apiVersion": "mlendpoints.io/v1alpha1",
    "kind": "OnlineEndpoint",
    "metadata": {"name": "myep"},
    "spec": {"traffic": {"blue": 100}},
}


def deployment(name: str = "blue", endpoint: str = "myep", **spec: object) -> dict:
    body = {
        "endpointName": endpoint,
        "model": {"path": "https://example.com/model/", "type": "mlflow"},
    } | spec
    return {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "OnlineDeployment",
        "metadata": {"name": name},
        "spec": body,
    }


def read(tmp_path: Path, *docs: dict) -> plan.Plan:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return plan.read([str(path)], tmp_path / "state")


def test_a_uri_is_fetched_into_the_state_folder(tmp_path: Path) -> None:
    p = read(tmp_path, ENDPOINT, deployment())
    model = p.deployments[0].model
    assert model is not None
    assert model.uri == "https://example.com/model/"
    assert model.path == state.folder(tmp_path / "state", "myep") / "fetched" / "blue" / "model"


@pytest.mark.parametrize("uri", ["pvc://claim/model", "oci://registry/model:1"])
def test_a_mounted_model_cannot_run_locally(tmp_path: Path, uri: str) -> None:
    with pytest.raises(
        plan.PlanError, match=rf"OnlineDeployment blue: model.path: {uri}: a local process cannot read it"
    ):
        read(tmp_path, ENDPOINT, deployment(model={"path": uri, "type": "mlflow"}))


def test_exactly_one_endpoint(tmp_path: Path) -> None:
    other = ENDPOINT | {"metadata": {"name": "myep2"}}
    with pytest.raises(plan.PlanError, match=r"exactly one OnlineEndpoint \(found: myep, myep2\)"):
        read(tmp_path, ENDPOINT, other, deployment())
    with pytest.raises(plan.PlanError, match=r"found: none"):
        read(tmp_path, deployment())


def test_a_deployment_of_another_endpoint(tmp_path: Path) -> None:
    with pytest.raises(
        plan.PlanError, match="OnlineDeployment blue: endpointName other is not the endpoint in -f"
    ):
        read(tmp_path, ENDPOINT, deployment(endpoint="other"))


def test_traffic_to_a_deployment_not_in_the_files(tmp_path: Path) -> None:
    ep = ENDPOINT | {"spec": {"traffic": {"blue": 50, "green": 50}}}
    with pytest.raises(plan.PlanError, match="traffic: green is not a deployment in -f"):
        read(tmp_path, ep, deployment())


def test_the_traffic_override_is_validated_like_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump_all([ENDPOINT, deployment()]))
    with pytest.raises(plan.PlanError, match="traffic: percentages must sum to 0 or 100"):
        plan.read([str(path)], tmp_path, overrides={"traffic": {"blue": 30}, "mirrorTraffic": None})


def test_a_custom_container_is_refused(tmp_path: Path) -> None:
    custom = deployment(
        model=None,
        environment={
            "image": "nginx",
            "inferenceConfig": {
                "livenessRoute": {"port": 80, "path": "/"},
                "readinessRoute": {"port": 80, "path": "/"},
                "scoringRoute": {"port": 80, "path": "/"},
            },
        },
    )
    custom["spec"].pop("model")
    with pytest.raises(
        plan.PlanError, match=r"environment\.inferenceConfig: a custom container needs its image"
    ):
        read(tmp_path, ENDPOINT, custom)


def test_a_config_map_not_in_the_files(tmp_path: Path) -> None:
    dep = deployment(codeConfiguration={"configMap": {"name": "gone"}, "scoringScript": "score.py"})
    with pytest.raises(
        plan.PlanError, match=r"codeConfiguration\.configMap: ConfigMap gone is not in the -f files"
    ):
        read(tmp_path, ENDPOINT, dep)


def test_the_runtime_environment_is_the_pods_with_local_folders(tmp_path: Path) -> None:
    dep = deployment(
        environmentVariables={"GREETING": "a $(literal)", "MLENDPOINTS_MODEL_TYPE": "custom"},
    )
    env = read(tmp_path, ENDPOINT, dep).deployments[0].env
    assert env["AZUREML_MODEL_DIR"] == str(
        state.folder(tmp_path / "state", "myep") / "fetched" / "blue" / "model"
    )
    assert env["GREETING"] == "a $(literal)"  # no Kubernetes escaping
    assert env["MLENDPOINTS_MODEL_TYPE"] == "mlflow"  # the contract wins over a user variable, as in a pod
    assert env["MLENDPOINTS_MODEL_NAME"] == "blue"
    assert env["MLENDPOINTS_HOST"] == "127.0.0.1"
    assert "HOME" not in env  # the user's own, not the pod's /tmp
    assert "MLENDPOINTS_PORT" not in env  # chosen at start


def _front(traffic: dict[str, int]) -> Front:
    deps = {n: state.LocalDeployment(name=n, port=1, log="x", timeout_s=1) for n in ("blue", "green")}
    ep = state.LocalEndpoint(
        name="ep",
        host="127.0.0.1",
        port=1,
        auth_mode="none",
        traffic=traffic,
        mirror_traffic={},
        deployments=deps,
    )
    return Front(ep, None, rng=random.Random(7))


def test_the_front_with_no_traffic_asks_for_a_pin() -> None:
    front = _front({"blue": 0, "green": 0})
    name, why = front.choose(None)
    assert name is None
    assert "pin one with the azureml-model-deployment header" in why
    assert front.choose("green") == ("green", "")


def test_the_front_never_draws_a_0_percent_deployment() -> None:
    front = _front({"blue": 100, "green": 0})
    assert {front.choose(None)[0] for _ in range(500)} == {"blue"}
