"""Local endpoints (``mlendpoints local``) as a user runs them: real processes, no cluster.

Inputs: the Azure ML YAML sample in ``examples/local`` (two deployments at 90/10, a scoring script
and a model folder used in place) and small variants of it written per test. Outputs: what the CLI
prints and exits with, what the front answers over HTTP, and which processes are left.

``local_dir`` is a state folder per test module (``MLENDPOINTS_LOCAL_DIR`` for the CLI). Every
endpoint a test starts is stopped by ``local down`` at teardown, and its pids are checked gone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "local"
SAMPLE_FILES = [SAMPLE / "endpoint.yml", SAMPLE / "blue.yml", SAMPLE / "green.yml"]
#: ``-f`` for each sample file
SAMPLE_ARGS = [arg for f in SAMPLE_FILES for arg in ("-f", str(f))]
RUNTIME_SCRIPTS = REPO / "tests" / "runtime" / "scripts"


def cli(*args: str | Path, state_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``mlendpoints ARGS`` in a new process with ``state_dir`` as the local state folder."""
    env = dict(os.environ, MLENDPOINTS_LOCAL_DIR=str(state_dir))
    return subprocess.run(
        [sys.executable, "-m", "mlendpoints", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie), read from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def pids_of(state: dict) -> list[int]:
    return [state["pid"], *(d["pid"] for d in state["deployments"].values())]


def wait_gone(pids: list[int], timeout: float = 15) -> list[int]:
    """The pids still running after ``timeout`` seconds (empty when all ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(running(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if running(p)]


@pytest.fixture(scope="module")
def local_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-state")


@pytest.fixture(scope="module")
def show(local_dir: Path) -> Callable[[str], dict]:
    def _show(name: str) -> dict:
        result = cli("local", "show", "-n", name, state_dir=local_dir)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return _show


@pytest.fixture(scope="module")
def sample(local_dir: Path, show: Callable[[str], dict]) -> Iterator[dict]:
    """The sample endpoint started with ``local up --detach``; yields ``local show``'s JSON."""
    result = cli("local", "up", "--detach", *SAMPLE_ARGS, state_dir=local_dir)
    assert result.returncode == 0, result.stderr
    state = show("local-demo")
    yield state
    cli("local", "down", "-n", "local-demo", state_dir=local_dir)
    assert wait_gone(pids_of(state)) == []
