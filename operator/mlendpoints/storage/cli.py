"""``mlendpoints fetch --uri U --dest D``: the storage initializer's command line.

Exit status 0 on success; 1 with a one-line reason on stderr, also written to the container's
termination message file (``/dev/termination-log``) so it shows in the pod status, where the
reconciler reads it to report the deployment as Stalled with that reason.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from mlendpoints.storage.errors import FetchError
from mlendpoints.storage.fetch import fetch

#: Kubernetes' default terminationMessagePath; written only when it exists (inside a container).
TERMINATION_LOG = Path("/dev/termination-log")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlendpoints fetch", description="Download a model or code URI into a folder."
    )
    parser.add_argument(
        "--uri", required=True, help="https://, s3://, gs://, az://, abfss://, wasbs://, file:// or a path"
    )
    parser.add_argument(
        "--dest", required=True, type=Path, help="folder to download into (created if needed)"
    )
    return parser


def _report(message: str) -> None:
    print(f"mlendpoints fetch: {message}", file=sys.stderr)
    if TERMINATION_LOG.exists():
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(message[:4000])


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    try:
        fetch(args.uri, args.dest)
    except FetchError as exc:
        _report(str(exc))
        return 1
    files = [p for p in args.dest.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(
        f"mlendpoints fetch: {args.uri} -> {args.dest}: {len(files)} files, {size} bytes "
        f"in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    return 0
