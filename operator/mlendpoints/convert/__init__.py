"""Azure ML CLI v2 YAML -> mlendpoints manifests (``mlendpoints convert``, ``create -f``).

:func:`load` reads ``-f`` files and splits their documents into Kubernetes objects (passed
through) and Azure ML documents (:class:`~mlendpoints.convert.common.Doc`); :func:`azure.convert`
maps the latter. See docs/cli.md for the field table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlendpoints.convert.common import ConvertError, Doc


def load(paths: list[str]) -> tuple[list[dict[str, Any]], list[Doc]]:
    """Read YAML files (``-`` is stdin) into ``(kubernetes objects, Azure documents)``.

    Raises:
        ConvertError: a file that cannot be read or parsed, or a document that is not a mapping.
    """
    import sys

    from mlendpoints.convert import azure

    objects: list[dict[str, Any]] = []
    docs: list[Doc] = []
    for path in paths:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
            loaded = list(yaml.safe_load_all(text))
        except (OSError, yaml.YAMLError) as exc:
            raise ConvertError(f"{path}: {exc}") from exc
        base = Path.cwd() if path == "-" else Path(path).resolve().parent
        for i, body in enumerate(loaded):
            if body is None:
                continue
            if not isinstance(body, dict):
                raise ConvertError(f"{path}#{i + 1}: not a mapping")
            if azure.is_azure(body):
                docs.append(Doc(f"{path}#{i + 1}", body, base))
            else:
                objects.append(body)
    return objects, docs


__all__ = ["ConvertError", "Doc", "load"]
