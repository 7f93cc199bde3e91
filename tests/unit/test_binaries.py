"""The binary cache's bookkeeping (mlendpoints_dev.versions) and the build script agree; nothing is built."""

from __future__ import annotations

import re
from pathlib import Path

from mlendpoints_dev import build, versions


def test_missing_can_be_limited_to_some_artifacts(tmp_path: Path) -> None:
    paths = versions.binary_paths(tmp_path)
    paths.helm_docs.parent.mkdir(parents=True)
    paths.helm_docs.write_text("#!/bin/sh\n")
    assert "helm-docs" in paths.missing(), "not executable yet"
    paths.helm_docs.chmod(0o755)
    assert paths.missing(("helm-docs",)) == []
    assert paths.missing(("helm-docs", "helm")) == ["helm"]
    assert "helm-docs" not in paths.missing()
    assert "kube-apiserver" in paths.missing()


def test_every_artifact_has_a_component_the_script_can_build_alone() -> None:
    script = build.SCRIPT.read_text()
    selectable = set(re.findall(r"^if want ([a-z-]+); then", script, flags=re.MULTILINE))
    components = {versions.COMPONENT_OF.get(name, name) for name in versions.binary_paths().all()}
    assert components == selectable
    assert f"if [ $# -ne {len(versions.BUILD_ARGS)} ]; then" in script, "build_args and the script's arity"
