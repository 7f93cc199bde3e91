"""What the ``--local`` verbs do: keys, invoke through the front, a deployment's log.

``online-endpoint invoke|get-credentials|get-logs --local`` and ``online-deployment get-logs
--local`` call these; they read only the state folder (:mod:`.state`), never a cluster.
"""

from __future__ import annotations

from pathlib import Path

from mlendpoints.local import procs, state

PIN_HEADER = "azureml-model-deployment"


def keys(root: Path, name: str) -> dict[str, str]:
    """``{"primaryKey": ..., "secondaryKey": ...}`` of a local endpoint.

    Raises:
        state.StateError: authMode none (no keys), or an endpoint never started.
    """
    try:
        ep = state.read(root, name)
    except state.StateError:
        ep = None  # stopped: its keys stay in the state folder
    if ep is not None and ep.auth_mode != "key":
        raise state.StateError(f"local endpoint {name} has authMode {ep.auth_mode}: it has no keys")
    return state.read_keys(root, name)


def regenerate(root: Path, name: str, key_type: str) -> None:
    """Write a new ``primary`` or ``secondary`` key; the front and the runtimes take it within a
    second (their :class:`~mlendpoints.runtime.auth.KeyStore` re-reads the files), no restart.

    Raises:
        state.StateError: authMode none, or an endpoint never started.
    """
    keys(root, name)  # the same checks as get-credentials
    state.write_key(root, name, f"{key_type}Key")


def scoring_request(root: Path, name: str, deployment: str | None) -> tuple[str, dict[str, str]]:
    """``(scoring URI, headers)`` for a request to a running local endpoint (key and pin included).

    Raises:
        state.StateError: the endpoint is not running.
    """
    ep = state.read(root, name)
    headers = {"Content-Type": "application/json"}
    if ep.auth_mode == "key":
        headers["Authorization"] = f"Bearer {state.read_keys(root, name)['primaryKey']}"
    if deployment:
        headers[PIN_HEADER] = deployment
    return ep.scoring_uri, headers


def log(root: Path, name: str, deployment: str, lines: int | None) -> str:
    """The runtime log of ``deployment`` (its stdout and stderr), or its last ``lines`` lines.

    Raises:
        state.StateError: no log for that deployment (lists the ones there are).
    """
    where = state.folder(root, name) / "logs"
    path = where / f"{deployment}.log"
    if not path.is_file():
        there = sorted(p.stem for p in where.glob("*.log") if p.stem != "front") if where.is_dir() else []
        raise state.StateError(
            f"local endpoint {name} has no log for deployment {deployment} "
            f"(logs: {', '.join(there) or 'none'}; in {where})"
        )
    if lines is None:
        return path.read_text(errors="replace")
    return procs.tail(path, lines) + "\n"
