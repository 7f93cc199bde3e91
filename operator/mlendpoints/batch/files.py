"""Input and output locations: local folders (a mounted PVC) or fsspec URIs.

URIs use the storage initializer's scheme table (:data:`mlendpoints.storage.fetch.FSSPEC_SCHEMES`):
``az://``, ``abfss://``, ``wasbs://`` (adlfs), ``s3://`` (s3fs), ``gs://`` (gcsfs); ``file://`` and
plain paths are local. Credentials come from the environment as each SDK reads it
(``AZURE_STORAGE_CONNECTION_STRING``, ``AWS_*``, ...).

Writes are atomic: a local file is written next to its target and renamed over it; an object
store's single-object upload is atomic by itself. Readers therefore see a whole file or none.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import uuid
from typing import Any

import fsspec

from mlendpoints.storage.fetch import FSSPEC_SCHEMES


class LocationError(Exception):
    """A location cannot be used (unsupported scheme, missing plugin, not found, not writable)."""


def _scheme(uri: str) -> str:
    head, sep, _ = uri.partition("://")
    return head.lower() if sep and head.isalnum() else ""


class Location:
    """A folder (or file) on a local disk or an fsspec filesystem; paths below it are relative, '/'-separated."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        scheme = _scheme(uri)
        if scheme in ("", "file"):
            self.local = True
            self.root = os.path.abspath(uri[len("file://") :] if scheme == "file" else uri)
            self.fs: Any = None
            return
        self.local = False
        if scheme in FSSPEC_SCHEMES:
            protocol, package = FSSPEC_SCHEMES[scheme]
            url = protocol + uri[len(scheme) :]
        elif scheme in ("http", "https"):
            url, package = uri, "aiohttp"
        else:
            raise LocationError(
                f"{uri}: unsupported scheme {scheme}:// (use a local path, az, abfss, wasbs, s3, gs or https)"
            )
        try:
            self.fs, path = fsspec.core.url_to_fs(url)
        except ImportError as exc:
            raise LocationError(f"{uri}: {scheme}:// needs the {package} package") from exc
        self.root = str(path).rstrip("/")

    def path(self, rel: str = "") -> str:
        """The full path of ``rel`` (local: an OS path; remote: the filesystem's path)."""
        if not rel:
            return self.root
        return os.path.join(self.root, *rel.split("/")) if self.local else f"{self.root}/{rel}"

    # -- listing ----------------------------------------------------------------------------------

    def list_files(self, *, single: bool) -> list[str]:
        """Relative paths of every file below the location, sorted (``single``: the location is one
        file, returned as its own name). Symlinks count as files, even dangling ones (they fail when
        scored, naming the file, instead of vanishing from the job).

        Raises:
            LocationError: the location does not exist or cannot be listed.
        """
        if self.local:
            return self._list_local(single=single)
        try:
            if not self.fs.exists(self.root):
                raise LocationError(f"{self.uri}: not found")
            if single or not self.fs.isdir(self.root):
                return [posixpath.basename(self.root)]
            found = self.fs.find(self.root, detail=False)
        except LocationError:
            raise
        except Exception as exc:  # the SDKs' own errors
            raise LocationError(f"{self.uri}: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
        prefix = self.root + "/"
        return sorted(str(p)[len(prefix) :] for p in found if str(p).startswith(prefix))

    def _list_local(self, *, single: bool) -> list[str]:
        if not os.path.lexists(self.root):
            raise LocationError(f"{self.uri}: not found")
        if single or not os.path.isdir(self.root):
            return [os.path.basename(self.root)]

        def fail(exc: OSError) -> None:
            raise LocationError(f"{self.uri}: cannot list {exc.filename}: {exc.strerror}")

        out = []
        for folder, dirs, names in os.walk(self.root, onerror=fail):
            dirs.sort()
            rel = os.path.relpath(folder, self.root)
            for name in names:
                out.append(name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}")
        return sorted(out)

    def file_path(self, rel: str, *, single: bool) -> str:
        """Full path of a listed file (``single``: the location itself)."""
        if single:
            return self.root
        return self.path(rel)

    def download(self, rel: str, dest: str, *, single: bool) -> None:
        """Copy one listed remote file to the local path ``dest``."""
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        self.fs.get_file(self.file_path(rel, single=single), dest)

    # -- reading and writing below the location ---------------------------------------------------

    def write(self, rel: str, data: bytes) -> None:
        """Write ``data`` to ``rel`` atomically (creates folders)."""
        target = self.path(rel)
        if not self.local:
            self.fs.pipe_file(target, data)
            return
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def read(self, rel: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        target = self.path(rel)
        try:
            if self.local:
                with open(target, "rb") as fh:
                    return fh.read()
            data: bytes = self.fs.cat_file(target)
            return data
        except FileNotFoundError:
            return None

    def names(self, rel: str) -> list[str]:
        """File names directly in the folder ``rel`` (empty when it does not exist)."""
        target = self.path(rel)
        if self.local:
            try:
                return sorted(n for n in os.listdir(target) if not n.startswith(".tmp-"))
            except FileNotFoundError:
                return []
        try:
            return sorted(posixpath.basename(str(p).rstrip("/")) for p in self.fs.ls(target, detail=False))
        except FileNotFoundError:
            return []

    def upload_tree(self, local_dir: str, rel: str = "") -> None:
        """Copy every file under ``local_dir`` to ``rel`` (remote outputs of scripts' own files)."""
        for folder, _dirs, names in os.walk(local_dir):
            for name in names:
                src = os.path.join(folder, name)
                sub = os.path.relpath(src, local_dir).replace(os.sep, "/")
                with open(src, "rb") as fh:
                    self.write(posixpath.join(rel, sub) if rel else sub, fh.read())

    def check_writable(self) -> None:
        """Raises :class:`LocationError` when a probe file cannot be written and removed.

        The probe's name is unique to this call: the pods of one job check the same output at
        once, and with a shared name one pod's removal made another's fail (FileNotFoundError).
        """
        probe = f".mlendpoints/.write-probe-{uuid.uuid4().hex}"
        try:
            self.write(probe, b"ok")
            if self.local:
                os.unlink(self.path(probe))
            else:
                self.fs.rm_file(self.path(probe))
        except Exception as exc:
            raise LocationError(f"output {self.uri} is not writable: {type(exc).__name__}: {exc}") from exc
