"""What ``dev cluster up`` starts next to the control plane so the examples really run end to end.

* **Traefik** (:mod:`.gateway`): the Gateway API implementation, on ``127.0.80.<n>:80``, with the
  ``traefik`` GatewayClass; it routes HTTPRoutes to pod IPs (EndpointSlices).
* **Azurite** (:mod:`.azurite`): the Blob service for ``az://`` / ``abfss://`` sources, and the
  ``azurite-credentials`` Secret holding its connection string.
* **A static HTTPS file server** (:mod:`.fileserver`) on ``<state>/files/`` for ``https://``
  sources, its certificate signed by the cluster CA, and the ``dev-files-ca`` Secret.

Azurite and the file server listen on the address pods can reach: the host's address on the
process nodes' bridge when the cluster has process nodes (:func:`pod_host_address`), else
loopback (then only host processes, such as the tests and the demo's upload, can use them). Their ports are free ports,
kept across restarts. Everything is recorded in ``state.json`` under ``addons`` (read by
``dev cluster env``) and its processes under ``processes``, so ``down`` stops them by PID.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlendpoints_dev import azurite, fileserver, gateway

if TYPE_CHECKING:
    from mlendpoints_dev.cluster import LocalCluster

#: Namespaces that get the sources' Secrets at ``up`` (the examples live in ``default``).
SECRET_NAMESPACES = ("default",)


def pod_host_address(cluster: LocalCluster) -> str:
    """The host's address on the process nodes' bridge, else loopback.

    A process node's ``InternalIP`` is the host's address on that node's pod subnet (the pods'
    gateway), so it is reachable from every pod and from the host. kwok nodes (annotated
    ``kwok.x-k8s.io/node``) have made-up addresses and are skipped.
    """
    from mlendpoints_dev.cluster import KWOK_NODE_ANNOTATION

    for node in cluster.kubectl_json("get", "nodes")["items"]:
        if KWOK_NODE_ANNOTATION in (node["metadata"].get("annotations") or {}):
            continue
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                return str(address["address"])
    return "127.0.0.1"


def public_ca(cluster: LocalCluster) -> Path:
    """A world-readable copy of the cluster CA certificate (public data), for pods running as non-root.

    The state directory usually sits under a home directory other users cannot enter, so the
    ``dev-files-ca`` Secret points at this copy under the temp directory instead.
    """
    digest = hashlib.sha256(str(cluster.state_dir.resolve()).encode()).hexdigest()[:10]
    folder = Path(tempfile.gettempdir()) / f"mlendpoints-{digest}"
    folder.mkdir(mode=0o755, exist_ok=True)
    folder.chmod(0o755)
    target = folder / "ca.crt"
    tmp = folder / "ca.crt.tmp"
    shutil.copyfile(cluster.pki.ca_cert, tmp)
    tmp.chmod(0o644)
    tmp.replace(target)
    return target


def cleanup(cluster: LocalCluster) -> None:
    """Remove what the add-ons keep outside the state directory (the public CA copy)."""
    digest = hashlib.sha256(str(cluster.state_dir.resolve()).encode()).hexdigest()[:10]
    shutil.rmtree(Path(tempfile.gettempdir()) / f"mlendpoints-{digest}", ignore_errors=True)


def _http_ok(url: str, *, context: Any = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as r:  # noqa: S310 - our loopback/bridge servers
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _tcp_ok(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def start(
    cluster: LocalCluster,
    state: dict[str, Any],
    wait: Callable[[str, Callable[[], bool]], None],
    previous: Mapping[str, Any],
) -> dict[str, Any]:
    """Start Traefik, Azurite and the file server; returns what ``state["addons"]`` records.

    ``wait(what, probe)`` blocks until ``probe()`` is true (raising on the cluster's deadline);
    ``previous`` is the last run's ``addons`` record, whose addresses and ports are reused when
    free. The Gateway API CRDs are installed first (Traefik's provider watches them).
    """
    from mlendpoints_dev.install import install_gateway_api

    log = cluster._log
    host = pod_host_address(cluster)
    ca = public_ca(cluster)

    install_gateway_api(cluster)
    cluster.apply(gateway.gateway_class())
    address, ping_port = _start_traefik(cluster, state, wait, previous.get("gateway", {}))

    main = azurite.ensure_installed()
    blob_port = _free_on(host, previous.get("azurite", {}).get("port"))
    data = cluster.state_dir / "azurite"
    data.mkdir(exist_ok=True)
    log(f"starting azurite (Blob) on {azurite.blob_endpoint(host, blob_port)}")
    cluster._spawn(state, "azurite", azurite.node_binary(), azurite.args(main, host=host, port=blob_port, location=data),
                   env=azurite.process_env())  # fmt: skip
    wait("azurite", lambda: _tcp_ok(host, blob_port))

    files_root = cluster.state_dir / "files"
    files_port = _free_on(host, previous.get("files", {}).get("port"))
    tls = _issue_files_cert(cluster, host)
    log(f"starting the file server on https://{host}:{files_port}/ ({files_root})")
    cluster._spawn(state, "fileserver", Path(sys.executable),
                   ["-m", "mlendpoints_dev.fileserver", "--root", str(files_root), "--host", host,
                    "--port", str(files_port), "--cert", str(tls[0]), "--key", str(tls[1])])  # fmt: skip
    wait("file server", lambda: _tcp_ok(host, files_port))

    conn = azurite.connection_string(host, blob_port)
    for ns in SECRET_NAMESPACES:
        cluster.apply([azurite.secret_manifest(conn, ns), fileserver.secret_manifest(ca, ns)])
    return {
        "gateway": {"address": address, "url": gateway.url(address), "ping_port": ping_port,
                    "class": gateway.GATEWAY_CLASS},
        "azurite": {"host": host, "port": blob_port, "blob_endpoint": azurite.blob_endpoint(host, blob_port),
                    "connection_string": conn, "secret": azurite.SECRET_NAME},
        "files": {"host": host, "port": files_port, "url": f"https://{host}:{files_port}/", "root": str(files_root),
                  "ca": str(ca), "secret": fileserver.SECRET_NAME},
    }  # fmt: skip


def _start_traefik(
    cluster: LocalCluster,
    state: dict[str, Any],
    wait: Callable[[str, Callable[[], bool]], None],
    previous: Mapping[str, Any],
) -> tuple[str, int]:
    """Start Traefik as the Gateway API controller (its own kubeconfig identity, the access log of
    5xx answers); returns its listen address and ping port once ``/ping`` answers."""
    from mlendpoints_dev.cluster import free_port

    address = gateway.pick_address(previous.get("address"))
    ping_port = free_port(previous.get("ping_port"))
    traefik_kc = cluster.make_kubeconfig("traefik", path=cluster.state_dir / "traefik.kubeconfig")
    cluster._log(f"starting traefik on {gateway.url(address)} (GatewayClass {gateway.GATEWAY_CLASS})")
    flags = gateway.args(
        address=address, ping_port=ping_port, access_log=gateway.access_log_path(cluster.state_dir)
    )
    cluster._spawn(state, "traefik", cluster.binaries.traefik, flags,
                   env={**_base_env(), **gateway.kubeconfig_env(traefik_kc)})  # fmt: skip
    wait("traefik /ping", lambda: _http_ok(gateway.ping_url(ping_port)))
    return address, ping_port


def _free_on(host: str, preferred: int | None) -> int:
    for port in [preferred, 0] if preferred else [0]:
        with socket.socket() as s:
            try:
                s.bind((host, port or 0))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError(f"no free port on {host}")


def _issue_files_cert(cluster: LocalCluster, host: str) -> tuple[Path, Path]:
    from mlendpoints_dev.pki import issue_server

    cc = issue_server(cluster.pki, "fileserver", ips=sorted({host, "127.0.0.1"}), dns=["localhost"])
    return cc.cert, cc.key


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


def env_lines(addons: Mapping[str, Any]) -> list[str]:
    """``export`` lines for ``dev cluster env``: where the gateway, Azurite and the file server are."""
    out = []
    gw, az, files = addons.get("gateway"), addons.get("azurite"), addons.get("files")
    if gw:
        out.append(f"export MLENDPOINTS_GATEWAY_URL={shlex.quote(gw['url'])}")
    if az:
        out.append(f"export AZURE_STORAGE_CONNECTION_STRING={shlex.quote(az['connection_string'])}")
        out.append(f"export MLENDPOINTS_AZURITE_BLOB_ENDPOINT={shlex.quote(az['blob_endpoint'])}")
    if files:
        out.append(f"export MLENDPOINTS_FILES_URL={shlex.quote(files['url'])}")
        out.append(f"export MLENDPOINTS_FILES_DIR={shlex.quote(files['root'])}")
        out.append(f"export MLENDPOINTS_CLUSTER_CA={shlex.quote(files['ca'])}")
    return out
