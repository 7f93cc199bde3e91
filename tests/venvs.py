"""Pinned side virtualenvs for tests (Azure's own scoring server, MLflow 2), built once and cached.

:func:`ensure` creates ``~/.cache/mlendpoints/test-venvs/<name>`` (``MLENDPOINTS_TEST_VENVS``
overrides the folder) with ``pip install <packages>``, prints progress to the terminal (pip's
output is not captured away), and marks the venv complete with a stamp file holding the package
list, so a changed pin rebuilds it and an interrupted build is retried. A file lock serialises
builds across concurrent pytest processes.

When pip fails, the package index is probed (``pip download --no-deps`` of the first package): if
that fails too, PyPI is unreachable and the test is **skipped** with the reason; otherwise the
failure is real and the test **fails** with pip's output. CI reaches PyPI, so these tests run there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("MLENDPOINTS_TEST_VENVS", Path.home() / ".cache" / "mlendpoints" / "test-venvs"))
#: longest a venv build may take (a cold pip cache on a slow machine)
BUILD_TIMEOUT_S = 1200


@contextlib.contextmanager
def _terminal(config: pytest.Config | None) -> Iterator[None]:
    """Let output through pytest's capture (progress of a minutes-long build must be visible)."""
    capture = config.pluginmanager.getplugin("capturemanager") if config is not None else None
    if capture is None:
        yield
        return
    with capture.global_and_fixture_disabled():
        yield


def _say(message: str) -> None:
    print(f"[test-venvs] {message}", file=sys.stderr, flush=True)


def ensure(name: str, packages: Sequence[str], *, config: pytest.Config | None = None) -> Path:
    """The venv ``name`` with exactly ``packages`` installed; its folder (``bin/python`` inside).

    Raises:
        pytest.skip.Exception: pip cannot reach the package index.
        pytest.fail.Exception: pip failed for another reason (its output is in the message).
    """
    folder = ROOT / name
    stamp = folder / ".installed"
    want = "\n".join(packages)
    if stamp.is_file() and stamp.read_text() == want:
        return folder
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / f".{name}.lock", "w") as lock, _terminal(config):
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == want:  # built by another process meanwhile
            return folder
        _build(folder, packages)
        stamp.write_text(want)
    return folder


def _build(folder: Path, packages: Sequence[str]) -> None:
    started = time.monotonic()
    _say(f"building {folder} (once; cached): {' '.join(packages)}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True, timeout=300)
    python = str(folder / "bin" / "python")
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    proc = subprocess.Popen(
        [*command, *packages], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith(("Collecting", "Successfully", "ERROR")):
            _say(f"  {line.rstrip()[:160]}")
    code = proc.wait(timeout=BUILD_TIMEOUT_S)
    if code != 0:
        tail = "\n".join(lines[-15:])
        if not _index_reachable(python, packages[0]):
            pytest.skip(f"cannot reach the package index for {packages[0]} (pip failed):\n{tail}")
        pytest.fail(f"pip install into {folder} failed ({code}):\n{tail}")
    _say(f"built {folder.name} in {time.monotonic() - started:.0f} s")


def _index_reachable(python: str, requirement: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        probe = subprocess.run(
            [
                python,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-d",
                tmp,
                requirement,
            ],
            capture_output=True,
            timeout=300,
        )
    return probe.returncode == 0
