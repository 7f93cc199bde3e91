"""The one console script, ``mlendpoints``, dispatching to per-role subcommands.

Each subcommand lives with the code it drives and is imported lazily, so ``mlendpoints crds``
works with the base install (pydantic only) and ``mlendpoints serve`` never imports kopf.
Every subcommand module exposes ``main(argv: list[str]) -> int``.
"""

from __future__ import annotations

import importlib
import sys

#: subcommand -> (module with ``main(argv)``, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "crds": ("mlendpoints.api.crdgen", "generate crds/*.yaml (and the chart's CRDs) from the models"),
    "run": ("mlendpoints.controller.cli", "run the operator (kopf) against the current kubeconfig"),
    "render": (
        "mlendpoints.render.cli",
        "print the child objects a manifest would produce, without a cluster",
    ),
    "serve": ("mlendpoints.runtime.cli", "run the scoring server (Azure ML init()/run() contract, MLflow)"),
    "fetch": ("mlendpoints.storage.cli", "storage initializer: download a model or code URI into a folder"),
    "monitor": ("mlendpoints.monitoring.cli", "model monitoring: monitor drift --baseline URI --target URI"),
    "profile": ("mlendpoints.monitoring.profile", "load-test a deployment locally and recommend its sizing"),
    "batch": ("mlendpoints.batchctl", "batch jobs: run (locally or in a pod), invoke, show, list, cancel"),
    "dev": ("mlendpoints.devcluster.cli", "local control plane: dev cluster up|down|env|status, dev demo"),
}


def _usage() -> str:
    lines = ["usage: mlendpoints <command> [args...]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if args[0] == "--version":
        from mlendpoints import __version__

        print(__version__)
        return 0
    entry = COMMANDS.get(args[0])
    if entry is None:
        print(f"mlendpoints: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(entry[0])
    result: int = module.main(args[1:])
    return result


if __name__ == "__main__":
    raise SystemExit(main())
