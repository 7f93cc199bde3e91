"""The demo's scoring half: train the example models, store them where examples/ points, score.

* :func:`train_and_upload`: a scikit-learn ``LinearRegression`` (blue) and ``Ridge`` (green) on
  the diabetes data that ships with scikit-learn, saved as ``model.joblib`` and uploaded to
  Azurite at ``az://models/diabetes/1/`` and ``/2/`` (where ``examples/online/blue-green.yaml``
  points); the iris MLflow models of ``examples/online/mlflow-autoscale.yaml`` go to
  ``az://models/iris/mlflow/`` and ``/mlflow-v2/``.
* :func:`score_through_gateway`: one prediction, the blue/green split over :data:`SPLIT_REQUESTS`
  requests, a call pinned to green by ``azureml-model-deployment: green``, and a call without a key
  (401), all through the Gateway with the endpoint's key.

Which deployment answered is told from the prediction itself: blue and green are different
models, so each gives its own, known value for the demo's input row.
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlendpoints_dev import azurite
from mlendpoints_dev.cluster import KWOK_NODE_ANNOTATION, KubeCluster

CONTAINER = "models"
SPLIT_REQUESTS = 200
ENDPOINT = "diabetes"
PIN_HEADER = "azureml-model-deployment"


def _diabetes_models() -> dict[str, Any]:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression, Ridge

    x, y = load_diabetes(return_X_y=True)
    return {"blue": LinearRegression().fit(x, y), "green": Ridge(alpha=0.5).fit(x, y), "row": x[:1].tolist()}


def train_and_upload(conn: str, log: Callable[[str], None]) -> dict[str, float]:
    """Train and upload every example model; returns each diabetes deployment's prediction for the demo row."""
    import joblib

    trained = _diabetes_models()
    row = trained["row"]
    expected = {}
    with tempfile.TemporaryDirectory() as tmp:
        for version, name in ((1, "blue"), (2, "green")):
            model = trained[name]
            folder = Path(tmp) / name
            folder.mkdir()
            joblib.dump(model, folder / "model.joblib")
            blobs = azurite.upload(conn, folder, CONTAINER, f"diabetes/{version}")
            expected[name] = round(float(model.predict(row)[0]), 6)
            log(
                f"  {name}: {type(model).__name__} -> az://{CONTAINER}/diabetes/{version}/ ({', '.join(blobs)})"
            )
        log("  iris: training the MLflow models of examples/online/mlflow-autoscale.yaml")
        for sub in ("mlflow", "mlflow-v2"):
            folder = Path(tmp) / sub
            _save_iris_mlflow(folder, c=1.0 if sub == "mlflow" else 0.5)
            blobs = azurite.upload(conn, folder, CONTAINER, f"iris/{sub}")
            log(f"  iris -> az://{CONTAINER}/iris/{sub}/ ({len(blobs)} files)")
    return expected


def _save_iris_mlflow(folder: Path, *, c: float) -> None:
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(C=c, max_iter=500).fit(x, y)
    # cloudpickle: the default (skops) format needs a package the runtime does not ship
    mlflow.sklearn.save_model(model, str(folder), serialization_format="cloudpickle")


