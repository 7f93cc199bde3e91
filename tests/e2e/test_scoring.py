"""Scoring for real: pods run as processes on the process nodes, requests go through Traefik.

* keys: primary and secondary work, none or a wrong one get 401; key rotation by annotation
  takes effect in the running pods without a restart;
* Ready means served: right after Ready, a request pinned to each deployment reaches it through
  Traefik (the operator's gateway probe), and answers name it in ``azureml-model-deployment``;
* ``azureml-model-deployment`` pins a deployment; a 70/30 split holds within a binomial bound;
* a slow ``init()`` keeps the pod unready and the deployment Reconciling until it finishes;
* an unreachable model URI ends in ``ModelDownloadFailed`` with the fetch error; ``init()``
  raising ends in ``CrashLoopBackOff``/Stalled with the script's error text;
* the rendered security settings the node agent applies (non-root user, no ServiceAccount
  token) hold for the scoring process itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from scipy.stats import binomtest

from tests.e2e import helpers
from tests.e2e.helpers import keys as _keys
from tests.e2e.helpers import post as _post
from tests.e2e.helpers import ready as _ready
from tests.integration.conftest import condition, get, wait_condition, wait_for

pytestmark = pytest.mark.timeout(600)


def _served_by(cluster: Any, scoring: dict[str, Any], response: httpx.Response) -> str:
    assert response.status_code == 200, response.text + helpers.gateway_errors(cluster)
    return str(scoring["who"][round(float(response.json()[0]), 6)])


def test_keys_pin_and_weighted_split_through_the_gateway(
    cluster: Any, ns: str, scoring: dict[str, Any]
) -> None:
    models, row = scoring["models"], scoring["row"]
    cluster.apply(
        [helpers.endpoint("split", {"blue": 70, "green": 30}),
         helpers.deployment("blue", "split", models["blue"]), helpers.deployment("green", "split", models["green"])],
        "-n", ns,
    )  # fmt: skip
    _ready(cluster, ns, "split", "blue", "green")
    url = helpers.score_url(scoring["gateway_url"], ns, "split")
    keys = _keys(cluster, ns, "split")
    # Ready means it serves: the operator's gateway probe has seen Traefik route each pin to its
    # deployment, so the first requests after Ready already reach both (no waiting for Traefik).
    for name in ("green", "blue"):
        r = _post(url, row, keys["primaryKey"], **{"azureml-model-deployment": name})
        assert _served_by(cluster, scoring, r) == name
        assert r.headers.get_list("azureml-model-deployment") == [name]
    assert _served_by(cluster, scoring, _post(url, row, keys["secondaryKey"])) in ("blue", "green")
    assert _post(url, row, None).status_code == 401
    assert _post(url, row, "not-the-key").status_code == 401
    for _ in range(20):
        r = _post(url, row, keys["primaryKey"], **{"azureml-model-deployment": "green"})
        assert _served_by(cluster, scoring, r) == "green"
    # a pin to no deployment of the endpoint is not scored by whichever the default rule picks
    r = _post(url, row, keys["primaryKey"], **{"azureml-model-deployment": "purple"})
    assert r.status_code == 404, r.text
    assert "no deployment 'purple' serves this endpoint" in r.json()["message"]

    n = 300
    served = [_served_by(cluster, scoring, _post(url, row, keys["primaryKey"])) for _ in range(n)]
    blue = served.count("blue")
    assert blue + served.count("green") == n
    # Two-sided exact binomial test of p=0.7: a correct 70/30 split fails it 1 time in 10,000.
    assert binomtest(blue, n, 0.7).pvalue > 1e-4, f"blue {blue} / green {n - blue} for a 70/30 split"


def test_key_rotation_takes_effect_in_running_pods_without_a_restart(
    cluster: Any, ns: str, scoring: dict[str, Any]
) -> None:
    cluster.apply([helpers.endpoint("rot", {"blue": 100}), helpers.deployment("blue", "rot", scoring["models"]["blue"])],
                  "-n", ns)  # fmt: skip
    _ready(cluster, ns, "rot", "blue")
    url, row = helpers.score_url(scoring["gateway_url"], ns, "rot"), scoring["row"]
    old = _keys(cluster, ns, "rot")
    wait_for(lambda: _post(url, row, old["primaryKey"]).status_code == 200, timeout=60, what="route served")
    pods = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/deployment=blue")["items"]
    before = {p["metadata"]["uid"]: p["status"]["containerStatuses"][0]["restartCount"] for p in pods}

    cluster.kubectl(
        "annotate", "oep", "rot", "-n", ns, "mlendpoints.io/regenerate-keys=primary@1", "--overwrite"
    )
    new = wait_for(lambda: (k := _keys(cluster, ns, "rot"))["primaryKey"] != old["primaryKey"] and k,
                   timeout=60, what="a new primary key")  # fmt: skip
    assert new["secondaryKey"] == old["secondaryKey"]
    # The kubelet-style atomic Secret update reaches the mounted files; the runtime rereads them.
    wait_for(
        lambda: _post(url, row, new["primaryKey"]).status_code == 200, timeout=120, what="the new key to work"
    )
    wait_for(
        lambda: _post(url, row, old["primaryKey"]).status_code == 401, timeout=60, what="the old key to fail"
    )
    assert _post(url, row, old["secondaryKey"]).status_code == 200
    pods = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/deployment=blue")["items"]
    after = {p["metadata"]["uid"]: p["status"]["containerStatuses"][0]["restartCount"] for p in pods}
    assert after == before, "the pods were restarted or replaced"


def test_slow_init_keeps_the_pod_unready_and_the_deployment_reconciling(
    cluster: Any, ns: str, scoring: dict[str, Any]
) -> None:
    cluster.apply([helpers.endpoint("slow", {"blue": 100}),
                   helpers.deployment("blue", "slow", scoring["models"]["blue"], env={"E2E_INIT_SLEEP": "25"})],
                  "-n", ns)  # fmt: skip

    def running_unready() -> dict[str, Any] | None:
        pods = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/deployment=blue")["items"]
        for p in pods:
            statuses = (p.get("status") or {}).get("containerStatuses") or []
            if statuses and "running" in (statuses[0].get("state") or {}) and not statuses[0].get("ready"):
                return p
        return None

    wait_for(running_unready, timeout=180, what="the scoring container running but not ready")
    dep = get(cluster, "onlinedeployment", "blue", ns)
    assert (condition(dep, "Ready") or {}).get("status") != "True", dep  # kstatus: Unknown while reconciling
    assert (condition(dep, "Reconciling") or {}).get("status") == "True", dep
    ep = get(cluster, "onlineendpoint", "slow", ns)
    assert (condition(ep, "Ready") or {}).get("status") != "True", ep
    _ready(cluster, ns, "slow", "blue", timeout=180)
    dep = get(cluster, "onlinedeployment", "blue", ns)
    assert (condition(dep, "Reconciling") or {}).get("status") != "True", dep


def test_unreachable_model_uri_is_model_download_failed_with_the_fetch_error(
    cluster: Any, ns: str, addons: dict[str, Any], scoring: dict[str, Any]
) -> None:
    from mlendpoints_dev.addons import _free_on

    host = addons["files"]["host"]
    closed = _free_on(host, None)  # free right now: nothing listens there
    uri = f"https://{host}:{closed}/models/1/"
    cluster.apply([helpers.endpoint("nomodel", {"blue": 100}),
                   helpers.deployment("blue", "nomodel", uri, credentials=None)], "-n", ns)  # fmt: skip
    dep = wait_condition(
        cluster, "onlinedeployment", "blue", ns, "Stalled", reason="ModelDownloadFailed", timeout=240
    )
    message = condition(dep, "Stalled")["message"]  # type: ignore[index]
    assert uri in message, message
    assert "Connection refused" in message, message


#: Well under what Azure ML's default liveness probe (10 s + 30 failures x 10 s, twice before
#: CrashLoopBackOff) would take if the runtime stayed up after init() raised: it exits instead.
STALLED_WITHIN_S = 240


def test_init_raising_is_crash_loop_and_stalled_with_the_scripts_error(
    cluster: Any, ns: str, scoring: dict[str, Any]
) -> None:
    cluster.apply([helpers.endpoint("boom", {"blue": 100}),
                   helpers.deployment("blue", "boom", scoring["models"]["blue"],
                                      env={"E2E_INIT_RAISE": "e2e: the model registry said no"})],
                  "-n", ns)  # fmt: skip
    dep = wait_condition(
        cluster,
        "onlinedeployment",
        "blue",
        ns,
        "Stalled",
        reason="CrashLoopBackOff",
        timeout=STALLED_WITHIN_S,
    )
    message = condition(dep, "Stalled")["message"]  # type: ignore[index]
    assert "e2e: the model registry said no" in message, message
    pods = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/deployment=blue")["items"]
    status = next(c for c in pods[0]["status"]["containerStatuses"] if c["name"] == "scoring")
    last = (status.get("lastState") or {}).get("terminated") or {}
    assert last.get("exitCode") == 3, status  # the runtime's "model failed to load" exit
    assert "e2e: the model registry said no" in last.get("message", ""), status


def _processes_in_pod(pod_uid: str) -> list[int]:
    """PIDs whose network namespace is the pod's (``/run/netns/mlp-<cluster>-<pod uid>``)."""
    import glob

    paths = glob.glob(f"/run/netns/mlp-*-{pod_uid}")
    assert len(paths) == 1, paths
    inode = os.stat(paths[0]).st_ino
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/net") == f"net:[{inode}]":
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def test_rendered_security_settings_are_visible_in_the_scoring_process(
    cluster: Any, ns: str, scoring: dict[str, Any]
) -> None:
    cluster.apply(
        [
            helpers.endpoint("sec", {"blue": 100}),
            helpers.deployment("blue", "sec", scoring["models"]["blue"]),
        ],
        "-n",
        ns,
    )
    _ready(cluster, ns, "sec", "blue")
    pod = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/deployment=blue")["items"][0]
    spec = pod["spec"]
    scoring_spec = next(c for c in spec["containers"] if c["name"] == "scoring")
    psc, csc = spec.get("securityContext") or {}, scoring_spec.get("securityContext") or {}
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    assert uid is not None or (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")), spec
    uid = 1000 if uid is None else int(uid)  # runAsNonRoot alone: the project image's USER 1000
    assert spec["automountServiceAccountToken"] is False
    pids = _processes_in_pod(pod["metadata"]["uid"])
    assert pids, "no process runs in the pod's network namespace"
    for pid in pids:  # No ServiceAccount token: nothing is mounted where clients look for one.
        assert not os.path.exists(f"/proc/{pid}/root/var/run/secrets/kubernetes.io/serviceaccount/token")
    events = cluster.kubectl_json("get", "events", "-n", ns, "--field-selector",
                                  f"involvedObject.uid={pod['metadata']['uid']}")["items"]  # fmt: skip
    # The agent applies runAsUser also when Python lives under a directory that user may not
    # search (e.g. /root/.pyenv): it exposes just the Python environment in the pod's mounts.
    not_applied = [e["message"] for e in events if e.get("reason") == "SecurityContextNotApplied"]
    assert not not_applied, not_applied
    for pid in pids:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        status = dict(line.split(":", 1) for line in lines if ":" in line)
        real, effective = status["Uid"].split()[:2]
        assert (int(real), int(effective)) == (uid, uid), f"pid {pid} runs as {status['Uid'].strip()}"
