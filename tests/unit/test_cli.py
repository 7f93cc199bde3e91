"""The ``mlendpoints`` root command and the az-ml verbs' offline paths (no cluster)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from mlendpoints import cli

DATA = Path(__file__).resolve().parents[1] / "data" / "azure"


def test_no_command_prints_help_and_exits_2() -> None:
    res = CliRunner().invoke(cli.root, [])
    assert res.exit_code == 2
    assert "online-endpoint" in res.output
    assert "Usage: mlendpoints" in res.output


def test_main_returns_the_exit_status() -> None:
    assert cli.main(["--version"]) == 0
    assert cli.main(["no-such-command"]) == 2


def test_argparse_subcommands_get_their_arguments_unchanged() -> None:
    # `render --help` is render's own argparse help, not click's
    res = subprocess.run(
        [sys.executable, "-m", "mlendpoints", "render", "--help"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0
    assert res.stdout.startswith("usage: mlendpoints render")


def test_completion_scripts() -> None:
    res = CliRunner().invoke(cli.root, ["completion", "bash"])
    assert res.exit_code == 0
    assert "_MLENDPOINTS_COMPLETE=bash_complete" in res.output


def test_completion_lists_the_verbs() -> None:
    env = {
        "_MLENDPOINTS_COMPLETE": "bash_complete",
        "COMP_WORDS": "mlendpoints online-endpoint re",
        "COMP_CWORD": "2",
    }
    res = CliRunner().invoke(cli.root, [], env=env, prog_name="mlendpoints")
    assert "regenerate-keys" in res.output


def test_convert_writes_one_file_per_manifest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli.root,
        [
            "convert",
            "-f",
            str(DATA / "kubernetes/endpoint.yml"),
            "-f",
            str(DATA / "kubernetes/blue-deployment.yml"),
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "onlinedeployment-blue.yaml",
        "onlineendpoint-my-k8s-endpoint.yaml",
    ]
    dep = yaml.safe_load((out / "onlinedeployment-blue.yaml").read_text())
    assert dep["apiVersion"] == "mlendpoints.io/v1alpha1"
    assert dep["spec"]["endpointName"] == "my-k8s-endpoint"
    assert "warning: " in res.stderr
    assert "compute: ignored" in res.stderr


def test_convert_error_is_one_line_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "d.yml"
    bad.write_text("name: blue\nendpoint_name: ep1\nmodel: {path: ./model}\n")
    res = CliRunner().invoke(cli.root, ["convert", "-f", str(bad)])
    assert res.exit_code == 1
    assert res.stderr.startswith(
        f"Error: {bad}#1: model of OnlineDeployment blue: ./model: no such file or directory"
    )


def test_convert_refuses_input_without_azure_yaml() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "online" / "blue-green.yaml"
    res = CliRunner().invoke(cli.root, ["convert", "-f", str(examples)])
    assert res.exit_code == 1
    assert "no Azure ML YAML" in res.stderr


def test_create_dry_run_prints_the_converted_manifests() -> None:
    res = CliRunner().invoke(
        cli.root,
        ["online-deployment", "create", "-f", str(DATA / "managed/blue-deployment.yml"), "--dry-run",
         "--model-store", "az://models/x", "--store-secret", "creds", "--instance-type", "Standard_DS3_v2=cpu-small"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    kinds = [d["kind"] for d in yaml.safe_load_all(res.stdout)]
    assert kinds == ["ConfigMap", "OnlineDeployment"]
    assert "would be uploaded to az://models/x/my-endpoint/blue-model/" in res.stderr


def test_create_without_the_kind_named(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli.root,
        ["online-endpoint", "create", "-f", str(DATA / "kubernetes/blue-deployment.yml"), "--dry-run"],
    )
    assert res.exit_code == 1
    assert "no OnlineEndpoint" in res.stderr


def test_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1", "kind": "Config", "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )  # fmt: skip
    res = CliRunner().invoke(cli.root, ["online-endpoint", "list"], env={"KUBECONFIG": str(kubeconfig)})
    assert res.exit_code == 1
    assert res.stderr.startswith("Error: connecting to the cluster: the cluster is not reachable:")
    assert len(res.stderr.strip().splitlines()) == 1


def test_docs_list_every_vm_size_of_the_table() -> None:
    from mlendpoints.convert import sizes

    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for size, vm in sizes.SIZES.items():
        assert f"| `{size}` | `{sizes.instance_type_name(size)}` | {vm.cpus} | {vm.memory_gib:g} GiB |" in doc


def test_a_closed_stdout_is_no_traceback() -> None:
    """`mlendpoints … | head`: the reader is gone before the command writes (argparse and click commands)."""
    import os

    examples = str(Path(__file__).resolve().parents[2] / "examples")
    for args in (["render", "-R", "-f", examples], ["convert", "-f", str(DATA / "kubernetes/endpoint.yml")]):
        read, write = os.pipe()
        os.close(read)
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlendpoints", *args], stdout=write, stderr=subprocess.PIPE, text=True
        )
        os.close(write)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1
        assert "Traceback" not in err
        assert "BrokenPipe" not in err


def test_dev_without_the_dev_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local control plane is the separate dev package (not in the wheel or images)."""
    for name in [m for m in sys.modules if m == "mlendpoints_dev" or m.startswith("mlendpoints_dev.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlendpoints_dev", None)  # import fails as if not installed
    res = CliRunner().invoke(cli.root, ["dev", "cluster", "status"])
    assert res.exit_code == 2
    assert "mlendpoints-dev" in res.output
    assert "not part of the mlendpoints package" in res.output


def test_the_wheel_has_no_dev_tooling(tmp_path: Path) -> None:
    """``pip wheel .`` builds the product without mlendpoints_dev (the node agent, the dev cluster)."""
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(root),
        ],
        check=True,
        capture_output=True,
    )
    import zipfile

    (wheel,) = tmp_path.glob("mlendpoints-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mlendpoints/cli.py" in names
    assert not [n for n in names if "mlendpoints_dev" in n or "devcluster" in n or "nodeagent" in n]


def test_get_logs_names_the_init_container_a_pod_waits_on() -> None:
    from mlendpoints.azcli.ops import _unfinished_init

    def pod(*states: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": {
                "initContainerStatuses": [{"name": f"init{i}", "state": s} for i, s in enumerate(states)]
            }
        }

    ok = {"terminated": {"exitCode": 0}}
    assert _unfinished_init(pod(ok, ok)) is None
    assert _unfinished_init({"status": {}}) is None
    assert _unfinished_init(pod(ok, {"waiting": {"reason": "CrashLoopBackOff"}})) == (
        "init1",
        "waiting: CrashLoopBackOff",
    )
    assert _unfinished_init(pod({"terminated": {"exitCode": 2, "reason": "Error"}})) == (
        "init0",
        "terminated: exit 2 Error",
    )
    assert _unfinished_init(pod({"running": {}})) == ("init0", "running")


def test_a_batch_job_names_the_store_secret_for_object_store_inputs_and_output_only() -> None:
    from mlendpoints.batchctl import job_manifest

    spec = job_manifest(
        "ep1",
        {
            "data": {"type": "uri_folder", "path": "az://c/in/"},
            "claim": {"type": "uri_folder", "path": "pvc://c/x"},
        },
        namespace="ns",
        output="az://c/out/",
        credentials_secret="azurite-credentials",
    )["spec"]
    assert spec["inputs"]["data"]["credentialsSecretRef"] == {"name": "azurite-credentials"}
    assert "credentialsSecretRef" not in spec["inputs"]["claim"]
    assert spec["output"] == {"path": "az://c/out/", "credentialsSecretRef": {"name": "azurite-credentials"}}
    plain = job_manifest("ep1", {"data": {"type": "uri_folder", "path": "az://c/in/"}}, namespace="ns")[
        "spec"
    ]
    assert plain["inputs"] == {"data": {"type": "uri_folder", "path": "az://c/in/"}}
