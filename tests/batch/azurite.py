"""Azurite (Microsoft's Azure Storage emulator) for the tests: started on loopback per session.

It is an npm package, installed once into ``~/.cache/mlendpoints/azurite-<version>`` (the dev
cluster's layout; an install at ``~/.cache/mlendpoints/azurite/<version>`` is used as well) and
run with ``node``. Only the Blob service starts; the account is Azurite's documented development
account, whose key is public.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

VERSION = "3.37.0"
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CACHE = Path.home() / ".cache" / "mlendpoints"


def _main_js(prefix: Path) -> Path:
    return prefix / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"


def ensure_installed() -> Path:
    for prefix in (CACHE / f"azurite-{VERSION}", CACHE / "azurite" / VERSION):
        if _main_js(prefix).is_file():
            return _main_js(prefix)
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("the Azurite tests need Node.js and npm on PATH (apt-get install nodejs npm)")
    prefix = CACHE / f"azurite-{VERSION}"
    tmp = prefix.with_name(prefix.name + f".tmp-{os.getpid()}")
    subprocess.run([npm, "install", "--prefix", str(tmp), "--no-audit", "--no-fund", "--omit=dev",
                    f"azurite@{VERSION}"], check=True, stdin=subprocess.DEVNULL)  # fmt: skip
    if not _main_js(prefix).is_file():
        tmp.replace(prefix)
    return _main_js(prefix)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(main: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start Azurite on a free port and wait until *it* (not another process) answers there."""
    for _ in range(3):  # a free port can be taken by someone else before Azurite binds it
        port = _free_port()
        cmd = ["node", str(main), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(workdir),
               "--loose", "--skipApiVersionCheck", "--disableProductStyleUrl", "--silent"]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/{ACCOUNT}?comp=list", timeout=2) as r:
                    if "azurite" in (r.headers.get("Server") or "").lower():
                        return proc, port
            except urllib.error.HTTPError as e:  # 403 without a signature: still Azurite answering
                if "azurite" in (e.headers.get("Server") or "").lower():
                    return proc, port
            except OSError:
                pass
            time.sleep(0.2)
        proc.kill()
        proc.wait(10)
    raise RuntimeError("Azurite did not start")


@contextmanager
def azurite(workdir: Path) -> Iterator[str]:
    """Run Azurite's Blob service; yields its connection string."""
    proc, port = _start(ensure_installed(), workdir)
    try:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        )
    finally:
        proc.kill()  # Azurite ignores SIGTERM while it has open connections
        proc.wait(10)
