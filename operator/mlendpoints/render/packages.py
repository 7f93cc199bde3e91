"""Extra Python packages a deployment asks for, installed at pod start by an init container.

``environment.pipRequirements`` and the ``pip:`` section of ``environment.condaFile`` are
installed with ``pip install --target`` into an ``emptyDir`` that the scoring container puts on
``PYTHONPATH``. The root filesystem stays read-only, and the image itself is never modified.
Conda (non-pip) dependencies need a conda-built image: they are ignored here, as the API's field
description says; bake them into ``environment.image`` instead.
"""

from __future__ import annotations

from typing import Any

import yaml

from mlendpoints.api.v1alpha1.common import EnvironmentSpec
from mlendpoints.render.errors import RenderError

#: Where the init container installs packages; on the scoring container's PYTHONPATH.
SITE_PACKAGES = "/var/azureml-app/site-packages"
VOLUME = "site-packages"


def requirements(env: EnvironmentSpec) -> list[str]:
    """pip requirement strings: ``pipRequirements`` then the conda file's pip list, without duplicates.

    Raises:
        RenderError: ``condaFile`` is not valid YAML or its ``dependencies`` is not a list.
    """
    out: list[str] = list(env.pip_requirements or [])
    if env.conda_file:
        out += _conda_pip(env.conda_file)
    return list(dict.fromkeys(r.strip() for r in out if r.strip()))


def _conda_pip(text: str) -> list[str]:
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RenderError(f"environment.condaFile: not valid YAML: {exc}") from exc
    if doc is None:
        return []
    deps = doc.get("dependencies", []) if isinstance(doc, dict) else None
    if not isinstance(deps, list):
        raise RenderError("environment.condaFile: expected a mapping with a 'dependencies' list")
    pip: list[str] = []
    for item in deps:
        if isinstance(item, dict) and isinstance(item.get("pip"), list):
            pip += [str(r) for r in item["pip"]]
    return pip


def install_command(reqs: list[str]) -> list[str]:
    """The init container's command (no shell: requirement strings are passed as arguments)."""
    return [
        "python",
        "-m",
        "pip",
        "install",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--target",
        SITE_PACKAGES,
        *reqs,
    ]
