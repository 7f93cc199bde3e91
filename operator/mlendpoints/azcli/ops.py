"""What the online verbs do beyond apply/get: keys, invoke through the scoring URI, pod logs."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import click

from mlendpoints.azcli.cluster import ENDPOINT, Session, errors
from mlendpoints.clients import resources

REGENERATE_ANNOTATION = "mlendpoints.io/regenerate-keys"
HANDLED_ANNOTATION = "mlendpoints.io/regenerate-keys-handled"
PIN_HEADER = "azureml-model-deployment"
#: Azure's container names for get-logs --container -> ours
CONTAINERS = {"inference-server": "scoring", "storage-initializer": "storage-initializer"}


def keys(session: Session, endpoint: str) -> dict[str, str]:
    """``{"primaryKey": ..., "secondaryKey": ...}`` from the endpoint's keys Secret.

    Raises:
        click.ClickException: the endpoint does not use keys, or the operator has not written them yet.
    """
    ep = session.must_get(ENDPOINT, endpoint)
    mode = (ep.get("spec") or {}).get("authMode", "key")
    if mode != "key":
        raise click.ClickException(f"OnlineEndpoint {endpoint} has authMode {mode}: it has no keys")
    secret_name = (ep.get("status") or {}).get("keysSecretName")
    if not secret_name:
        raise click.ClickException(
            f"OnlineEndpoint {endpoint}: the operator has not written its keys yet (status.keysSecretName)"
        )
    secret = session.get(resources.SECRET, secret_name)
    data = (secret or {}).get("data") or {}
    if "primaryKey" not in data:
        raise click.ClickException(f"Secret {secret_name} has no primaryKey")
    return {k: base64.b64decode(data[k]).decode() for k in ("primaryKey", "secondaryKey") if k in data}


def regenerate(session: Session, endpoint: str, key_type: str, timeout: float) -> dict[str, str]:
    """Ask the operator to rotate ``key_type`` (annotation), wait until it has; returns the new keys.

    Raises:
        click.ClickException: the rotation is not done within ``timeout`` seconds.
    """
    before = keys(session, endpoint)
    request = f"{key_type}@{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"
    session.patch(ENDPOINT, endpoint, {"metadata": {"annotations": {REGENERATE_ANNOTATION: request}}})
    secret_name = session.must_get(ENDPOINT, endpoint)["status"]["keysSecretName"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        secret = session.get(resources.SECRET, secret_name) or {}
        if ((secret.get("metadata") or {}).get("annotations") or {}).get(HANDLED_ANNOTATION) == request:
            after = keys(session, endpoint)
            field = f"{key_type}Key"
            if after[field] != before[field]:
                return after
        time.sleep(0.5)
    raise click.ClickException(
        f"OnlineEndpoint {endpoint}: the operator did not regenerate the {key_type} key within {timeout:.0f}s"
    )


def invoke(
    session: Session,
    endpoint: str,
    body: bytes,
    *,
    deployment: str | None,
    scoring_uri: str | None,
    timeout: float,
) -> tuple[int, bytes]:
    """POST ``body`` to the endpoint's scoring URI with its primary key; returns ``(status, response body)``.

    Raises:
        click.ClickException: no scoring URI yet, or the URI cannot be reached.
    """
    ep = session.must_get(ENDPOINT, endpoint)
    uri = scoring_uri or (ep.get("status") or {}).get("scoringUri")
    if not uri:
        raise click.ClickException(f"OnlineEndpoint {endpoint} has no scoring URI yet (status.scoringUri)")
    headers = {"Content-Type": "application/json"}
    if (ep.get("spec") or {}).get("authMode", "key") == "key":
        headers["Authorization"] = f"Bearer {keys(session, endpoint)['primaryKey']}"
    if deployment:
        headers[PIN_HEADER] = deployment
    return post(uri, body, headers, timeout)


def post(uri: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """POST ``body`` to ``uri``; returns ``(status, response body)`` (an HTTP error status too).

    Raises:
        click.ClickException: not an http(s) URL, or it cannot be reached.
    """
    if not uri.startswith(("http://", "https://")):
        raise click.ClickException(f"{uri}: not an http(s) URL")
    req = urllib.request.Request(uri, data=body, headers=headers, method="POST")  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - checked above
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())
    except (urllib.error.URLError, OSError) as exc:
        hint = (
            " (a cluster-internal address: routing none; pass --scoring-uri, e.g. through kubectl port-forward)"
            if ".svc." in uri
            else ""
        )
        raise click.ClickException(f"POST {uri}: {exc}{hint}") from exc


def logs(session: Session, endpoint: str, deployment: str, *, lines: int | None, container: str) -> str:
    """The log of ``container`` in the newest pod of ``endpoint``/``deployment``.

    Raises:
        click.ClickException: no pod yet, or an unknown container.
    """
    from kubernetes import client

    session.must_get(resources.ONLINE_DEPLOYMENT, deployment)
    pods = session.list(
        resources.POD, labels=f"mlendpoints.io/endpoint={endpoint},mlendpoints.io/deployment={deployment}"
    )
    if not pods:
        raise click.ClickException(f"OnlineDeployment {deployment} of {endpoint} has no pods (yet)")
    pod = max(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""))
    name = CONTAINERS.get(container, container)
    spec = pod.get("spec") or {}
    known = [c["name"] for c in [*spec.get("initContainers", []), *spec.get("containers", [])]]
    if name not in known:
        raise click.ClickException(
            f"pod {pod['metadata']['name']} has no container {container!r} (it has {', '.join(known)})"
        )
    waiting_on = _unfinished_init(pod) if name in [c["name"] for c in spec.get("containers", [])] else None
    if waiting_on is not None:
        init_name, state = waiting_on
        azure_name = next((a for a, ours in CONTAINERS.items() if ours == init_name), init_name)
        raise click.ClickException(
            f"container {container!r} of pod {pod['metadata']['name']} has not started: init container "
            f"{init_name} is {state}; read its log with --container {azure_name}"
        )
    core = client.CoreV1Api(session.kube.api)
    kwargs: dict[str, Any] = {"container": name}
    if lines is not None:
        kwargs["tail_lines"] = lines
    with errors(f"reading the log of pod {pod['metadata']['name']}"):
        text: str = core.read_namespaced_pod_log(pod["metadata"]["name"], session.namespace, **kwargs)
    return text


def _unfinished_init(pod: dict[str, Any]) -> tuple[str, str] | None:
    """The first init container that has not completed, with its state (``waiting: Reason``,
    ``running``, ``terminated: exit N``), from the pod's status; None when all completed."""
    for st in (pod.get("status") or {}).get("initContainerStatuses") or []:
        state = st.get("state") or {}
        done = state.get("terminated") or {}
        if done.get("exitCode") == 0:
            continue
        if done:
            return st["name"], f"terminated: exit {done.get('exitCode')} {done.get('reason') or ''}".rstrip()
        if "waiting" in state:
            return st["name"], f"waiting: {(state['waiting'] or {}).get('reason') or 'not started'}"
        return st["name"], "running"
    return None
