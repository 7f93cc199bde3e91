"""The state folder of local endpoints: one sub-folder per endpoint, read by every ``--local`` verb.

Layout (``<root>`` is ``--state-dir``, else ``MLENDPOINTS_LOCAL_DIR``, else
``$XDG_STATE_HOME/mlendpoints/local``, else ``~/.local/state/mlendpoints/local``, the XDG base
directory specification's place for state that outlives a process)::

    <root>/<endpoint>/endpoint.json      ports, pids, URLs, traffic (while it runs; `local down` removes it)
    <root>/<endpoint>/keys/primaryKey    the endpoint's keys (authMode key), kept across up/down
    <root>/<endpoint>/keys/secondaryKey
    <root>/<endpoint>/logs/<deployment>.log   each runtime's stdout and stderr; front.log for the front
    <root>/<endpoint>/fetched/<deployment>/   models and code fetched from URIs (our manifests)

The key file names are the runtime's (:data:`mlendpoints.api.contract.KEY_FILES`), so the front
and the runtimes check keys with the same :class:`~mlendpoints.runtime.auth.KeyStore`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ValidationError

from mlendpoints.api.contract import KEY_FILES

ENV_DIR = "MLENDPOINTS_LOCAL_DIR"
STATE_FILE = "endpoint.json"


class StateError(ValueError):
    """A local endpoint that is not there, or whose state cannot be read."""


class LocalDeployment(BaseModel):
    """One deployment's runtime process."""

    name: str
    port: int
    pid: int | None = None
    log: str
    model_dir: str | None = None
    code_dir: str | None = None
    #: the front waits this long for an answer (the runtime answers 408 itself before it)
    timeout_s: float


class LocalEndpoint(BaseModel):
    """What ``local up`` started: written to ``endpoint.json`` once every process answers."""

    name: str
    host: str
    port: int
    #: the front's pid (None while planning)
    pid: int | None = None
    auth_mode: str
    traffic: dict[str, int]
    mirror_traffic: dict[str, int]
    deployments: dict[str, LocalDeployment]
    #: the ``local up`` process that waits in the foreground (None: --detach)
    supervisor_pid: int | None = None

    @property
    def url(self) -> str:
        """The front's base URL, e.g. ``http://127.0.0.1:8123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def scoring_uri(self) -> str:
        return f"{self.url}/score"


def root(state_dir: str | None = None) -> Path:
    """The state root as an absolute path (see the module docstring for the order in which it is chosen)."""
    if state_dir:
        return Path(state_dir).absolute()
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).absolute()
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return (Path(xdg) / "mlendpoints" / "local").absolute()


def folder(root_dir: Path, endpoint: str) -> Path:
    return root_dir / endpoint


def keys_dir(root_dir: Path, endpoint: str) -> Path:
    return folder(root_dir, endpoint) / "keys"


def ensure_keys(root_dir: Path, endpoint: str) -> Path:
    """The endpoint's keys folder, with two new random keys written once; returns the folder."""
    where = keys_dir(root_dir, endpoint)
    where.mkdir(parents=True, exist_ok=True)
    for name in KEY_FILES:
        if not (where / name).exists():
            write_key(root_dir, endpoint, name)
    return where


def write_key(root_dir: Path, endpoint: str, name: str) -> None:
    """Write a new random key (``secrets.token_urlsafe(32)``, 43 characters, as the operator makes
    them) to key file ``name``, mode 0600, atomically (a rename: readers see the old or the new key)."""
    path = keys_dir(root_dir, endpoint) / name
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32))
    tmp.replace(path)


def read_keys(root_dir: Path, endpoint: str) -> dict[str, str]:
    """``{"primaryKey": ..., "secondaryKey": ...}``.

    Raises:
        StateError: the endpoint has no keys (never started, or authMode none).
    """
    where = keys_dir(root_dir, endpoint)
    try:
        return {name: (where / name).read_text().strip() for name in KEY_FILES}
    except OSError as exc:
        raise StateError(f"local endpoint {endpoint} has no keys in {where}") from exc


def write(root_dir: Path, ep: LocalEndpoint) -> Path:
    """Write ``endpoint.json`` atomically (a rename), so readers never see half of it."""
    path = folder(root_dir, ep.name) / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(ep.model_dump_json(indent=2))
    tmp.replace(path)
    return path


def read(root_dir: Path, endpoint: str) -> LocalEndpoint:
    """The running endpoint's state.

    Raises:
        StateError: no such local endpoint (lists the running ones), or an unreadable state file.
    """
    path = folder(root_dir, endpoint) / STATE_FILE
    try:
        return LocalEndpoint.model_validate_json(path.read_text())
    except FileNotFoundError:
        running = ", ".join(names(root_dir)) or "none"
        raise StateError(
            f"no local endpoint {endpoint} is running (running: {running}; state in {root_dir})"
        ) from None
    except (OSError, ValidationError) as exc:
        raise StateError(f"{path}: unreadable state: {exc}") from exc


def remove(root_dir: Path, endpoint: str) -> None:
    """Forget the running state (keys and logs stay)."""
    (folder(root_dir, endpoint) / STATE_FILE).unlink(missing_ok=True)


def names(root_dir: Path) -> list[str]:
    """Endpoints with a state file, sorted."""
    if not root_dir.is_dir():
        return []
    return sorted(p.parent.name for p in root_dir.glob(f"*/{STATE_FILE}"))
