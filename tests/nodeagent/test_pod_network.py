"""Pod network teardown against real namespaces (root only; no cluster).

Input: a pod namespace made by ``network.create_pod_netns`` on a bridge of a throwaway cluster id,
a TCP server inside it and a host connection to it, as the gateway holds to a pod. Output: after
``delete_pod_netns`` the host side has seen the connection close (EOF), so a gateway drops it from
its pool instead of reusing it when the pod's IP goes to the next pod (which would reset it: 502).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mlendpoints_dev.nodeagent import network

SERVER = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5001)); s.listen(8); print("listening", flush=True)
conn, _ = s.accept()
time.sleep(3600)  # holds the connection open, as an idle keep-alive connection, until killed
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")
def test_deleting_a_pod_netns_closes_its_connections_on_the_host_side(tmp_path: Path) -> None:
    net = network.setup_bridge(tmp_path, nodes=1)
    uid = str(uuid.uuid4())
    pod_ip = str(ipaddress.ip_network(net.node_cidr(0))[2])
    server = None
    try:
        ns = network.create_pod_netns(net, uid, pod_ip, 0)
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "listening"
        conn = socket.create_connection((pod_ip, 5001), timeout=5)
        conn.settimeout(5)
        network.delete_pod_netns(net, uid)
        try:
            data = conn.recv(1)
        except TimeoutError:
            pytest.fail("the host side never saw the pod's connection close (it would stay pooled)")
        assert data == b""  # FIN: the peer closed
        conn.close()
    finally:
        if server is not None and server.poll() is None:
            server.kill()
        network.sweep(tmp_path, bridge=True)
