"""Azurite (Microsoft's Azure Storage emulator, npm package ``azurite``) for tests, on loopback.

The package is installed once with ``npm`` into ``~/.cache/mlendpoints/azurite-<version>`` (the
same prefix the dev cluster's Azurite uses, so either install serves both), into a temporary folder
that is renamed into place, so concurrent first runs do not collide.
:func:`azurite_blob` starts ``azurite-blob`` on a free 127.0.0.1 port with its data in a temporary
folder and yields the connection string of the well-known development account.
Tests skip when ``npm``/``node`` are missing.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

VERSION = "3.37.0"
CACHE = Path.home() / ".cache" / "mlendpoints" / f"azurite-{VERSION}"
ACCOUNT = "devstoreaccount1"
#: Azurite's published development-account key (not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def install() -> Path:
    """The ``azurite-blob`` executable, installing the pinned version on first use."""
    exe = CACHE / "node_modules" / ".bin" / "azurite-blob"
    if exe.exists():
        return exe
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("azurite needs node and npm")
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=CACHE.parent, prefix=f".azurite-{VERSION}-"))
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(tmp), f"azurite@{VERSION}"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    try:
        tmp.rename(CACHE)
    except OSError:  # another run finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def azurite_blob(workdir: Path) -> Iterator[str]:
    """A running Azurite blob service; yields its connection string."""
    exe = install()
    port = _free_port()
    log = (workdir / "azurite.log").open("wb")
    proc = subprocess.Popen(
        [
            str(exe),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(workdir),
            "--skipApiVersionCheck",
            "--silent",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"azurite did not start: {(workdir / 'azurite.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
