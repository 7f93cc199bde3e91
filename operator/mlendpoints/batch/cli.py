"""``mlendpoints batch run``: run the batch runner in a Job's pod (configured by the environment)
or locally from a BatchDeployment manifest.

Locally::

    mlendpoints batch run -f deployment.yaml --input DIR_OR_URI --output DIR [--set key=value ...]

``model.path`` and ``codeConfiguration.code`` are fetched when the storage initializer can
download them (https, s3, gs, az, abfss, wasbs); ``pvc://``, ``oci://`` and code in a ConfigMap
exist only in a cluster: point ``--model-dir``/``--code-dir`` at local copies. ``--set`` takes the BatchJob's settings
overrides (``miniBatchSize=5``, ``retrySettings.timeout=60``, snake_case works too).

Exit status: 0 the job succeeded (failures below errorThreshold included), 3 it failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

from mlendpoints.batch import contract, settings
from mlendpoints.batch.config import ConfigError, Input, RunConfig, from_env
from mlendpoints.batch.runner import configure_logging, run_index
from mlendpoints.batch.state import Counters


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlendpoints batch run", description=__doc__.split("\n\n")[0])
    p.add_argument("-f", "--filename", help="BatchDeployment manifest (omit in pods: read the environment)")
    p.add_argument("--input", action="append", default=[], help="input folder, file or URI (repeatable)")
    p.add_argument("--input-type", choices=["uri_folder", "uri_file"], default=None)
    p.add_argument("--output", help="output folder or URI")
    p.add_argument("--model-dir", help="local model folder (instead of model.path)")
    p.add_argument("--code-dir", help="local code folder (instead of codeConfiguration.code)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


class _Bar:
    """A one-line progress bar on stderr (a terminal), else nothing: the logs say enough."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, c: Counters) -> None:
        if not self.enabled or not c.total_mini_batches:
            return
        width = 30
        filled = width * c.completed_mini_batches // c.total_mini_batches
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {c.completed_mini_batches}/{c.total_mini_batches} "
            f"mini-batches, {c.succeeded_items} items ok, {c.failed_items} failed"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _local_config(args: argparse.Namespace) -> RunConfig:
    if not args.input or not args.output:
        raise ConfigError("--input and --output are required with -f")
    manifest = Path(args.filename)
    dep = settings.load_deployment(manifest)
    merged = settings.merge(dep, settings.parse_overrides(args.overrides))
    scratch = Path(tempfile.mkdtemp(prefix="mlendpoints-batch-local-"))
    model_dir = args.model_dir or settings.local_source(
        dep.spec.model.path, manifest.parent, scratch / "model", "model.path"
    )
    entry, source = None, None
    code = dep.spec.code_configuration
    if code is not None:
        entry = code.scoring_script
        if args.code_dir:
            source = args.code_dir
        elif code.code is not None:
            source = settings.local_source(
                code.code, manifest.parent, scratch / "code", "codeConfiguration.code"
            )
        else:
            raise ConfigError("codeConfiguration.configMap exists only in a cluster: pass --code-dir")
    kind = args.input_type
    inputs = tuple(
        Input(f"input{n}" if len(args.input) > 1 else "data", path, kind or _guess_type(path))
        for n, path in enumerate(args.input)
    )
    return settings.run_config(merged, inputs=inputs, output=args.output, model_dir=model_dir,
                               source_dir=source, entry_script=entry, extra_env=True)  # fmt: skip


def _guess_type(path: str) -> str:
    if "://" in path and not path.startswith("file://"):
        return "uri_file" if path.rsplit("/", 1)[-1].count(".") and not path.endswith("/") else "uri_folder"
    local = path[len("file://") :] if path.startswith("file://") else path
    return "uri_file" if os.path.isfile(local) else "uri_folder"


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        config = _local_config(args) if args.filename else from_env()
    except (ConfigError, settings.ManifestError) as exc:
        print(f"mlendpoints batch run: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.logging_level)
    bar = _Bar(enabled=bool(args.filename) and not args.no_progress)
    outcome = run_index(config, on_progress=bar)
    bar.close()
    c = outcome.counters
    logging.getLogger("mlendpoints.batch").log(
        logging.INFO if outcome.ok else logging.ERROR,
        "%s: %s (%d/%d mini-batches, %d items succeeded, %d failed)%s",
        "done" if outcome.ok else "FAILED",
        outcome.message,
        c.completed_mini_batches,
        c.total_mini_batches,
        c.succeeded_items,
        c.failed_items,
        f"; first error: {outcome.error}" if outcome.error else "",
    )
    if args.filename:
        print(f"outputs in {config.output}")
    return contract.EXIT_OK if outcome.ok else contract.EXIT_JOB_FAILED
