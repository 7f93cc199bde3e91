"""``mlendpoints profile``: a real runtime subprocess on loopback, a tiny model, two short load levels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mlendpoints.monitoring import profile
from tests.runtime.conftest import SCRIPTS

MANIFEST = """
apiVersion: mlendpoints.io/v1alpha1
kind: OnlineDeployment
metadata: {name: blue}
spec:
  endpointName: credit
  model: {path: "pvc://models/credit", type: custom}
  codeConfiguration: {code: "pvc://code/credit", scoringScript: score.py}
  requestSettings: {maxConcurrentRequestsPerInstance: 1}
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "deployment.yaml"
    path.write_text(MANIFEST)
    return path


def args(manifest: Path, request: Path, out: Path, joblib_dir: Path, *extra: str) -> list[str]:
    return [
        "-f", str(manifest), "--request-file", str(request), "--model-dir", str(joblib_dir),
        "--code-dir", str(SCRIPTS), "--output", str(out), *extra,
    ]  # fmt: skip


def test_profile_measures_and_recommends(
    tmp_path: Path, manifest: Path, joblib_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = tmp_path / "sample.json"
    request.write_text(json.dumps({"data": [[0.1, 0.2, 0.3, 0.4]]}))
    out = tmp_path / "prof"
    extra = ("--concurrency", "1,2", "--duration", "1", "--target-rps", "50", "--p99-ms", "1000")
    assert profile.main(args(manifest, request, out, joblib_dir, *extra)) == 0
    result = json.loads((tmp_path / "prof.json").read_text())
    levels, rec = result["levels"], result["recommendation"]
    assert [lv["concurrency"] for lv in levels] == [1, 2]
    for lv in levels:
        assert lv["requests"] > 0
        assert lv["errors"] == 0
        assert 0 < lv["p50_ms"] <= lv["p90_ms"] <= lv["p99_ms"]
        assert lv["cpu_s_per_request"] > 0
        assert lv["peak_rss_mib"] > 50
    best = max(levels, key=lambda lv: lv["rps"])
    assert rec["concurrency"] == rec["max_concurrent_requests_per_instance"] == best["concurrency"]
    assert rec["instance_count"] == max(1, math.ceil(50 / (profile.UTILISATION * best["rps"])))
    assert rec["memory"].endswith("Mi")
    assert rec["cpu"].endswith("m")
    assert rec["meets_p99"] is True
    assert (tmp_path / "prof.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "recommendation: instanceCount" in printed
    assert "p99 ms" in printed


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "No such file"),
        (b"", "the file is empty"),
        (b"{not json", "not valid JSON"),
        (b'{"data": "not rows"}', "the sample request got 5"),
    ],
)
def test_bad_request_file_is_a_clear_error(
    tmp_path: Path,
    manifest: Path,
    joblib_dir: Path,
    capsys: pytest.CaptureFixture[str],
    body: bytes | None,
    message: str,
) -> None:
    request = tmp_path / "sample.json"
    if body is not None:
        request.write_bytes(body)
    assert profile.main(args(manifest, request, tmp_path / "p", joblib_dir, "--duration", "1")) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlendpoints profile: ")
    assert message in err
    assert not (tmp_path / "p.json").exists()


def test_a_model_that_must_be_mounted_needs_a_local_copy(tmp_path: Path, manifest: Path) -> None:
    request = tmp_path / "sample.json"
    request.write_text("{}")
    with pytest.raises(profile.ProfileError, match="pass --model-dir"):
        profile.run(profile._parser().parse_args(["-f", str(manifest), "--request-file", str(request)]))
