"""``mlendpoints render``: the examples render; invalid input exits 2 naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlendpoints.render import cli

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
INSTANCE_TYPES = ROOT / "examples/compute/instancetypes.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load((ROOT / "tests/data/invalid_manifests.yaml").read_text())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, [d for d in yaml.safe_load_all(out) if d is not None], err


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_renders(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, objs, err = run(capsys, "-f", str(path), "-f", str(INSTANCE_TYPES))
    assert code == 0, err
    for obj in objs:
        assert obj["metadata"]["namespace"] == "default"
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mlendpoints"
    assert "error" not in err


def test_all_examples_together(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a for p in EXAMPLES for a in ("-f", str(p))]
    code, objs, _ = run(capsys, *argv, "--assume-not-ready", "--no-gateway-api", "-n", "team-a")
    assert code == 0
    kinds = {o["kind"] for o in objs}
    assert {"Deployment", "Service", "Secret", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert all(o["metadata"]["namespace"] == "team-a" for o in objs)


def test_blue_green_example_objects(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "examples/online/blue-green.yaml"
    code, objs, err = run(capsys, "-f", str(path), "-f", str(INSTANCE_TYPES), "--default-gateway", "infra/gw")
    assert code == 0, err
    route = next(o for o in objs if o["kind"] == "HTTPRoute")
    default = next(r for r in route["spec"]["rules"] if r["name"] == "default")
    assert {b["name"]: b["weight"] for b in default["backendRefs"]} == {
        "diabetes-blue": 90,
        "diabetes-green": 10,
    }
    secret = next(o for o in objs if o["kind"] == "Secret")
    assert set(secret["stringData"].values()) == {cli.KEY_PLACEHOLDER}  # never a real key
    deps = [o for o in objs if o["kind"] == "Deployment"]
    hashes = {d["spec"]["template"]["metadata"]["annotations"]["mlendpoints.io/code-hash"] for d in deps}
    assert len(hashes) == 1  # both use the diabetes-score ConfigMap from the same file
    assert next(d for d in deps if d["metadata"]["name"] == "diabetes-blue")["spec"]["replicas"] == 2


def test_assume_not_ready_gates_traffic(capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "examples/online/mlflow-autoscale.yaml"
    code, objs, _ = run(capsys, "-f", str(path), "--assume-not-ready")
    assert code == 0
    route = next(o for o in objs if o["kind"] == "HTTPRoute")
    default = next(r for r in route["spec"]["rules"] if r["name"] == "default")
    assert default["backendRefs"] == [{"group": "", "kind": "Service", "name": "iris", "port": 80}]


def test_code_hash_follows_the_configmap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "examples/online/blue-green.yaml").read_text()
    changed = tmp_path / "changed.yaml"
    changed.write_text(text.replace("return model.predict(data).tolist()", "return model.predict(data)"))

    def code_hash(path: Path) -> str:
        _, objs, _ = run(capsys, "-f", str(path))
        dep = next(o for o in objs if o["kind"] == "Deployment")
        return str(dep["spec"]["template"]["metadata"]["annotations"]["mlendpoints.io/code-hash"])

    assert code_hash(ROOT / "examples/online/blue-green.yaml") != code_hash(changed)


def test_strict_turns_problems_into_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "split.yaml"  # a 90/10 split with routing none: nothing can split it
    path.write_text(
        "apiVersion: mlendpoints.io/v1alpha1\nkind: OnlineEndpoint\nmetadata: {name: split}\n"
        "spec: {traffic: {blue: 90, green: 10}, routing: {type: none}}\n"
    )
    code, _, err = run(capsys, "-f", str(path))
    assert code == 0
    assert "would be Stalled" in err
    code, _, err = run(capsys, "-f", str(path), "--strict")
    assert code == 1
    assert "would be Stalled" in err
    assert "cannot split" in err


def test_deployment_without_its_endpoint_renders_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "dep.yaml"
    f.write_text(
        "apiVersion: mlendpoints.io/v1alpha1\nkind: OnlineDeployment\nmetadata: {name: solo}\n"
        "spec: {endpointName: elsewhere, model: {path: 'pvc://m/x', type: mlflow}}\n"
    )
    code, objs, err = run(capsys, "-f", str(f))
    assert code == 0
    assert [o["kind"] for o in objs] == ["Deployment", "Service", "NetworkPolicy"]
    assert "OnlineEndpoint elsewhere is not in the input" in err


def test_azureml_model_on_kubernetes_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "dep.yaml"
    f.write_text(
        "apiVersion: mlendpoints.io/v1alpha1\nkind: OnlineDeployment\nmetadata: {name: amlmodel}\n"
        "spec: {endpointName: ep1, model: {path: 'azureml:diabetes:3', type: mlflow}}\n"
    )
    code, _, err = run(capsys, "-f", str(f))
    assert code == 2
    assert "model.path" in err


def test_unparsable_yaml_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("kind: [unclosed\n")
    code, _, err = run(capsys, "-f", str(f))
    assert code == 2
    assert "bad.yaml" in err


@pytest.mark.parametrize("case", [c for c in CASES if c.get("offline", True)], ids=lambda c: c["case"])
def test_invalid_manifest_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: dict[str, Any]
) -> None:
    f = tmp_path / "invalid.yaml"
    f.write_text(yaml.safe_dump({"apiVersion": "mlendpoints.io/v1alpha1", **case["manifest"]}))
    code, objs, err = run(capsys, "-f", str(f))
    assert code == 2
    assert objs == []
    # The path up to the field, and the field itself (model-level messages name it in the text).
    parent, _, leaf = case["expect"].rpartition(".")
    assert parent in err, err
    assert leaf.split("[")[0] in err, err
    assert err.count("\n") == 1  # one line


def test_azure_cli_yaml_exits_2_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "endpoint.yml"
    f.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
        "name: my-endpoint\nauth_mode: key\n"
    )
    code, objs, err = run(capsys, "-f", str(f))
    assert code == 2
    assert objs == []
    assert f"{f}#1" in err
    assert "not a Kubernetes object" in err
    assert "Azure ML CLI YAML" in err


def test_file_without_a_known_resource_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "gw.yaml"
    f.write_text("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    code, _, err = run(capsys, "-f", str(f), "-f", str(empty))
    assert code == 2
    assert f"{f} holds gateway.networking.k8s.io/v1 Gateway" in err
    assert f"{empty} holds no documents" in err


def test_directory_and_recursive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "ep.yaml").write_text(
        "apiVersion: mlendpoints.io/v1alpha1\nkind: OnlineEndpoint\nmetadata: {name: ep1}\nspec: {}\n"
    )
    (tmp_path / "README.md").write_text("not read")
    (tmp_path / "nested" / "dep.yml").write_text(
        "apiVersion: mlendpoints.io/v1alpha1\nkind: OnlineDeployment\nmetadata: {name: dep1}\n"
        "spec: {endpointName: ep1, model: {path: 'pvc://m/x', type: mlflow}}\n"
    )
    code, objs, err = run(capsys, "-f", str(tmp_path))
    assert code == 0, err
    assert "Deployment" not in {o["kind"] for o in objs}  # nested/ is not read without -R
    (tmp_path / "nested" / "request.json").write_text('{"data": [[1, 2]]}')
    code, objs, err = run(capsys, "-f", str(tmp_path), "-R")
    assert code == 0, err
    assert "Deployment" in {o["kind"] for o in objs}
    # other files in the folder are skipped with a note that says what they are
    assert (
        "request.json#1: skipping: not a Kubernetes object: a mapping without apiVersion/kind (keys: data)"
        in err
    )
    code, _, err = run(capsys, "-f", str(tmp_path / "nested" / "missing.yaml"))
    assert code == 2
    assert "no such file or directory" in err
    (tmp_path / "void").mkdir()
    code, _, err = run(capsys, "-f", str(tmp_path / "void"))
    assert code == 2
    assert "holds no .yaml" in err
