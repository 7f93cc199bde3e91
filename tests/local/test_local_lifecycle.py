"""Starting and stopping local endpoints: foreground with Ctrl-C, ``local down``, and failed starts."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.local.conftest import RUNTIME_SCRIPTS, SAMPLE, SAMPLE_ARGS, cli, pids_of, running, wait_gone

pytestmark = pytest.mark.timeout(300)


def processes_using(state_dir: Path) -> list[int]:
    """Pids whose environment names ``state_dir`` as MLENDPOINTS_LOCAL_DIR (what a start left running)."""
    marker = f"MLENDPOINTS_LOCAL_DIR={state_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ and running(int(proc.name)):
            found.append(int(proc.name))
    return found


def deployment_yaml(tmp_path: Path, name: str, *, model: str, code: Path, script: str = "score.py") -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        f"name: {name}\nendpoint_name: local-demo\nmodel:\n  path: {model}\n"
        f"code_configuration:\n  code: {code}\n  scoring_script: {script}\n"
        f"environment_variables:\n  COLOR: {name}\n"
    )
    return path


def test_a_dead_runtime_is_502_and_down_leaves_no_process(tmp_path: Path) -> None:
    up = cli("local", "up", "--detach", *SAMPLE_ARGS, state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    state = json.loads(cli("local", "show", "-n", "local-demo", state_dir=tmp_path).stdout)
    assert all(running(p) for p in pids_of(state))
    green = state["deployments"]["green"]["pid"]
    os.killpg(green, signal.SIGKILL)
    assert wait_gone([green]) == []
    answer = httpx.post(
        state["scoringUri"],
        content=(SAMPLE / "request.json").read_bytes(),
        headers={"Authorization": f"Bearer {state['primaryKey']}", "azureml-model-deployment": "green"},
        timeout=30,
    )
    assert answer.status_code == 502
    assert "deployment green did not answer" in answer.json()["error"]
    assert "exited: green" in cli("local", "list", state_dir=tmp_path).stdout
    again = cli("local", "up", "--detach", *SAMPLE_ARGS, state_dir=tmp_path)
    assert again.returncode == 1
    assert "running already" in again.stderr
    down = cli("local", "down", "-n", "local-demo", state_dir=tmp_path)
    assert down.returncode == 0, down.stderr
    assert wait_gone(pids_of(state)) == []
    assert processes_using(tmp_path) == []
    assert "local-demo" not in cli("local", "list", state_dir=tmp_path).stdout
    gone = cli(
        "online-endpoint",
        "invoke",
        "--local",
        "-n",
        "local-demo",
        "--request-file",
        SAMPLE / "request.json",
        state_dir=tmp_path,
    )
    assert gone.returncode == 1
    assert "no local endpoint local-demo is running" in gone.stderr


def test_foreground_serves_a_0_percent_pin_and_mirrors_until_ctrl_c(tmp_path: Path) -> None:
    """Ctrl-C stops it even when it inherited SIGINT ignored (started with `&` by a script, as CI does)."""
    env = dict(os.environ, MLENDPOINTS_LOCAL_DIR=str(tmp_path))
    files = SAMPLE_ARGS
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlendpoints",
            "local",
            "up",
            *files,
            "--traffic",
            "blue=100 green=0",
            "--mirror-traffic",
            "green=50",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # what `cmd &` in a script does
    )
    try:
        deadline = time.monotonic() + 120
        state: dict = {}
        while time.monotonic() < deadline and not state.get("pid"):
            assert up.poll() is None, up.stderr.read() if up.stderr else ""
            shown = cli("local", "show", "-n", "local-demo", state_dir=tmp_path)
            state = json.loads(shown.stdout) if shown.returncode == 0 else {}
            time.sleep(0.3)
        assert state.get("pid"), "local up did not become ready"
        key = {"Authorization": f"Bearer {state['primaryKey']}", "Content-Type": "application/json"}
        body = (SAMPLE / "request.json").read_bytes()
        with httpx.Client(timeout=30) as http:
            pinned = http.post(
                state["scoringUri"], content=body, headers=key | {"azureml-model-deployment": "green"}
            )
            assert pinned.status_code == 200
            assert pinned.json()["deployment"] == "green"  # at 0 %
            answers = [http.post(state["scoringUri"], content=body, headers=key) for _ in range(40)]
        assert {a.json()["deployment"] for a in answers} == {"blue"}
        # green saw copies of some of the 40 (50 % mirrored; its answers were dropped)
        green = state["deployments"]["green"]["port"]
        time.sleep(0.5)
        metrics = httpx.get(f"http://127.0.0.1:{green}/metrics", timeout=10).text
        scored = sum(
            int(float(n))
            for n in re.findall(r'mlendpoints_requests_total\{[^}]*route="/score"[^}]*\} (\S+)', metrics)
        )
        assert 1 + 5 <= scored <= 1 + 35, metrics  # the pinned request plus about 20 mirrored ones
        up.send_signal(signal.SIGINT)
        try:
            code = up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"local up did not stop within 60 s of SIGINT:\n{_stuck(up.pid, tmp_path)}")
        assert code == 0
    finally:
        if up.poll() is None:
            up.kill()
    assert "stopped local endpoint local-demo" in (up.stderr.read() if up.stderr else "")
    assert wait_gone(pids_of(state)) == []
    assert processes_using(tmp_path) == []


def test_a_model_path_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    bad = deployment_yaml(tmp_path, "blue", model="./nope", code=SAMPLE / "src")
    result = cli(
        "local",
        "up",
        "--detach",
        "-f",
        SAMPLE / "endpoint.yml",
        "-f",
        bad,
        "--traffic",
        "blue=100",
        state_dir=tmp_path,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1, result.stderr
    assert "model" in errors[0]
    assert "./nope: no such file or directory" in errors[0]
    assert "Traceback" not in result.stderr


def test_an_init_failure_names_the_deployment_and_shows_its_log(tmp_path: Path) -> None:
    good = deployment_yaml(tmp_path, "blue", model=str(SAMPLE / "model"), code=SAMPLE / "src")
    broken = deployment_yaml(
        tmp_path, "broken", model=str(SAMPLE / "model"), code=RUNTIME_SCRIPTS, script="score_init_fails.py"
    )
    result = cli(
        "local",
        "up",
        "--detach",
        "-f",
        SAMPLE / "endpoint.yml",
        "-f",
        good,
        "-f",
        broken,
        "--traffic",
        "blue=100",
        state_dir=tmp_path,
    )
    assert result.returncode == 1
    assert "deployment broken failed to start" in result.stderr
    assert "cannot find model weights" in result.stderr  # the tail of its log
    assert "Traceback (most recent call last)" not in result.stderr.split("the end of")[0]
    assert not (tmp_path / "local-demo" / "endpoint.json").exists()
    assert wait_gone(processes_using(tmp_path)) == []
    # a second failed `up` shows its own attempt's log, not the first one's again
    log = tmp_path / "local-demo" / "logs" / "broken.log"
    log.write_text(log.read_text() + "MARKER-OF-THE-FIRST-ATTEMPT\n")
    again = cli("local", "up", "--detach", "-f", SAMPLE / "endpoint.yml", "-f", good, "-f", broken,
                "--traffic", "blue=100", state_dir=tmp_path)  # fmt: skip
    assert again.returncode == 1
    assert "cannot find model weights" in again.stderr
    assert "MARKER-OF-THE-FIRST-ATTEMPT" not in again.stderr
    assert wait_gone(processes_using(tmp_path)) == []


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """Another server on --port would answer the front's readiness check in its place."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("local", "up", "--detach", *SAMPLE_ARGS, "--port", str(port), state_dir=tmp_path)
    assert result.returncode == 1, result.stdout
    assert result.stderr.strip().endswith(
        f"--port {port}: 127.0.0.1:{port} is in use; choose another port, or leave --port out for a free one"
    )
    assert not (tmp_path / "local-demo" / "endpoint.json").exists()


def _stuck(pid: int, state_dir: Path) -> str:
    """What a process that does not exit is doing (its threads' kernel wait channels) and the
    local endpoint's logs, for the failure message."""
    lines = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        for name in ("comm", "wchan", "stat"):
            with contextlib.suppress(OSError):
                lines.append(f"task {task.name} {name}: {(task / name).read_text().strip()[:200]}")
    for log in sorted(state_dir.rglob("*.log")):
        lines.append(f"--- {log.name}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(lines)