def simulated_deployments(pods: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> dict[str, list[str]]:
    """``{"<namespace>/<endpoint>/<deployment>": [node, ...]}`` for each online deployment whose
    scheduled pods all sit on kwok's nodes, where no container runs (``kubectl get`` items in).

    Such a deployment can report Ready (kwok marks its pods Ready) but answers nothing.
    """
    kwok = {
        n["metadata"]["name"]
        for n in nodes
        if KWOK_NODE_ANNOTATION in (n["metadata"].get("annotations") or {})
    }
    placed: dict[str, set[str]] = {}
    for p in pods:
        labels = p["metadata"].get("labels") or {}
        if "mlendpoints.io/deployment" not in labels or not p["spec"].get("nodeName"):
            continue
        key = f"{p['metadata']['namespace']}/{labels.get('mlendpoints.io/endpoint', '?')}/"
        placed.setdefault(key + labels["mlendpoints.io/deployment"], set()).add(p["spec"]["nodeName"])
    return {k: sorted(v) for k, v in sorted(placed.items()) if v <= kwok}


def endpoint_key(cluster: KubeCluster, namespace: str = "default", endpoint: str = ENDPOINT) -> str:
    """The endpoint's primary key, from the ``<endpoint>-keys`` Secret the operator manages."""
    secret = cluster.kubectl_json("get", "secret", f"{endpoint}-keys", "-n", namespace)
    return base64.b64decode(secret["data"]["primaryKey"]).decode()


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 10) -> tuple[int, bytes]:
    """POST and return ``(status, body)``; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})  # noqa: S310 - the dev gateway
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - the dev gateway on loopback
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


#: Seconds an object must stay Stalled before :func:`wait_ready` gives up on it.
STALLED_FOR = 30.0


def wait_ready(
    cluster: KubeCluster, log: Callable[[str], None], timeout: float = 300, namespace: str = "default"
) -> None:
    """Wait until the diabetes endpoint and both deployments are Ready, printing progress every 10 s.

    Raises:
        RuntimeError: not Ready within ``timeout`` s, or one of them has stayed Stalled for
            :data:`STALLED_FOR` s (a Stalled object does not recover by itself; a short Stalled,
            such as an InstanceType the operator has not seen yet, is waited out).
    """
    deadline = time.monotonic() + timeout
    last = 0.0
    stalled_since: dict[str, float] = {}
    while True:
        objs = cluster.kubectl_json("get", f"onlineendpoint/{ENDPOINT}", "onlinedeployment/blue",
                                    "onlinedeployment/green", "-n", namespace)["items"]  # fmt: skip
        states = {}
        for o in objs:
            conds = {c["type"]: c for c in (o.get("status") or {}).get("conditions") or []}
            ready = conds.get("Ready", {})
            name = f"{o['kind']}/{o['metadata']['name']}"
            states[name] = (ready.get("status"), ready.get("message") or ready.get("reason"))
            stalled = conds.get("Stalled", {})
            if stalled.get("status") == "True":
                since = stalled_since.setdefault(name, time.monotonic())
                if time.monotonic() - since >= STALLED_FOR:
                    why = f"{stalled.get('reason')}: {stalled.get('message')}"
                    raise RuntimeError(f"{name} is Stalled ({why}); it will not become Ready by itself")
            else:
                stalled_since.pop(name, None)
        if len(states) == 3 and all(s == "True" for s, _ in states.values()):
            return
        if time.monotonic() - last >= 10:
            last = time.monotonic()
            for name, (status, msg) in states.items():
                log(f"  {name}: Ready={status} {msg or ''}".rstrip())
            pods = cluster.kubectl("get", "pods", "-n", namespace, "-l", f"mlendpoints.io/endpoint={ENDPOINT}",
                                   "--no-headers", check=False).stdout.strip()  # fmt: skip
            for line in pods.splitlines():
                log(f"    pod {' '.join(line.split()[:3])}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {ENDPOINT} endpoint is not Ready after {timeout:.0f}s: {states}")
        time.sleep(2)


def score_through_gateway(gateway_url: str, key: str, expected: dict[str, float], log: Callable[[str], None],
                          namespace: str = "default") -> Counter[str]:  # fmt: skip
    """Print one prediction, the split over :data:`SPLIT_REQUESTS` requests, a pinned call and a 401."""
    url = f"{gateway_url}/endpoints/{namespace}/{ENDPOINT}/score"
    body = json.dumps({"data": _diabetes_models()["row"]}).encode()
    auth = {"Authorization": f"Bearer {key}"}
    by_value = {v: k for k, v in expected.items()}

    def who(payload: bytes) -> str:
        value = round(float(json.loads(payload)[0]), 6)
        return by_value.get(value, f"unknown ({value})")

    status, payload = post(url, body, auth)
    if status != 200:
        raise RuntimeError(f"POST {url} answered {status}: {payload[:300]!r}")
    log(f"  POST {url} -> {status} {payload.decode()} (served by {who(payload)})")
    counts: Counter[str] = Counter()
    for _ in range(SPLIT_REQUESTS):
        status, payload = post(url, body, auth)
        counts[who(payload) if status == 200 else f"HTTP {status}"] += 1
    log(
        f"  split over {SPLIT_REQUESTS} requests: "
        + " / ".join(f"{k} {n}" for k, n in sorted(counts.items()))
    )
    status, payload = post(url, body, {**auth, PIN_HEADER: "green"})
    log(
        f"  with {PIN_HEADER}: green -> {status} {payload.decode()} (served by {who(payload) if status == 200 else '-'})"
    )
    status, payload = post(url, body, {})
    log(f"  without a key -> {status} {payload.decode()[:120]}")
    return counts
