"""Local folders in Azure ML YAML (``model.path: ./model``, ``code: ./src``): where the cluster reads them.

A pod cannot read the machine you run the CLI on, so each local folder goes somewhere the
cluster can:

- **code** goes into a ConfigMap when it fits one (only top-level files, no more than
  :data:`CONFIGMAP_BUDGET` bytes): it is applied with the deployment, versioned with it, and the
  operator restarts the pods when its content changes. A larger or nested code folder is uploaded
  like a model.
- **models** (and larger code) are uploaded to a blob container (``--model-store az://container/prefix``;
  with ``create``, by default the dev cluster's Azurite when the namespace has its
  ``azurite-credentials`` Secret), under a prefix named by the folder's content hash, so a new model
  is a new URI and a rollout. The storage initializer downloads it from there, as it does any
  ``az://`` model. Not a PVC: filling one needs a pod to copy into it, and a ConfigMap holds 1 MiB.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlendpoints.api.v1alpha1.base import MODEL_URI_PATTERN

#: Bytes of file content a code ConfigMap may carry (the API server's object limit is 1 MiB).
CONFIGMAP_BUDGET = 900 * 1024
_URI = re.compile(MODEL_URI_PATTERN)
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_SKIP_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", ".venv"}


class LocalPathError(ValueError):
    """A local path that does not exist or cannot be used."""


@dataclass(frozen=True)
class Upload:
    """A local file or folder to copy to ``uri`` before the manifests are applied."""

    local: Path
    #: ``az://container/prefix/`` (always a folder URI, ending in ``/``)
    uri: str
    #: what it is, for messages: ``model of OnlineDeployment blue``
    what: str


def is_local(value: str) -> bool:
    """Whether an Azure ``path``/``code`` value is a local path (not a URI, not an ``azureml:`` asset)."""
    return not _URI.match(value) and "://" not in value


def resolve(value: str, base: Path, field: str) -> Path:
    """``value`` relative to ``base`` (the YAML file's folder, as the Azure CLI resolves it).

    Raises:
        LocalPathError: it does not exist.
    """
    path = (base / value).resolve() if not Path(value).is_absolute() else Path(value)
    if not path.exists():
        raise LocalPathError(f"{field}: {value}: no such file or directory (resolved to {path})")
    return path


def files(folder: Path) -> list[Path]:
    """The files of ``folder`` (or ``[folder]`` for a file), sorted, without caches and VCS folders."""
    if folder.is_file():
        return [folder]
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).parts
        if p.is_file() and not _SKIP_DIRS & set(rel[:-1]) and not p.name.endswith(".pyc"):
            out.append(p)
    return out


def content_hash(folder: Path) -> str:
    """12 hex digits of the SHA-256 over the relative names and contents of :func:`files`."""
    h = hashlib.sha256()
    for f in files(folder):
        rel = f.name if folder.is_file() else f.relative_to(folder).as_posix()
        h.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def code_config_map(folder: Path, name: str, namespace: str | None) -> dict[str, Any] | None:
    """A ConfigMap holding the code folder's files, or None when it does not fit one.

    It fits when every file is at the top level with a ConfigMap-key name and the contents total
    at most :data:`CONFIGMAP_BUDGET` bytes. Text files go to ``data``, others to ``binaryData``.
    """
    import base64

    found = files(folder)
    if folder.is_file() or not found:
        return None
    if any(f.parent != folder or not _KEY.match(f.name) for f in found):
        return None
    if sum(f.stat().st_size for f in found) > CONFIGMAP_BUDGET:
        return None
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for f in found:
        raw = f.read_bytes()
        try:
            data[f.name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            binary[f.name] = base64.b64encode(raw).decode()
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/managed-by": "mlendpoints-cli"}}
    if namespace:
        meta["namespace"] = namespace
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
    if binary:
        cm["binaryData"] = binary
    return cm


def store_uri(store: str, *parts: str) -> str:
    """``store`` joined with ``parts`` as a folder URI ending in ``/``."""
    return "/".join([store.rstrip("/"), *(p.strip("/") for p in parts)]) + "/"
