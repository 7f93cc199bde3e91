"""Keep a dev cluster's logs when its state is deleted (``mlendpoints dev cluster down --keep-logs``).

A cluster's state directory holds, besides etcd data and certificates, every log worth reading after a
failure: the control-plane components' and the operator's (``logs/*.log``), the API server's audit log of
writes (``audit.log``) and the process nodes' container logs (``.../<container>/<restart>.log``). This
module copies exactly those files, keeping their paths relative to the state directory.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path


def log_files(state_dir: Path) -> list[Path]:
    """Every ``*.log`` file under ``state_dir`` (sorted; symlinks are not followed)."""
    return sorted(p for p in state_dir.rglob("*.log") if p.is_file() and not p.is_symlink())


def archive_logs(state_dir: Path, dest_root: Path, name: str, now: float | None = None) -> Path:
    """Copy the logs of the cluster in ``state_dir`` to ``dest_root/<name>-<UTC YYYYmmdd-HHMMSS>/``.

    Returns the new directory (created even when there are no logs, so the caller can always print it).
    ``now`` (seconds since the epoch, default: the current time) names the directory.
    Raises ``OSError`` when a file cannot be copied.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    dest = dest_root / f"{name}-{stamp}"
    dest.mkdir(parents=True, exist_ok=True)
    for src in log_files(state_dir):
        target = dest / src.relative_to(state_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest
