"""Safe extraction of a downloaded model archive (.tar, .tar.gz, .tgz, .zip).

Shipping a model folder as one archive is the usual way to serve it over plain HTTPS; the
archive is unpacked in place and removed, so ``AZUREML_MODEL_DIR`` holds the model files. Members
that would land outside the destination (absolute paths, ``..``, links out) are refused.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

from mlendpoints.storage.errors import FetchError

SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def is_archive(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def extract(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` into ``dest`` and delete it.

    Raises:
        FetchError: the archive is corrupt or has a member outside ``dest``.
    """
    root = dest.resolve()
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    if not (root / member).resolve().is_relative_to(root):
                        raise FetchError(f"{archive.name}: member {member!r} would be written outside {dest}")
                zf.extractall(root)  # noqa: S202 -- every member checked above
        else:
            with tarfile.open(archive) as tf:
                # The "data" filter refuses absolute paths, '..', links out of dest and device files.
                tf.extractall(root, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"{archive.name}: cannot extract: {exc}") from exc
    archive.unlink()
