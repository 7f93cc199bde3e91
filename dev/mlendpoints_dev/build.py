"""Make sure the control plane's binaries are in the cache, building only what is missing.

Why a build at all: kube-apiserver, kube-controller-manager, kube-scheduler and etcd cannot be
``go install``ed (their go.mod files carry ``replace`` lines) and there is no Docker or release
download on our machines, so ``build-binaries.sh`` compiles them from the Go module proxy in
throwaway wrapper modules. The script skips every component whose cache directory is complete,
so calling it for a partial cache builds only the missing pieces.

A machine with only Go (>= 1.26) and Python is enough. An exclusive lock on the cache keeps two
processes (say, ``mlendpoints dev build`` and a pytest session) from compiling the same thing twice.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from mlendpoints_dev import versions
from mlendpoints_dev.versions import Binaries

SCRIPT = Path(__file__).with_name("build-binaries.sh")


class BuildError(RuntimeError):
    """The binaries could not be built (no Go toolchain, no module proxy, compile error...)."""


@contextmanager
def cache_lock(cache: Path, *, stream: TextIO | None = None, every: float = 30) -> Iterator[None]:
    """Hold the cache's exclusive build lock; while another process holds it, say so every ``every`` s.

    Progress goes to ``stream`` (stderr by default) so a wait on a colleague's cold build is
    visibly alive instead of a silent hang.
    """
    out = stream if stream is not None else sys.stderr
    cache.mkdir(parents=True, exist_ok=True)
    lock = cache / ".build.lock"
    with lock.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            t0 = time.monotonic()
            print(
                f"[devcluster] waiting for the build in {lock_holder(lock)} (building into {cache})",
                file=out,
                flush=True,
            )
            report = t0 + every
            while True:
                time.sleep(1.0)
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= report:
                        report += every
                        waited = time.monotonic() - t0
                        print(
                            f"[devcluster]   ... still waiting for the build lock ({waited:.0f}s)",
                            file=out,
                            flush=True,
                        )
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {time.time():.0f}\n")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def lock_holder(lock: Path) -> str:
    """``process N, started at HH:MM:SS UTC`` for the holder of ``lock`` (its pid and start time,
    written by :func:`cache_lock`), or ``another process`` when the file says nothing usable."""
    try:
        pid, started = lock.read_text().split()[:2]
        when = time.strftime("%H:%M:%S UTC", time.gmtime(float(started)))
    except (OSError, ValueError):
        return "another process"
    return f"process {int(pid)}, started at {when}"


def ensure_binaries(
    cache: Path | None = None,
    *,
    stream: TextIO | None = None,
    force_check: bool = False,
    only: Collection[str] = (),
) -> Binaries:
    """Return the cached binaries' paths, running ``build-binaries.sh`` first if any are missing.

    ``only``: artifact names (keys of :meth:`Binaries.all`, e.g. ``("helm-docs",)``) to make sure
    of, building just their components; empty means every artifact. The script's progress lines
    are copied to ``stream`` (stderr by default) as they come, so a cold build (minutes) is
    visibly alive. Raises :class:`BuildError` with an actionable message when Go is missing or
    the build fails.
    """
    root = cache if cache is not None else versions.bin_cache()
    paths = versions.binary_paths(root)
    if not paths.missing(only) and not force_check:
        return paths
    out = stream if stream is not None else sys.stderr
    with cache_lock(root, stream=out):
        missing = paths.missing(only)  # another process may have finished the build while we waited
        if not missing:
            return paths
        go = shutil.which("go")
        if go is None:
            raise BuildError(
                "the pinned binaries (control plane, helm, helm-docs) are not all cached yet ("
                + ", ".join(missing)
                + f" missing under {root}) and building them needs Go >= 1.26 on PATH, which was not "
                "found. Install Go from https://go.dev/dl/ (or your package manager), or point "
                "MLENDPOINTS_BIN_CACHE at a cache built on another machine, or use an existing cluster "
                "with MLENDPOINTS_TEST_KUBECONFIG."
            )
        slow = [
            what
            for prefix, what in (("kube", "Kubernetes ~8 min"), ("traefik", "Traefik ~12 min"))
            if any(m.startswith(prefix) for m in missing)
        ]
        note = f" (from cold Go caches on 2 cores: {', '.join(slow)})" if slow else ""
        print(f"[devcluster] building {', '.join(missing)} into {root}{note}", file=out, flush=True)
        components = sorted({versions.COMPONENT_OF.get(m, m) for m in missing}) if only else []
        _run_script(root, go, components, out)
        still = paths.missing(only)
        if still:
            raise BuildError(f"build-binaries.sh finished but these are still missing: {', '.join(still)}")
    return paths


def _run_script(root: Path, go: str, components: list[str], out: TextIO) -> None:
    """Run ``build-binaries.sh`` into ``root`` (only ``components``; all when empty), copying its
    output to ``out`` line by line. Raises :class:`BuildError` with the output's tail on failure."""
    env = dict(os.environ, MLENDPOINTS_BIN_CACHE=str(root), PYTHON=sys.executable)
    env["MLENDPOINTS_BUILD_ONLY"] = " ".join(components)
    env["PATH"] = os.pathsep.join([str(Path(go).parent), env.get("PATH", "")])
    proc = subprocess.Popen(
        ["bash", str(SCRIPT), *versions.BUILD_ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        out.write(line)
        out.flush()
        tail = [*tail[-40:], line]
    rc = proc.wait()
    if rc != 0:
        raise BuildError(
            f"build-binaries.sh failed with exit code {rc}; last output:\n" + "".join(tail[-20:])
        )
