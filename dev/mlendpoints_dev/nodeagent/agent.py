"""The node agent process: registers the process nodes and plays their kubelet.

One process serves every process node of a cluster: it sweeps what a previous run left, creates
the bridge, registers the Nodes (SSA) with podCIDR, address, capacity and kubelet port, renews
their Leases every 10 s, serves ``/containerLogs`` on each node address, forwards the API server
there (:mod:`.apiproxy`), keeps a watch-fed cache
of ConfigMaps, Secrets, PVCs and PVs (provisioning ``dev-hostpath`` claims, see
:mod:`.provisioner`), and runs one :class:`PodWorker` per pod bound to its nodes.
SIGTERM stops every container (grace capped at 5 s), removes every pod namespace and the bridge.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlendpoints_dev.nodeagent import apiproxy, kubelet, network, nodes, provisioner
from mlendpoints_dev.nodeagent.kube import ApiError, Credentials, Kube, Obj
from mlendpoints_dev.nodeagent.pods import PodWorker
from mlendpoints_dev.nodeagent.runtime import NodeEnv, PodRuntime

log = logging.getLogger("nodeagent")


class Cache:
    """List+watch caches of namespaced ConfigMaps, Secrets, PVCs and cluster-scoped PVs."""

    RESOURCES = ("configmaps", "secrets", "persistentvolumeclaims", "persistentvolumes")

    def __init__(self, kube: Kube, stop: threading.Event, on_change: Callable[[str, Obj], None]) -> None:
        self.kube, self.stop, self.on_change = kube, stop, on_change
        self.data: dict[str, dict[tuple[str, str], Obj]] = {r: {} for r in self.RESOURCES}
        self.synced = {r: threading.Event() for r in self.RESOURCES}

    def start(self) -> None:
        for r in self.RESOURCES:
            threading.Thread(target=self._loop, args=(r,), name=f"cache-{r}", daemon=True).start()
        for ev in self.synced.values():
            ev.wait(30)

    def _changed(self, res: str, obj: Obj) -> None:
        try:
            self.on_change(res, obj)
        except Exception:  # a handler bug must not stop the cache
            log.exception("handling %s %s", res, obj["metadata"].get("name"))

    def get(self, kind: str, ns: str, name: str) -> Obj | None:
        return self.data[kind].get((ns, name))

    def _loop(self, res: str) -> None:
        path = f"/api/v1/{res}"
        while not self.stop.is_set():
            try:
                lst = self.kube.get(path)
                kind = lst.get("kind", "").removesuffix("List")
                fresh = {}
                for o in lst.get("items", []):
                    o["kind"] = kind
                    fresh[(o["metadata"].get("namespace", ""), o["metadata"]["name"])] = o
                self.data[res] = fresh
                self.synced[res].set()
                for o in fresh.values():
                    self._changed(res, o)
                for ev in self.kube.watch(path, lst["metadata"]["resourceVersion"]):
                    o = ev["object"]
                    if ev["type"] == "BOOKMARK":
                        continue
                    key = (o["metadata"].get("namespace", ""), o["metadata"]["name"])
                    if ev["type"] == "DELETED":
                        self.data[res].pop(key, None)
                    else:
                        o["kind"] = kind
                        self.data[res][key] = o
                        self._changed(res, o)
            except (ApiError, OSError, ValueError) as e:
                log.debug("cache %s: %s; re-listing", res, e)
                self.stop.wait(1)


class Agent:
    def __init__(self, config: dict[str, Any]) -> None:
        self.cfg = config
        self.state_dir = Path(config["state_dir"])
        self.dir = self.state_dir / "nodeagent"
        self.count = int(config["nodes"])
        self.names = [f"{config.get('prefix', 'process-node')}-{i}" for i in range(self.count)]
        self.kube = Kube(Credentials(**config["credentials"]))
        self.stop = threading.Event()
        self.workers: dict[str, PodWorker] = {}
        self.lock = threading.Lock()
        self.cache = Cache(self.kube, self.stop, self._on_change)
        self.volumes_dir = self.dir / "volumes"
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    # ------------------------------------------------------------------ startup
    def run(self) -> None:
        for what in network.sweep(self.state_dir, bridge=False):
            log.info("swept leftover %s", what)
        prev = self._read_net()
        net = network.setup_bridge(self.state_dir, self.count, prev)
        log.info("pod network %s on bridge %s", net.cidr, net.bridge)
        provisioner.ensure_storage_class(self.kube)
        self.cache.start()
        env = NodeEnv(
            kube=self.kube,
            net=net,
            nodes={n: i for i, n in enumerate(self.names)},
            pods_dir=self.dir / "pods",
            lookup=self.cache.get,
            token=self._token,
            apiserver_port=urlsplit(self.cfg["credentials"]["server"]).port or 443,
        )
        self.env = env
        port = nodes.kubelet_port(net.gateway(0), self.cfg.get("kubelet_port"))
        cert, key = nodes.serving_cert(self.state_dir, [net.gateway(i) for i in range(self.count)])
        ca = Path(self.cfg["credentials"]["ca"])
        servers: list[Any] = [
            kubelet.serve(net.gateway(i), port, cert, key, ca, self._find_log) for i in range(self.count)
        ]
        api_port = env.apiserver_port
        servers += [apiproxy.serve(net.gateway(i), api_port, api_port) for i in range(self.count)]
        for i, name in enumerate(self.names):
            nodes.register(self.kube, name, net, i, port, taint=bool(self.cfg.get("taint", True)))
        self._write_net(net, port)
        for name in self.names:
            threading.Thread(target=self._watch_pods, args=(name,), name=f"pods-{name}", daemon=True).start()
        log.info("nodes %s registered; kubelet API on port %d", ", ".join(self.names), port)
        while not self.stop.wait(10):
            for name in self.names:
                nodes.heartbeat(self.kube, name)
            self._reap_workers()
        self._shutdown(servers)

    def _read_net(self) -> str | None:
        try:
            return str(json.loads((self.dir / "network.json").read_text())["cidr"])
        except (OSError, ValueError, KeyError):
            return None

    def _write_net(self, net: network.ClusterNet, port: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        info = {
            "cidr": net.cidr,
            "bridge": net.bridge,
            "kubelet_port": port,
            "nodes": [
                {"name": n, "podCIDR": net.node_cidr(i), "address": net.gateway(i)}
                for i, n in enumerate(self.names)
            ],
        }
        (self.dir / "network.json").write_text(json.dumps(info, indent=2) + "\n")

    def _on_change(self, res: str, obj: Obj) -> None:
        if res == "persistentvolumeclaims":
            provisioner.provision(self.kube, obj, self.volumes_dir)
        elif res == "persistentvolumes":
            provisioner.reclaim(self.kube, obj, self.volumes_dir)

    def _token(self, pod: Obj, proj: Obj) -> str:
        key = (pod["metadata"]["uid"], proj["path"])
        cached = self._tokens.get(key)
        if cached and time.time() < cached[1]:
            return cached[0]
        ns, sa = pod["metadata"]["namespace"], pod["spec"].get("serviceAccountName", "default")
        spec: Obj = {
            "expirationSeconds": int(proj.get("expirationSeconds", 3607)),
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod["metadata"]["name"],
                               "uid": pod["metadata"]["uid"]},
        }  # fmt: skip
        if proj.get("audience"):
            spec["audiences"] = [proj["audience"]]
        tr = self.kube.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token", {"spec": spec})
        token = str(tr["status"]["token"])
        self._tokens[key] = (token, time.time() + 0.8 * spec["expirationSeconds"])
        return token

    # ------------------------------------------------------------------ pods
    def _watch_pods(self, node: str) -> None:
        sel = {"fieldSelector": f"spec.nodeName={node}"}
        while not self.stop.is_set():
            try:
                lst = self.kube.get("/api/v1/pods", **sel)
                seen = set()
                for pod in lst.get("items", []):
                    seen.add(pod["metadata"]["uid"])
                    self._dispatch("MODIFIED", pod)
                with self.lock:
                    lost = [w for uid, w in self.workers.items() if w.rt.env and uid not in seen
                            and w.pod["spec"]["nodeName"] == node]  # fmt: skip
                for w in lost:
                    w.gone()
                for ev in self.kube.watch("/api/v1/pods", lst["metadata"]["resourceVersion"], **sel):
                    if ev["type"] != "BOOKMARK":
                        self._dispatch(ev["type"], ev["object"])
            except (ApiError, OSError, ValueError) as e:
                log.debug("pod watch %s: %s; re-listing", node, e)
                self.stop.wait(1)

    def _dispatch(self, etype: str, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if etype == "DELETED":
                if worker:
                    worker.gone()
                return
            if worker is not None:
                worker.update(pod)
                return
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed") or self.stop.is_set():
                if pod["metadata"].get("deletionTimestamp"):  # nothing runs: finish the deletion
                    PodRuntime(pod, self.env).delete_pod()
                return
            worker = PodWorker(pod, PodRuntime(pod, self.env))
            self.workers[uid] = worker
        worker.update(pod)
        worker.start()

    def _reap_workers(self) -> None:
        with self.lock:
            for uid in [u for u, w in self.workers.items() if not w.is_alive()]:
                del self.workers[uid]

    def _find_log(self, ns: str, pod: str, container: str | None, previous: bool) -> Any:
        with self.lock:
            ws = [w for w in self.workers.values() if w.pod["metadata"]["namespace"] == ns
                  and w.pod["metadata"]["name"] == pod]  # fmt: skip
        if not ws:
            return f'pod "{pod}" not found on this node'
        w = ws[-1]
        c = w.container(container)
        if c is None:
            names = [x.name for x in [*w.mains, *w.inits]]
            if container is None:
                return f"a container name must be specified for pod {pod}, choose one of: {names}"
            return f'container "{container}" in pod "{pod}" not found'
        if previous:
            if c.restart_count == 0:
                return f'previous terminated container "{c.name}" in pod "{pod}" not found'
            return c.log_path(c.restart_count - 1), lambda: False
        restart = c.restart_count
        return c.log_path(), lambda: c.running and c.restart_count == restart

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self, servers: list[Any]) -> None:
        log.info("stopping: %d pods", len(self.workers))
        with self.lock:
            workers = list(self.workers.values())
        for w in workers:
            w.stop_now()
        for w in workers:
            w.join(timeout=15)
        for s in servers:
            s.shutdown()
        for what in network.sweep(self.state_dir, bridge=True):
            log.info("removed %s", what)


def main(config_path: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(message)s")
    config = json.loads(Path(config_path).read_text())
    agent = Agent(config)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop.set())
    signal.signal(signal.SIGINT, lambda *_: agent.stop.set())
    try:
        agent.run()
    except Exception:
        log.exception("node agent failed")
        network.sweep(agent.state_dir, bridge=True)
        raise
