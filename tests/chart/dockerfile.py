"""Read the Dockerfile, and replay a target's build stages on this machine (there is no Docker here).

:func:`parse` splits the Dockerfile into stages of instructions (continuations joined, comments
dropped). :func:`replay` runs, for one final target, the build stages it copies from: their
``WORKDIR``, ``COPY`` (from the build context, i.e. the repository, as .dockerignore allows) and
``RUN`` steps, **with the same commands**, inside a scratch directory standing in for the image's
root. Absolute paths under :data:`ROOT_DIRS` are mapped into it; the OS-level ``base`` stage (user
creation) is checked statically instead. It returns the final stage's environment (``ENV``), so
tests start the entry points the way the image would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
#: Image directories the build stages use; replay maps them under a scratch root.
ROOT_DIRS = ("/src", "/opt")


@dataclass
class Instruction:
    cmd: str
    args: str

    @property
    def flags(self) -> dict[str, str]:
        return dict(re.findall(r"--([\w-]+)=(\S+)", self.args))

    @property
    def operands(self) -> list[str]:
        return [a for a in self.args.split() if not a.startswith("--")]


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, cmd: str) -> list[Instruction]:
        return [i for i in self.instructions if i.cmd == cmd]


def parse(text: str | None = None) -> dict[str, Stage]:
    """Stages by name (``AS`` name, else their index), in file order."""
    text = DOCKERFILE.read_text() if text is None else text
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        logical.append(current + line)
        current = ""
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line in logical:
        cmd, _, args = line.partition(" ")
        cmd = cmd.upper()
        if cmd == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stage = Stage(name=name, base=parts[0])
            stages[name] = stage
        else:
            assert stage is not None, f"{cmd} before FROM"
            stage.instructions.append(Instruction(cmd, args.strip()))
    return stages


def chain(stages: dict[str, Stage], name: str) -> list[Stage]:
    """``name`` and the stages it is built FROM, base first."""
    out = [stages[name]]
    while out[0].base in stages:
        out.insert(0, stages[out[0].base])
    return out


def build_stage_of(stages: dict[str, Stage], target: str) -> str:
    """The stage a final target copies its files from (``COPY --from=``)."""
    sources = {i.flags["from"] for i in stages[target].all("COPY") if "from" in i.flags}
    assert len(sources) == 1, f"{target} copies from {sources}"
    return sources.pop()


def _map(text: str, root: Path) -> str:
    return re.sub(r"(?<![\w./-])(/(?:src|opt))(?=[/\"'\s\[\]]|$)", lambda m: f"{root}{m[1]}", text)


def _copy(src: Path, dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    if src.is_dir():
        shutil.copytree(src, dest, ignore=ignore, dirs_exist_ok=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def replay(target: str, root: Path, *, timeout: float = 900) -> dict[str, str]:
    """Run the build stages of ``target`` under ``root``; return the final image's environment."""
    stages = parse()
    build = build_stage_of(stages, target)
    tools = root / "_tools"
    tools.mkdir(parents=True, exist_ok=True)
    # `python` in RUN is the base image's interpreter; here, this machine's Python 3.11.
    base_python = Path(getattr(sys, "_base_executable", sys.executable))
    (tools / "python").symlink_to(base_python)
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    workdir = root
    for stage in chain(stages, build):
        if stage.base not in stages:  # the OS base stage: user creation, checked statically
            continue
        for ins in stage.instructions:
            if ins.cmd == "WORKDIR":
                workdir = Path(_map(ins.args, root))
                workdir.mkdir(parents=True, exist_ok=True)
            elif ins.cmd == "COPY":
                *sources, dest = ins.operands
                target_dir = Path(_map(dest, root)) if dest.startswith("/") else workdir / dest
                for src in sources:
                    path = REPO / src
                    _copy(
                        path, target_dir / path.name if dest.endswith("/") and path.is_file() else target_dir
                    )
            elif ins.cmd == "RUN":
                command = _map(ins.args, root)
                subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", command],
                    cwd=workdir,
                    env=env,
                    check=True,
                    timeout=timeout,
                )
            elif ins.cmd in {"ENV", "ARG"}:
                raise AssertionError(f"replay does not model {ins.cmd} in build stage {stage.name}")
    final: dict[str, str] = {}
    for ins in stages[target].all("ENV"):
        for key, value in re.findall(r"(\w+)=(\S+)", ins.args):
            final[key] = _map(value, root).replace("$PATH", os.environ["PATH"])
    return final
