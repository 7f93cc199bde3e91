"""The dev cluster's add-ons, through the clients that use them.

* Traefik programs Gateways of the ``traefik`` class (``Programmed=True``, its loopback address in
  ``status.addresses``) and refuses a listener on a port it has no entrypoint for.
* ``mlendpoints fetch`` (the storage initializer) downloads ``az://`` and ``abfss://`` URIs from
  Azurite with the ``azurite-credentials`` Secret's connection string, and reports a missing blob.
* It downloads an ``https://`` folder from the host's file server, verifying the server
  certificate with the cluster CA the ``dev-files-ca`` Secret names, and refuses the server without it.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlendpoints_dev import azurite, gateway
from tests.integration.conftest import condition, get, wait_for

pytestmark = pytest.mark.timeout(600)  # the first test also starts the cluster


def _gateway(name: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name},
        "spec": {
            "gatewayClassName": gateway.GATEWAY_CLASS,
            "listeners": [{"name": "http", "protocol": "HTTP", "port": port}],
        },
    }


def _secret_env(cluster: Any, namespace: str, name: str) -> dict[str, str]:
    secret = cluster.kubectl_json("get", "secret", name, "-n", namespace)
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def _fetch(uri: str, dest: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "SSL_CERT"))}
    return subprocess.run(
        [sys.executable, "-m", "mlendpoints", "fetch", "--uri", uri, "--dest", str(dest)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_gateway_class_is_accepted_and_a_gateway_is_programmed_on_the_loopback_address(
    cluster: Any, namespace: str, addons: dict[str, Any]
) -> None:
    wait_for(
        lambda: (
            (condition(get(cluster, "gatewayclass", gateway.GATEWAY_CLASS), "Accepted") or {}).get("status")
            == "True"
        ),
        what="GatewayClass traefik Accepted=True",
    )
    cluster.apply(_gateway("gw", gateway.LISTENER_PORT), "-n", namespace)

    def programmed() -> dict[str, Any] | None:
        gw = get(cluster, "gateway", "gw", namespace)
        c = condition(gw, "Programmed")
        return gw if c is not None and c["status"] == "True" else None

    gw = wait_for(programmed, timeout=60, what="Gateway gw Programmed=True")
    assert [a["value"] for a in gw["status"]["addresses"]] == [addons["gateway"]["address"]]
    listener = gw["status"]["listeners"][0]
    assert listener["name"] == "http"
    assert {c["type"]: c["status"] for c in listener["conditions"]}["Programmed"] == "True"


def test_a_listener_on_a_port_traefik_does_not_serve_is_not_programmed(cluster: Any, namespace: str) -> None:
    cluster.apply(_gateway("gw-8081", 8081), "-n", namespace)

    def refused() -> dict[str, Any] | None:
        gw = get(cluster, "gateway", "gw-8081", namespace)
        listeners = ((gw or {}).get("status") or {}).get("listeners") or []
        conds = {c["type"]: c for c in listeners[0]["conditions"]} if listeners else {}
        accepted = conds.get("Accepted")
        return accepted if accepted is not None and accepted["status"] == "False" else None

    accepted = wait_for(refused, timeout=60, what="listener on 8081 Accepted=False")
    assert accepted["reason"] == "PortUnavailable", accepted


def test_fetch_downloads_az_and_abfss_uris_from_azurite(
    cluster: Any, namespace: str, addons: dict[str, Any], tmp_path: Path
) -> None:
    env = _secret_env(cluster, "default", azurite.SECRET_NAME)
    assert env[azurite.CONNECTION_STRING_KEY] == addons["azurite"]["connection_string"]
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "model.bin").write_bytes(os.urandom(70_000))
    (src / "sub" / "conda.yaml").write_text("name: test\n")
    blobs = azurite.upload(env[azurite.CONNECTION_STRING_KEY], src, "e2e", f"{namespace}/m1")
    assert sorted(blobs) == [f"{namespace}/m1/model.bin", f"{namespace}/m1/sub/conda.yaml"]

    for uri in (
        f"az://e2e/{namespace}/m1/",
        f"abfss://e2e@{azurite.ACCOUNT}.dfs.core.windows.net/{namespace}/m1/",
    ):
        dest = tmp_path / uri.split(":")[0]
        res = _fetch(uri, dest, env)
        assert res.returncode == 0, res.stderr
        assert (dest / "model.bin").read_bytes() == (src / "model.bin").read_bytes()
        assert (dest / "sub" / "conda.yaml").read_text() == "name: test\n"


def test_fetch_of_a_missing_blob_fails_naming_the_uri(cluster: Any, tmp_path: Path) -> None:
    env = _secret_env(cluster, "default", azurite.SECRET_NAME)
    res = _fetch("az://e2e/does-not-exist/", tmp_path / "d", env)
    assert res.returncode == 1
    assert "az://e2e/does-not-exist/: not found" in res.stderr


def test_fetch_downloads_an_https_folder_verifying_the_server_with_the_cluster_ca(
    cluster: Any, namespace: str, addons: dict[str, Any], tmp_path: Path
) -> None:
    root = Path(addons["files"]["root"]) / namespace
    (root / "m" / "sub").mkdir(parents=True)
    (root / "m" / "model.joblib").write_bytes(b"\x80\x04fake-but-bytes")
    (root / "m" / "sub" / "score.py").write_text("def init(): pass\n")
    url = f"{addons['files']['url']}{namespace}/m/"
    env = _secret_env(cluster, "default", "dev-files-ca")
    assert env == {"SSL_CERT_FILE": addons["files"]["ca"]}

    res = _fetch(url, tmp_path / "ok", env)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "ok" / "model.joblib").read_bytes() == b"\x80\x04fake-but-bytes"
    assert (tmp_path / "ok" / "sub" / "score.py").read_text() == "def init(): pass\n"

    res = _fetch(url, tmp_path / "untrusted", {})
    assert res.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in res.stderr
