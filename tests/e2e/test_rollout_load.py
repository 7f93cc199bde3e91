"""Rollouts under steady load through the gateway: not one request may fail.

A bounded load (60 requests/s, loopback only, at most a couple of minutes per test) runs while
traffic moves blue -> green (100/0, 50/50, 0/100), while blue is updated in place (a new pod
template rolls), and while one of two pods is deleted. Every non-200 answer and every transport
error counts as a failure. Zero failures needs the whole chain to be graceful: the runtime stops
being ready but keeps serving for its drain period on SIGTERM, the node agent sends SIGTERM and
waits the grace period, EndpointSlices drop the terminating pod, and Traefik follows them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e import helpers
from tests.e2e.helpers import keys as _keys
from tests.e2e.helpers import post as _post
from tests.e2e.helpers import ready as _ready
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.timeout(600)
RATE = 60.0


def _start(cluster: Any, ns: str, scoring: dict[str, Any], name: str, traffic: dict[str, int],
           instances: dict[str, int]) -> helpers.Load:  # fmt: skip
    models = scoring["models"]
    cluster.apply([helpers.endpoint(name, traffic),
                   *(helpers.deployment(d, name, models[d], instances=n) for d, n in instances.items())],
                  "-n", ns)  # fmt: skip
    _ready(cluster, ns, name, *instances)
    url = helpers.score_url(scoring["gateway_url"], ns, name)
    key = _keys(cluster, ns, name)["primaryKey"]
    wait_for(lambda: _post(url, scoring["row"], key).status_code == 200, timeout=60, what="route served")
    return helpers.Load(url, key, {"data": scoring["row"]}, scoring["who"], rate=RATE, max_seconds=150)


def _hold(load: helpers.Load, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.2)


def _check(cluster: Any, load: helpers.Load) -> None:
    assert load.sent >= 200, f"only {load.sent} requests sent"
    assert load.achieved_rate() >= 50, f"{load.achieved_rate():.1f} req/s is below the 50 req/s floor"
    assert load.failures == [], (
        f"{len(load.failures)} of {load.sent} failed: {load.failures[:10]}{helpers.gateway_errors(cluster)}"
    )


def test_blue_to_green_shift_under_load_fails_no_request(
    cluster: Any, ns: str, scoring: dict[str, Any]
) -> None:
    load = _start(cluster, ns, scoring, "shift", {"blue": 100, "green": 0}, {"blue": 1, "green": 1})
    with load:
        _hold(load, 3)
        for traffic, expect in (
            ({"blue": 50, "green": 50}, {"blue", "green"}),
            ({"blue": 0, "green": 100}, {"green"}),
        ):
            cluster.kubectl("patch", "oep", "shift", "-n", ns, "--type=merge",
                            "-p", json.dumps({"spec": {"traffic": traffic}}))  # fmt: skip
            mark = dict(load.served)
            wait_for(lambda e=expect, m=mark: {k for k in e if load.served[k] > m.get(k, 0) + 20} == e,  # type: ignore[misc]
                     timeout=60, what=f"answers from {expect}")  # fmt: skip
            _hold(load, 3)
        green_only_from = dict(load.served)
        _hold(load, 3)
        assert load.served["blue"] == green_only_from["blue"], "blue still served at 0/100"
    _check(cluster, load)


def test_in_place_update_of_blue_under_load_fails_no_request(
    cluster: Any, ns: str, scoring: dict[str, Any]
) -> None:
    load = _start(cluster, ns, scoring, "upd", {"blue": 100}, {"blue": 1})
    old = {p["metadata"]["uid"] for p in cluster.kubectl_json("get", "pods", "-n", ns, "-l",
                                                               "mlendpoints.io/deployment=blue")["items"]}  # fmt: skip
    with load:
        _hold(load, 3)
        cluster.kubectl("patch", "odep", "blue", "-n", ns, "--type=merge",
                        "-p", '{"spec":{"environmentVariables":{"E2E_REVISION":"2"}}}')  # fmt: skip

        def rolled() -> bool:
            pods = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/deployment=blue")[
                "items"
            ]
            uids = {p["metadata"]["uid"] for p in pods}
            return bool(uids) and not uids & old

        wait_for(rolled, timeout=240, interval=1, what="blue's pods replaced by the new template")
        _ready(cluster, ns, "upd", "blue")
        _hold(load, 3)
    _check(cluster, load)


def test_deleting_one_of_two_pods_under_load_fails_no_request(
    cluster: Any, ns: str, scoring: dict[str, Any]
) -> None:
    load = _start(cluster, ns, scoring, "del", {"blue": 100}, {"blue": 2})
    pods = cluster.kubectl_json("get", "pods", "-n", ns, "-l", "mlendpoints.io/deployment=blue")["items"]
    assert len(pods) == 2
    with load:
        _hold(load, 3)
        cluster.kubectl("delete", "pod", pods[0]["metadata"]["name"], "-n", ns, "--wait=true", timeout=120)
        _ready(cluster, ns, "del", "blue")
        _hold(load, 3)
    _check(cluster, load)
