"""Fetch a model or code URI into a local folder: the storage initializer's core.

Schemes:

* ``https://``, ``http://``: standard library (:mod:`mlendpoints.storage.web`).
* ``s3://``, ``gs://``, ``az://``, ``abfss://``, ``wasbs://``: fsspec with its optional plugins
  ``s3fs``, ``gcsfs`` and ``adlfs`` (``pip install mlendpoints[storage]``); a missing plugin is an
  error naming the package. Credentials come from the environment as each SDK reads it
  (``AWS_*``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_*``/``AZURE_*``), which the pod
  fills from ``model.credentialsSecretRef``.
* ``file://`` and plain local paths (tests, local runs), through fsspec's local filesystem.

A folder is copied with its contents directly under ``dest``; a single file lands at
``dest/<name>``, and an archive (.tar.gz, .tgz, .tar, .zip) is extracted there.
``pvc://``, ``oci://`` and ``azureml:`` are never fetched: the operator mounts the first two and
refuses the third.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import fsspec

from mlendpoints.storage import archives, web
from mlendpoints.storage.errors import FetchError

#: URI scheme -> (fsspec protocol, pip package providing it).
FSSPEC_SCHEMES: dict[str, tuple[str, str]] = {
    "s3": ("s3", "s3fs"),
    "gs": ("gs", "gcsfs"),
    "az": ("az", "adlfs"),
    # adlfs reads the account from "<container>@<account>.dfs|blob.core.windows.net" in abfs:// URLs.
    "abfss": ("abfs", "adlfs"),
    "wasbs": ("abfs", "adlfs"),
}
MOUNTED = ("pvc://", "oci://")


def _scheme(uri: str) -> str:
    head, sep, _ = uri.partition("://")
    return head.lower() if sep and head.isalnum() else ""


#: What a plugin reads its credentials from (the variables the storage initializer's Secret holds).
_CREDENTIALS_HINT = dict.fromkeys(
    ("az", "abfs", "abfss", "wasbs"),
    " (set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with a key or identity)",
)


def fetch(uri: str, dest: Path) -> None:
    """Download ``uri`` into the folder ``dest`` (created if needed).

    Args:
        uri: Model or code location.
        dest: Target folder; existing files with the same names are overwritten.

    Raises:
        FetchError: a one-line reason: unsupported scheme, missing plugin, not found, network or
            permission failure.
    """
    if uri.startswith(MOUNTED):
        raise FetchError(f"{uri}: pvc:// and oci:// are mounted by the operator, not fetched")
    if uri.startswith("azureml:"):
        raise FetchError(f"{uri}: Azure ML assets can only be used with target azureml")
    scheme = _scheme(uri)
    if scheme in ("http", "https"):
        web.fetch(uri, dest)
        return
    if scheme in FSSPEC_SCHEMES:
        protocol, package = FSSPEC_SCHEMES[scheme]
        try:
            fs, path = fsspec.core.url_to_fs(protocol + uri[len(scheme) :])
        except ImportError as exc:
            raise FetchError(
                f"{uri}: {scheme}:// needs the {package} package (pip install {package}, "
                "or mlendpoints[storage])"
            ) from exc
        except Exception as exc:  # the plugin refused its settings, e.g. adlfs without credentials
            raise FetchError(
                f"{uri}: cannot open {scheme}:// storage: {exc}".splitlines()[0]
                + _CREDENTIALS_HINT.get(scheme, "")
            ) from exc
        _get(fs, path, dest, uri=uri)
        return
    if scheme in ("", "file"):
        fs, path = fsspec.core.url_to_fs(uri)
        _get(fs, path, dest, uri=uri)
        return
    raise FetchError(f"{uri}: unsupported scheme {scheme}:// (use https, s3, gs, az, abfss, wasbs or file)")


def _get(fs: Any, path: str, dest: Path, *, uri: str) -> None:
    """Copy a file or a folder's contents from an fsspec filesystem into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    name = posixpath.basename(path.rstrip("/"))
    try:
        if not fs.exists(path):
            raise FetchError(f"{uri}: not found")
        if fs.isdir(path):
            fs.get(path.rstrip("/") + "/", str(dest) + "/", recursive=True)
            return
        fs.get(path, str(dest / name))
    except FetchError:
        raise
    except Exception as exc:  # plugins raise their SDKs' own errors (botocore, azure-core, ...)
        raise FetchError(f"{uri}: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if archives.is_archive(name):
        archives.extract(dest / name, dest)
