"""``mlendpoints batch run -f deployment.yaml``: the runner without a cluster, settings from the
manifest (field for field Azure ML's) and ``--set`` overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.batch.conftest import make_files, read_log, write_script


def _deployment(tmp: Path, model_path: str, settings: dict[str, object]) -> Path:
    manifest = {
        "apiVersion": "mlendpoints.io/v1alpha1",
        "kind": "BatchDeployment",
        "metadata": {"name": "scorer"},
        "spec": {
            "endpointName": "scoring",
            "model": {"path": model_path, "type": "custom"},
            "codeConfiguration": {"code": "pvc://code/batch", "scoringScript": "score.py"},
            "settings": settings,
        },
    }
    path = tmp / "deployment.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mlendpoints.cli", "batch", "run", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


SCRIPT = """
import os
def init():
    assert os.path.isfile(os.path.join(os.environ["AZUREML_MODEL_DIR"], "weights.txt"))
def run(mini_batch):
    return [os.environ["GREETING"] + " " + os.path.basename(p) for p in mini_batch]
"""


def test_local_run_from_a_manifest_with_overrides(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("1")
    write_script(tmp_path / "code", SCRIPT)
    make_files(tmp_path / "data", ["a.txt", "b.txt", "c.txt"])
    settings = {
        "miniBatchSize": 1,
        "maxConcurrencyPerInstance": 2,
        "outputAction": "summaryOnly",
        "outputFileName": "scores.txt",
        "retrySettings": {"maxRetries": 0, "timeout": 60},
        "errorThreshold": 0,
        "loggingLevel": "warning",
        "environmentVariables": {"GREETING": "hello"},
    }
    manifest = _deployment(tmp_path, "pvc://models/m", settings)
    out = tmp_path / "out"
    proc = _run("-f", str(manifest), "--input", str(tmp_path / "data"), "--output", str(out),
                "--model-dir", str(tmp_path / "model"), "--code-dir", str(tmp_path / "code"), "--set", "output_action=appendRow", "--set", "environmentVariables.GREETING=hi")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (out / "scores.txt").read_text().splitlines() == ["hi a.txt", "hi b.txt", "hi c.txt"]
    assert "error_threshold: 0" in read_log(out, "job_result.txt")


def test_local_run_rejects_cluster_only_sources_and_bad_overrides(tmp_path: Path) -> None:
    write_script(tmp_path / "code", SCRIPT)
    make_files(tmp_path / "data", ["a.txt"])
    manifest = _deployment(tmp_path, "pvc://models/m", {"miniBatchSize": 1})
    proc = _run("-f", str(manifest), "--input", str(tmp_path / "data"), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "model.path: pvc://models/m exists only in a cluster" in proc.stderr
    proc = _run("-f", str(manifest), "--input", str(tmp_path / "data"), "--output", str(tmp_path / "o"),
                "--model-dir", str(tmp_path), "--code-dir", str(tmp_path / "code"), "--set", "miniBatchSize=0")  # fmt: skip
    assert proc.returncode == 2
    assert "--set miniBatchSize: Input should be greater than or equal to 1" in proc.stderr
