"""Images, container processes and their status, as a kubelet with a one-image "runtime".

Images: a process node has no container runtime. The project's own images (the operator's and
the scoring runtime's repositories, any tag or digest) map to the Python environment the agent
runs in: the image's ENTRYPOINT ``mlendpoints`` and its defaults (CMD, WORKDIR, ENV from the
Dockerfile) come from :data:`PROFILES`, and ``PATH`` starts with this environment's ``bin``
directory, so ``mlendpoints serve``/``fetch``/``python -m pip`` run the checkout's code. Any
other image ends ``ErrImagePull``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlendpoints_dev.nodeagent.kube import Obj
from mlendpoints_dev.nodeagent.probes import ProbeState

VENV_BIN = str(Path(sys.executable).parent)
BASE_PATH = f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageProfile:
    """What a project image would run: its Dockerfile's ENTRYPOINT, CMD, WORKDIR and ENV."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    workdir: str
    env: tuple[tuple[str, str], ...] = (
        ("PATH", BASE_PATH),
        ("PYTHONDONTWRITEBYTECODE", "1"),
        ("PYTHONUNBUFFERED", "1"),
        ("HOME", "/tmp"),  # noqa: S108 - the images' HOME (Dockerfile ENV)
    )


#: Image repository -> profile (see the Dockerfile's ``operator`` and ``runtime`` targets).
PROFILES: dict[str, ImageProfile] = {
    "ghcr.io/mlendpoints/runtime": ImageProfile(("mlendpoints",), ("serve",), "/var/azureml-app"),
    "ghcr.io/mlendpoints/operator": ImageProfile(("mlendpoints",), ("run",), "/"),
}


def repository(image: str) -> str:
    """``registry/repo`` of an image reference, without tag or digest."""
    ref = image.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def image_profile(image: str, extra: dict[str, ImageProfile] | None = None) -> ImageProfile | None:
    """The profile for ``image``, or None when a process node cannot run it."""
    profiles = {**PROFILES, **(extra or {})}
    return profiles.get(repository(image))


def pull_error(image: str) -> str:
    """The ErrImagePull message for an image we cannot run."""
    known = ", ".join(sorted(PROFILES))
    return (
        f'image "{image}" is not available on this process node: dev process nodes run only the '
        f"project's images ({known}, any tag) from the installed environment; use a kwok node "
        "for other images"
    )


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRun:
    """One container of a pod: its process across restarts and what its status shows."""

    spec: Obj
    init: bool
    logs: Path
    restart_count: int = 0
    proc: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    started_mono: float = 0.0
    waiting: tuple[str, str] = ("ContainerCreating", "")
    terminated: Obj | None = None
    last_terminated: Obj | None = None
    ready: bool = False
    started: bool = False  # startup probe passed (or none)
    crashes: int = 0  # consecutive, for the back-off
    next_start: float = 0.0
    probes: dict[str, ProbeState] = field(default_factory=dict)
    killed_reason: str | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def log_path(self, restart: int | None = None) -> Path:
        return self.logs / f"{self.restart_count if restart is None else restart}.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, launch: Obj, spec_dir: Path) -> None:
        """Spawn the launcher for this container (the PID becomes the container's process)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        spec_file = spec_dir / f"{self.name}.launch.json"
        spec_file.write_text(json.dumps(launch))
        spec_file.chmod(0o600)
        log = self.log_path().open("ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlendpoints_dev.nodeagent.launch", str(spec_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={"PATH": BASE_PATH},
            )
        finally:
            log.close()
        self.started_at, self.started_mono = now_iso(), time.monotonic()
        self.terminated, self.ready, self.killed_reason = None, False, None
        self.started = not self.spec.get("startupProbe")
        self.probes = {}

    def signal(self, sig: int) -> None:
        if self.running and self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds (the whole process group)."""
        if not self.running or self.proc is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=max(grace, 0.0))
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def reap(self, message_path: Path, error_file: Path) -> Obj | None:
        """If the process exited: record and return its ``terminated`` state (else None)."""
        if self.proc is None or self.proc.poll() is None:
            return None
        code = self.proc.returncode
        code = 128 - code if code < 0 else code  # killed by signal N -> 128+N, as runtimes report
        message = _read_message(message_path)
        reason = "Completed" if code == 0 else "Error"
        start_error = _read_message(error_file)
        if start_error:
            reason, message = "StartError", start_error
        elif (
            not message and code != 0 and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            message = tail(self.log_path(), 80, 2048)
        self.terminated = {
            "exitCode": code,
            "reason": reason,
            "startedAt": self.started_at,
            "finishedAt": now_iso(),
            "containerID": self.container_id,
        }
        if message:
            self.terminated["message"] = message
        self.proc, self.ready, self.started = None, False, False
        return self.terminated

    @property
    def container_id(self) -> str:
        return f"process://{self.logs.parent.parent.name}/{self.name}/{self.restart_count}"

    def status(self, image: str) -> Obj:
        """The containerStatuses entry, shaped like the kubelet's."""
        st: Obj = {
            "name": self.name,
            "image": image,
            "imageID": f"process://{repository(image)}",
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.running and self.started,
        }
        last = self.last_terminated
        if self.running:
            st["state"] = {"running": {"startedAt": self.started_at}}
            st["containerID"] = self.container_id
        elif self.next_start and self.terminated is not None:  # a restart is pending
            reason, msg = self.waiting
            st["state"] = {"waiting": {"reason": reason, **({"message": msg} if msg else {})}}
            last = self.terminated
        elif self.terminated is not None:
            st["state"] = {"terminated": self.terminated}
            st["containerID"] = self.container_id
        else:
            reason, msg = self.waiting
            st["state"] = {"waiting": {"reason": reason, **({"message": msg} if msg else {})}}
        st["lastState"] = {"terminated": last} if last else {}
        return st


def _read_message(path: Path) -> str:
    try:
        return path.read_bytes()[:4096].decode(errors="replace").strip()
    except OSError:
        return ""


def tail(path: Path, lines: int, limit: int) -> str:
    """The last ``lines`` lines of a file, at most ``limit`` bytes."""
    try:
        data = path.read_bytes()[-limit:]
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def command_line(spec: Obj, profile: ImageProfile, env: dict[str, str]) -> list[str]:
    """argv as a container runtime builds it from command/args and the image's ENTRYPOINT/CMD."""
    from mlendpoints_dev.nodeagent.fields import expand

    command = spec.get("command")
    args = spec.get("args")
    if command:
        argv = [*command, *(args or [])]
    elif args is not None:
        argv = [*profile.entrypoint, *args]
    else:
        argv = [*profile.entrypoint, *profile.cmd]
    return [expand(str(a), env) for a in argv]
