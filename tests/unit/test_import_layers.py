"""The import-linter layers contract lists every package of the product, and it catches an upward import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "mlendpoints"


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [m.strip() for layer in contract["layers"] for m in layer.split("|")]


def test_every_top_level_module_is_in_one_layer() -> None:
    top = {f"mlendpoints.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    top |= {f"mlendpoints.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    listed = _layers()
    assert sorted(set(listed)) == sorted(listed), "a module is in two layers"
    assert sorted(top - set(listed)) == [], "add these to the layers contract in pyproject.toml"
    assert sorted(set(listed) - top) == [], "the layers contract names modules that do not exist"


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """The reviewer's example: ``storage`` importing ``controller`` must fail ``lint-imports``."""
    shutil.copytree(PACKAGE, tmp_path / "mlendpoints", ignore=shutil.ignore_patterns("__pycache__"))
    storage = tmp_path / "mlendpoints" / "storage" / "__init__.py"
    storage.write_text(storage.read_text() + "\nimport mlendpoints.controller  # noqa\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "dev" / "mlendpoints_dev",
        tmp_path / "mlendpoints_dev",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    lint = Path(sys.executable).parent / "lint-imports"
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(lint)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0, proc.stdout
    assert "mlendpoints.storage is not allowed to import mlendpoints.controller" in proc.stdout, proc.stdout
