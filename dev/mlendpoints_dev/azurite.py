"""Azurite, Microsoft's Azure Storage emulator, as the dev cluster's Blob store for ``az://``/``abfss://``.

Why Azurite: it speaks the real Blob REST protocol, so the storage initializer's adlfs /
azure-storage-blob code path runs unchanged against it; only the connection string differs.

It is an npm package (``azurite``), installed once per version with ``npm install --prefix`` into
``~/.cache/mlendpoints/azurite-<version>/`` (under the same build lock as the Go binaries, with
npm's output streamed as progress), and run as ``node .../azurite/dist/src/blob/main.js``. Only the
Blob service is started. The account is Azurite's documented development account
``devstoreaccount1`` (its key is public, in Microsoft's docs), so nothing secret is made up here.

Pods reach it through the connection string in the ``azurite-credentials`` Secret (key
``AZURE_STORAGE_CONNECTION_STRING``, read by adlfs); model URIs are then host-free,
``az://<container>/<path>``, so examples never name a host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from mlendpoints_dev import versions

ACCOUNT = "devstoreaccount1"
#: Azurite's well-known development key (https://learn.microsoft.com/azure/storage/common/storage-use-azurite).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#: Secret (in each namespace the dev tooling prepares) holding the connection string for pods.
SECRET_NAME = "azurite-credentials"
CONNECTION_STRING_KEY = "AZURE_STORAGE_CONNECTION_STRING"


class AzuriteError(RuntimeError):
    """Azurite could not be installed (no node/npm, registry unreachable) or did not start."""


def install_dir(cache: Path | None = None) -> Path:
    """``~/.cache/mlendpoints/azurite-<version>`` (the npm prefix)."""
    return (cache or versions.cache_root()) / f"azurite-{versions.AZURITE}"


def blob_main(prefix: Path) -> Path:
    """The Blob service's entry script inside an npm prefix."""
    return prefix / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"


def node_binary() -> Path:
    """``node`` on PATH; raises :class:`AzuriteError` naming what to install."""
    node = shutil.which("node")
    if node is None:
        raise AzuriteError(
            "Azurite needs Node.js >= 18 (node and npm on PATH); install it, e.g. apt-get install nodejs npm"
        )
    return Path(node)


def ensure_installed(*, stream: TextIO | None = None, cache: Path | None = None) -> Path:
    """Install Azurite if needed; returns the path of its Blob ``main.js``.

    Installs into ``<prefix>.tmp`` and renames when complete (an interrupted install leaves no
    half-filled prefix), under the binary cache's build lock so two processes never race.
    """
    from mlendpoints_dev.build import cache_lock

    prefix = install_dir(cache)
    main = blob_main(prefix)
    if main.is_file():
        return main
    out = stream if stream is not None else sys.stderr
    npm = shutil.which("npm")
    node_binary()
    if npm is None:
        raise AzuriteError("installing Azurite needs npm on PATH (apt-get install npm)")
    with cache_lock(versions.bin_cache(), stream=out):
        if main.is_file():
            return main
        tmp = prefix.with_name(prefix.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        print(
            f"[devcluster] installing azurite {versions.AZURITE} with npm into {prefix}", file=out, flush=True
        )
        cmd = [npm, "install", "--prefix", str(tmp), "--no-audit", "--no-fund", "--omit=dev",
               "--loglevel=http", f"azurite@{versions.AZURITE}"]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL
        )
        assert proc.stdout is not None
        tail: list[str] = []
        for n, line in enumerate(proc.stdout, 1):
            tail = [*tail[-30:], line]
            if n % 25 == 0:
                print(
                    f"[devcluster]   npm: {n} lines of progress, last: {line.strip()[:120]}",
                    file=out,
                    flush=True,
                )
        if proc.wait() != 0:
            raise AzuriteError(f"npm install azurite@{versions.AZURITE} failed:\n" + "".join(tail[-15:]))
        if not blob_main(tmp).is_file():
            raise AzuriteError(
                f"npm installed azurite but {blob_main(tmp)} is missing (package layout changed?)"
            )
        shutil.rmtree(prefix, ignore_errors=True)
        tmp.replace(prefix)
        print(f"[devcluster] azurite {versions.AZURITE} installed", file=out, flush=True)
    return main


def args(main: Path, *, host: str, port: int, location: Path) -> list[str]:
    """Arguments for ``node``: the Blob service only, on ``host:port``, data under ``location``.

    ``--loose`` accepts headers Azurite does not implement instead of failing the request;
    ``--skipApiVersionCheck`` lets newer SDKs talk to it.
    """
    return [
        str(main),
        "--blobHost", host,
        "--blobPort", str(port),
        "--location", str(location),
        "--loose",
        "--skipApiVersionCheck",
        "--disableProductStyleUrl",
    ]  # fmt: skip


def blob_endpoint(host: str, port: int) -> str:
    """``http://<host>:<port>/devstoreaccount1`` (path-style, as Azurite serves it)."""
    return f"http://{host}:{port}/{ACCOUNT}"


def connection_string(host: str, port: int) -> str:
    """The connection string adlfs and azure-storage-blob read (``AZURE_STORAGE_CONNECTION_STRING``)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={blob_endpoint(host, port)};"
    )


def secret_manifest(conn: str, namespace: str | None = None) -> dict[str, object]:
    """The ``azurite-credentials`` Secret: use it as ``model.credentialsSecretRef`` for ``az://`` URIs."""
    meta: dict[str, object] = {
        "name": SECRET_NAME,
        "labels": {
            "app.kubernetes.io/part-of": "mlendpoints-devcluster",
            "mlendpoints.io/allow-reference": "true",
        },
    }
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "stringData": {CONNECTION_STRING_KEY: conn},
    }


def upload(conn: str, local: Path, container: str, prefix: str = "") -> list[str]:
    """Upload a file or a folder's files to ``az://<container>/<prefix>/...``; returns the blob names.

    The container is created if missing. Needs ``azure-storage-blob`` (pulled in by adlfs,
    ``pip install mlendpoints[storage]``).
    """
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(conn)
    client = service.get_container_client(container)
    with contextlib.suppress(ResourceExistsError):
        client.create_container()
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    names = []
    for f in files:
        rel = f.name if local.is_file() else f.relative_to(local).as_posix()
        name = f"{prefix.strip('/')}/{rel}" if prefix.strip("/") else rel
        with f.open("rb") as fh:
            client.upload_blob(name, fh, overwrite=True)
        names.append(name)
    return names


def process_env() -> dict[str, str]:
    """The environment for the Azurite process (no ``NODE_OPTIONS`` a user set for other tools)."""
    return {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
