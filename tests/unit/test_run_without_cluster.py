"""``mlendpoints run`` without a cluster: one readable line per attempt, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml


def _run(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlendpoints", "run"],
        env={**os.environ, "MLENDPOINTS_METRICS_PORT": "0", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_unreachable_api_server_is_retried_with_one_line_per_attempt(tmp_path: Path) -> None:
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
    proc = _run({"KUBECONFIG": str(kubeconfig)})
    assert proc.stdout is not None
    raw: list[str] = []
    try:  # read until the second attempt is logged (attempts at 0 s and 1 s after start-up)
        while sum("is not reachable (attempt" in line for line in raw) < 2 and (
            line := proc.stdout.readline()
        ):
            raw.append(line)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    out = "".join(raw)
    lines = [json.loads(line) for line in raw if line.strip()]  # JSON lines only
    attempts = [e for e in lines if "is not reachable (attempt" in e["message"]]
    assert len(attempts) >= 2
    assert attempts[0]["message"].startswith(
        "the API server https://127.0.0.1:9 is not reachable (attempt 1): "
    )
    assert "Connection refused" in attempts[0]["message"]
    assert all(e["logger"] == "mlendpoints.controller.cli" for e in lines)  # nothing else: no urllib3 retries
    assert "Traceback" not in out


def test_no_kubeconfig_is_one_line_and_exit_1(tmp_path: Path) -> None:
    proc = _run({"KUBECONFIG": str(tmp_path / "missing"), "MLENDPOINTS_LOG_FORMAT": "text"})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert len(out.strip().splitlines()) == 1
    assert "no cluster to run against: no in-cluster config and no usable kubeconfig" in out


def test_a_bad_log_format_names_the_variable() -> None:
    proc = _run({"MLENDPOINTS_LOG_FORMAT": "xml"})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert (
        out.strip()
        == "mlendpoints run: invalid setting: MLENDPOINTS_LOG_FORMAT='xml': Input should be 'json' or 'text'"
    )
