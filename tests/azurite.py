"""Azurite (Microsoft's Azure Storage emulator, npm package ``azurite``) for tests, on loopback.

The one Azurite starter of the test suite. Installation, arguments and the connection string come
from :mod:`mlendpoints_dev.azurite` (the dev cluster's own Azurite), so both use the same
pinned version and cache (``~/.cache/mlendpoints/azurite-<version>``). :func:`azurite_blob` starts
the Blob service on a free 127.0.0.1 port with its data in the given folder and yields the
connection string of the well-known development account.

A free port can be taken by another process between choosing it and Azurite binding it, so the
start only counts once *Azurite* answers on the port (its ``Server`` header), and retries on
another port otherwise. Tests skip when ``node``/``npm`` are missing.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlendpoints_dev import azurite as dev_azurite

ACCOUNT = dev_azurite.ACCOUNT
#: Azurite's published development-account key (not a secret).
KEY = dev_azurite.ACCOUNT_KEY


def install() -> Path:
    """The Blob service's ``main.js``, installing the pinned version on first use (skips without node)."""
    try:
        return dev_azurite.ensure_installed()
    except dev_azurite.AzuriteError as e:
        pytest.skip(str(e))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    """True when the process on ``port`` is Azurite (any status, its ``Server`` header)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{ACCOUNT}?comp=list", timeout=2) as r:
            return "azurite" in (r.headers.get("Server") or "").lower()
    except urllib.error.HTTPError as e:  # 403 without a signature: still Azurite answering
        return "azurite" in (e.headers.get("Server") or "").lower()
    except OSError:
        return False


def _start(main: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    log_path = workdir / "azurite.log"
    for _ in range(3):
        port = _free_port()
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                ["node", *dev_azurite.args(main, host="127.0.0.1", port=port, location=workdir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dev_azurite.process_env(),
            )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if _answers(port):
                return proc, port
            time.sleep(0.2)
        proc.kill()
        proc.wait(10)
    raise RuntimeError(f"Azurite did not start: {log_path.read_text(errors='replace')[-2000:]}")


@contextlib.contextmanager
def azurite_blob(workdir: Path) -> Iterator[str]:
    """A running Azurite Blob service with data under ``workdir``; yields its connection string.

    fsspec caches filesystem instances by constructor arguments, and ``az://`` URLs without
    arguments read ``AZURE_STORAGE_CONNECTION_STRING`` only when the instance is created: an
    instance cached by an earlier test would still point at that test's (stopped) Azurite. So the
    adlfs instance cache is cleared on start and on exit (a real process reads its environment once).
    """
    _clear_adlfs_cache()
    proc, port = _start(install(), workdir)
    try:
        yield dev_azurite.connection_string("127.0.0.1", port)
    finally:
        proc.kill()  # Azurite ignores SIGTERM while it has open connections
        proc.wait(10)
        _clear_adlfs_cache()


def _clear_adlfs_cache() -> None:
    with contextlib.suppress(ImportError):
        from adlfs import AzureBlobFileSystem

        AzureBlobFileSystem.clear_instance_cache()
