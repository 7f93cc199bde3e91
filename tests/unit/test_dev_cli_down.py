"""``mlendpoints dev cluster down --keep-logs`` keeps every log and nothing else; the CLI survives a closed pipe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlendpoints_dev.cli import main


def _state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    for rel, text in {
        "logs/kube-apiserver.log": "apiserver started\n",
        "logs/operator.log": '{"message": "reconciled"}\n',
        "audit.log": '{"verb": "create"}\n',
        "nodes/pn-0/pods/ns_score-abc/main/0.log": "init() done\n",
        "etcd/member/snap/db": "not a log",
        "pki/ca.key": "secret",
    }.items():
        (state / rel).parent.mkdir(parents=True, exist_ok=True)
        (state / rel).write_text(text)
    (state / "state.json").write_text("{}")
    return state


def test_keep_logs_copies_every_log_then_deletes_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    state = _state(tmp_path)
    assert main(["cluster", "down", "--name", "t1", "--state-dir", str(state), "--keep-logs"]) == 0
    out = capsys.readouterr().out
    kept = Path(out.split("logs kept in ", 1)[1].splitlines()[0])
    assert kept.parent == tmp_path / "cache" / "mlendpoints" / "logs"
    assert kept.name.startswith("t1-")
    copied = sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file())
    assert copied == [
        "audit.log",
        "logs/kube-apiserver.log",
        "logs/operator.log",
        "nodes/pn-0/pods/ns_score-abc/main/0.log",
    ]
    assert (kept / "nodes/pn-0/pods/ns_score-abc/main/0.log").read_text() == "init() done\n"
    assert not state.exists()


def test_down_without_keep_logs_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    state = _state(tmp_path)
    assert main(["cluster", "down", "--name", "t2", "--state-dir", str(state)]) == 0
    assert not state.exists()
    assert not (tmp_path / "cache" / "mlendpoints" / "logs").exists()


@pytest.mark.parametrize(
    "argv",
    [["completion", "bash"], ["online-endpoint", "--help"], ["dev", "cluster", "status", "--name", "none"]],
)
def test_a_closed_stdout_pipe_is_no_traceback(argv: list[str], tmp_path: Path) -> None:
    """``mlendpoints … | head`` : the reader went away before the first write."""
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlendpoints", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err, err
    assert "BrokenPipeError" not in err, err


def test_operator_stop_without_one_running_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["operator", "stop", "--name", "t3", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "no operator was running"


def test_operator_start_needs_a_running_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["operator", "start", "--name", "t4", "--state-dir", str(tmp_path)]) == 1
    assert "cluster 't4' is not running (mlendpoints dev cluster up --name t4)" in capsys.readouterr().err


def test_dev_env_maps_every_cpu_vm_size_to_the_process_node_instance_type() -> None:
    """On the dev cluster the CLI's and the SDK's Azure sizes go where pods really run (not kwok)."""
    import shlex

    from mlendpoints.azcli import manifests
    from mlendpoints.convert.sizes import SIZES
    from mlendpoints_dev.cli import PROCESS_INSTANCE_TYPE, instance_type_lines

    (export,) = [line for line in instance_type_lines() if line.startswith("export ")]
    name, _, value = export.removeprefix("export ").partition("=")
    assert name == manifests.ENV_DEFAULTS["instance_types"]
    mapping = manifests.parse_mappings(tuple(shlex.split(value)[0].split()), name)
    assert mapping == {size: PROCESS_INSTANCE_TYPE for size, shape in SIZES.items() if shape.gpus == 0}
    assert "Standard_NC6s_v3" not in mapping


def test_the_process_node_instance_type_is_the_examples() -> None:
    import yaml

    from mlendpoints_dev.cli import PROCESS_INSTANCE_TYPE

    docs = yaml.safe_load_all((Path(__file__).parents[2] / "examples/compute/instancetypes.yaml").read_text())
    (spec,) = [d["spec"] for d in docs if d["metadata"]["name"] == PROCESS_INSTANCE_TYPE]
    assert spec["nodeSelector"]["mlendpoints.io/node-kind"] == "process"


def test_a_command_whose_extra_is_missing_names_the_extra(tmp_path: Path) -> None:
    """``pip install 'mlendpoints[local]'`` only: a cluster verb says what to install, no traceback."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'kubernetes':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "mlendpoints", "online-endpoint", "list"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "mlendpoints online-endpoint list: needs the 'kubernetes' package, from the 'operator' extra: "
        "pip install 'mlendpoints[operator]'"
    )
