"""The cluster connection of the az-ml-style verbs: kubeconfig, namespace, server-side apply, waiting.

Every call goes through :func:`connect`'s :class:`Session`; a cluster that cannot be reached or
refuses a request becomes one :class:`click.ClickException` line (exit 1), never a traceback.
Writes are server-side applies with the field manager ``mlendpoints-cli``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from mlendpoints.clients import resources
from mlendpoints.clients.resources import Kind

FIELD_MANAGER = "mlendpoints-cli"
ENDPOINT = resources.ONLINE_ENDPOINT
DEPLOYMENT = resources.ONLINE_DEPLOYMENT


def current_namespace() -> str:
    """``MLENDPOINTS_NAMESPACE``, else the kubeconfig context's namespace, else ``default``."""
    env = os.environ.get("MLENDPOINTS_NAMESPACE")
    if env:
        return env
    try:
        from kubernetes import config

        _, ctx = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
        return str((ctx or {}).get("context", {}).get("namespace") or "default")
    except Exception:  # no kubeconfig: the connection reports that
        return "default"


@contextlib.contextmanager
def errors(what: str) -> Iterator[None]:
    """Turn Kubernetes client and connection errors into one ClickException line naming ``what``."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as exc:
        try:
            message = json.loads(exc.body or "{}").get("message") or exc.reason
        except ValueError:
            message = exc.body or exc.reason
        raise click.ClickException(f"{what}: {message} (HTTP {exc.status})") from exc
    except ConfigException as exc:
        raise click.ClickException(f"{what}: no usable kubeconfig: {exc}") from exc
    except (HTTPError, OSError) as exc:
        raise click.ClickException(f"{what}: the cluster is not reachable: {exc}") from exc


@dataclass
class Session:
    """A connected client and the namespace the verbs work in."""

    kube: Any  # mlendpoints.clients.kube.Kube
    namespace: str

    def get(self, kind: Kind, name: str, *, namespace: str | None = None) -> dict[str, Any] | None:
        ns = None if not kind.namespaced else namespace or self.namespace
        with errors(f"reading {kind.kind} {name}"):
            result: dict[str, Any] | None = self.kube.get(kind, ns, name)
            return result

    def must_get(self, kind: Kind, name: str) -> dict[str, Any]:
        obj = self.get(kind, name)
        if obj is None:
            raise click.ClickException(f"{kind.kind} {name} not found in namespace {self.namespace}")
        return obj

    def list(self, kind: Kind, labels: str | None = None) -> list[dict[str, Any]]:
        with errors(f"listing {kind.plural}"):
            items: list[dict[str, Any]] = self.kube.list(
                kind, self.namespace if kind.namespaced else None, labels=labels
            )
            return items

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = resources.of(obj)
        if kind.namespaced:
            obj = {
                **obj,
                "metadata": {
                    **obj["metadata"],
                    "namespace": obj["metadata"].get("namespace") or self.namespace,
                },
            }
        with errors(f"applying {obj['kind']} {obj['metadata']['name']}"):
            result: dict[str, Any] = self.kube.apply(obj, field_manager=FIELD_MANAGER)
            return result

    def patch(self, kind: Kind, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        with errors(f"patching {kind.kind} {name}"):
            result: dict[str, Any] = self.kube.patch(kind, self.namespace, name, patch)
            return result

    def delete(self, kind: Kind, name: str) -> bool:
        with errors(f"deleting {kind.kind} {name}"):
            return bool(self.kube.delete(kind, self.namespace, name))


def connect(namespace: str | None, kubeconfig: str | None = None) -> Session:
    """A :class:`Session` on ``kubeconfig`` (default: the first file of ``KUBECONFIG``, else
    ``~/.kube/config``), checked with one request.

    Raises:
        click.ClickException: no kubeconfig, or the API server does not answer.
    """
    from mlendpoints.clients.kube import Kube, load_api_client

    with errors("connecting to the cluster"):
        api = load_api_client(kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None)
        api.configuration.retries = 1
        kube = Kube(api, field_manager=FIELD_MANAGER)
        kube.has_resource("v1", "namespaces")  # one cheap request: fail here, with one line
    return Session(kube, namespace or current_namespace())


def ready_state(obj: dict[str, Any]) -> tuple[str, str]:
    """``("ready"|"stalled"|"waiting", message)`` from kstatus conditions of the current generation."""
    status = obj.get("status") or {}
    conds = {c["type"]: c for c in status.get("conditions") or []}
    current = status.get("observedGeneration") == obj["metadata"].get("generation")
    stalled, ready = conds.get("Stalled", {}), conds.get("Ready", {})
    if current and stalled.get("status") == "True":
        return "stalled", f"{stalled.get('reason')}: {stalled.get('message', '')}"
    if current and ready.get("status") == "True":
        return "ready", ready.get("message", "")
    return "waiting", ready.get("message") or ready.get("reason") or "waiting for the operator"


def wait_ready(session: Session, kind: Kind, name: str, timeout: float) -> dict[str, Any]:
    """Poll until ``kind/name`` is Ready; progress lines on stderr every 10 s.

    Raises:
        click.ClickException: it is Stalled, gone, or not Ready within ``timeout`` seconds.
    """
    deadline, last = time.monotonic() + timeout, 0.0
    while True:
        obj = session.must_get(kind, name)
        state, message = ready_state(obj)
        if state == "ready":
            return obj
        if state == "stalled":
            raise click.ClickException(f"{kind.kind} {name} is Stalled: {message}")
        if time.monotonic() > deadline:
            raise click.ClickException(f"{kind.kind} {name} is not Ready after {timeout:.0f}s: {message}")
        if time.monotonic() - last >= 10:
            last = time.monotonic()
            click.echo(f"waiting for {kind.kind} {name}: {message}", err=True)
        time.sleep(1)


def wait_gone(session: Session, kind: Kind, name: str, timeout: float) -> None:
    """Poll until ``kind/name`` no longer exists.

    Raises:
        click.ClickException: still there after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while session.get(kind, name) is not None:
        if time.monotonic() > deadline:
            raise click.ClickException(f"{kind.kind} {name} still exists after {timeout:.0f}s")
        time.sleep(0.5)


def _shown(obj: Any) -> Any:
    """``obj`` without ``metadata.managedFields`` (server-side apply bookkeeping), lists item by item."""
    if isinstance(obj, list):
        return [_shown(o) for o in obj]
    if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
        return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
    return obj


def output(obj: Any, fmt: str) -> None:
    """Print ``obj`` (without managedFields) as JSON (Azure CLI's default) or YAML."""
    obj = _shown(obj)
    if fmt == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(obj, sort_keys=False))
    else:
        click.echo(json.dumps(obj, indent=2))
