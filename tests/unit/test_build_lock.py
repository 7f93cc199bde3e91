"""A process waiting on another's binary build says which process holds the lock and since when."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

from mlendpoints_dev.build import cache_lock, lock_holder

HOLD = """
import sys, time
from pathlib import Path
from mlendpoints_dev.build import cache_lock
with cache_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_the_waiter_names_the_holder_and_gets_the_lock_after_it(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "2.5"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    out = io.StringIO()
    t0 = time.monotonic()
    with cache_lock(tmp_path, stream=out, every=1):
        waited = time.monotonic() - t0
    holder.wait(timeout=30)
    first = out.getvalue().splitlines()[0]
    assert first.startswith(f"[devcluster] waiting for the build in process {holder.pid}, started at "), first
    assert first.endswith(f"UTC (building into {tmp_path})"), first
    assert "still waiting for the build lock" in out.getvalue()
    assert waited > 1.0
    assert lock_holder(tmp_path / ".build.lock") == "another process"  # released: the file is emptied


def test_an_unreadable_lock_file_names_no_process(tmp_path: Path) -> None:
    (tmp_path / ".build.lock").write_text("garbage")
    assert lock_holder(tmp_path / ".build.lock") == "another process"
    assert lock_holder(tmp_path / "missing.lock") == "another process"
