"""How pods on process nodes reach the API server, piece by piece (no cluster needed).

* the API server's certificate is re-issued to name the node addresses only when one is missing;
* the agent's forwarder copies bytes both ways between a node address and the API server's port;
* containers get ``KUBERNETES_SERVICE_HOST``/``PORT`` like a kubelet gives them.

``tests/nodeagent/test_process_nodes.py`` checks the whole path from a real pod.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from cryptography import x509

from mlendpoints_dev import pki
from mlendpoints_dev.nodeagent import apiproxy


def test_apiserver_certificate_names_the_node_addresses_once(tmp_path: Path) -> None:
    keys = pki.ensure_pki(tmp_path / "pki")
    assert set(pki.apiserver_ips(keys)) == set(pki.APISERVER_IP_SANS)
    assert pki.ensure_apiserver_ips(keys, ["10.201.0.1", "10.201.1.1"]) is True
    assert set(pki.apiserver_ips(keys)) == {*pki.APISERVER_IP_SANS, "10.201.0.1", "10.201.1.1"}
    first = keys.apiserver_cert.read_bytes()
    assert pki.ensure_apiserver_ips(keys, ["10.201.1.1"]) is False  # already named: kept as is
    assert keys.apiserver_cert.read_bytes() == first
    cert = x509.load_pem_x509_certificate(first)
    ca = x509.load_pem_x509_certificate(keys.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    dns = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in dns.get_values_for_type(x509.DNSName)


def test_forwarder_copies_both_ways_and_half_closes() -> None:
    upstream = socket.create_server(("127.0.0.1", 0))
    up_port = upstream.getsockname()[1]

    def echo_upper() -> None:
        conn, _ = upstream.accept()
        with conn:
            data = b""
            while chunk := conn.recv(4096):  # until the client's half-close reaches us
                data += chunk
            conn.sendall(data.upper())

    threading.Thread(target=echo_upper, daemon=True).start()
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = apiproxy.serve("127.0.0.1", port, up_port)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(b"hello " * 20000)
            c.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := c.recv(65536):
                got += chunk
        assert got == b"HELLO " * 20000
    finally:
        server.shutdown()
        upstream.close()


def test_service_env_is_what_a_kubelet_sets() -> None:
    assert apiproxy.service_env("10.201.0.1", 6443) == {
        "KUBERNETES_SERVICE_HOST": "10.201.0.1",
        "KUBERNETES_SERVICE_PORT": "6443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "6443",
        "KUBERNETES_PORT": "tcp://10.201.0.1:6443",
    }


def test_without_the_ip_command_up_says_what_process_nodes_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlendpoints_dev import LocalCluster, processnodes
    from mlendpoints_dev.nodeagent import network

    cluster = LocalCluster("no-ip", state_dir=tmp_path / "state", process_nodes=2)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `ip` here
    with pytest.raises(network.NetworkError, match=r"need root .*--process-nodes 0"):
        processnodes.prepare_network(cluster, 2)
