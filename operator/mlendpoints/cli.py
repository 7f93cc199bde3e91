"""The one console script, ``mlendpoints``: a click group whose subcommands are imported lazily.

Two kinds of subcommand live in :data:`COMMANDS`:

- ``"package.module"``: a module exposing ``main(argv: list[str]) -> int`` that parses its own
  arguments (argparse). The root passes every argument after the command name through unchanged,
  so ``mlendpoints serve --port 5001`` is ``mlendpoints.runtime.cli.main(["--port", "5001"])``.
- ``"package.module:attribute"``: a click command or group (the ``az ml``-style verbs in
  :mod:`mlendpoints.azcli`), which gets click's help, option parsing and shell completion.

Nothing is imported until a command runs (or completes), so ``mlendpoints crds`` works with the
base install and ``mlendpoints serve`` never imports kopf or the Kubernetes client. Shell
completion is click's: ``eval "$(_MLENDPOINTS_COMPLETE=bash_source mlendpoints)"`` (zsh_source,
fish_source), or ``mlendpoints completion bash``.

Exit status: the subcommand's; 2 for a usage error, including ``mlendpoints`` with no command.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

#: subcommand -> (target, one-line help); target is ``module`` (``main(argv) -> int``) or ``module:click_object``
COMMANDS: dict[str, tuple[str, str]] = {
    "online-endpoint": (
        "mlendpoints.azcli.online:endpoint",
        "az ml online-endpoint: create|update|show|list|delete|invoke|get-credentials|regenerate-keys|get-logs",
    ),
    "online-deployment": (
        "mlendpoints.azcli.online:deployment",
        "az ml online-deployment: create|update|show|list|delete|get-logs",
    ),
    "batch-endpoint": (
        "mlendpoints.azcli.batchverbs:endpoint",
        "az ml batch-endpoint: create|update|show|list|delete|invoke|list-jobs",
    ),
    "batch-deployment": (
        "mlendpoints.azcli.batchverbs:deployment",
        "az ml batch-deployment: create|update|show|list|delete",
    ),
    "job": (
        "mlendpoints.azcli.batchverbs:job",
        "az ml job (batch scoring jobs): show|stream|cancel|list",
    ),
    "local": (
        "mlendpoints.azcli.localverbs:local",
        "local endpoints without a cluster: local up|down|list|show (then invoke --local)",
    ),
    "convert": (
        "mlendpoints.azcli.convertcmd:convert",
        "write mlendpoints manifests from Azure ML CLI v2 YAML",
    ),
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
    "dev": ("mlendpoints_dev.cli", "local control plane (dev cluster, dev demo); chart docs (dev values)"),
    "completion": (
        "mlendpoints.cli:completion",
        "print the shell completion script: completion bash|zsh|fish",
    ),
}

#: The dev tooling (local control plane) is a separate package, not in the wheel or the images.
DEV_PACKAGE = "mlendpoints_dev"
DEV_MISSING = (
    "mlendpoints dev: the development tools (package mlendpoints-dev) are not installed; they are not "
    "part of the mlendpoints package or its images. In a source checkout run `source .ci/bootstrap.sh` "
    "(or `pip install -e ./dev`)."
)

_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


def _passthrough(name: str, module: str, help_: str) -> click.Command:
    """A click command handing its raw arguments to ``module.main(argv)``."""

    def callback(args: tuple[str, ...]) -> None:
        try:
            target = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] != DEV_PACKAGE:
                raise
            click.echo(DEV_MISSING, err=True)
            raise SystemExit(2) from None
        rc: int = target.main(list(args))
        raise SystemExit(rc)

    return click.Command(
        name,
        help=help_,
        short_help=help_,
        context_settings=_PASSTHROUGH,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        callback=callback,
        add_help_option=False,
    )


class LazyGroup(click.Group):
    """A group resolving :data:`COMMANDS` entries on first use; help lists them without importing."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        target, help_ = entry
        module, _, attr = target.partition(":")
        if not attr:
            return _passthrough(cmd_name, module, help_)
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, help_) in COMMANDS.items()])


def _version() -> str:
    from mlendpoints import __version__

    return __version__


@click.group(
    "mlendpoints",
    cls=LazyGroup,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
@click.version_option(_version(), "--version", prog_name="mlendpoints", message="%(version)s")
def root() -> None:
    """mlendpoints: Azure-ML-style online and batch endpoints on Kubernetes.

    The az ml verbs (online-endpoint, online-deployment, batch-endpoint, batch-deployment) work
    on the cluster of the current kubeconfig and take Azure ML CLI v2 YAML; `mlendpoints COMMAND
    --help` shows each.
    """


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL, e.g. eval "$(mlendpoints completion bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - the three choices are click's built-ins
        raise click.UsageError(f"no completion for {shell}")
    click.echo(cls(root, {}, "mlendpoints", "_MLENDPOINTS_COMPLETE").source())


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); returns the exit status (never raises SystemExit).

    A reader that goes away (``mlendpoints … | head``) ends the command with status 1 and no
    ``BrokenPipeError`` message, as the Python docs advise (library/signal, "Note on SIGPIPE").
    """
    try:
        code = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


#: Top-level module -> the extra of pyproject.toml that installs it (what a command missing it needs).
EXTRA_OF = {
    **dict.fromkeys(("kubernetes", "kopf", "pydantic_settings"), "operator"),
    "azure": "azure",
    **dict.fromkeys(
        (
            "uvicorn",
            "orjson",
            "prometheus_client",
            "mlflow",
            "pandas",
            "numpy",
            "werkzeug",
            "inference_schema",
            "pyarrow",
        ),
        "runtime",
    ),
    "httpx": "local",
    **dict.fromkeys(("s3fs", "gcsfs", "adlfs"), "storage"),
    **dict.fromkeys(("scipy", "matplotlib"), "monitoring"),
}


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv: Any = root.main(args=args, prog_name="mlendpoints", standalone_mode=True)
    except ModuleNotFoundError as exc:  # an extra this command needs is not installed
        extra = EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        command = " ".join(a for a in args[:2] if not a.startswith("-"))
        print(
            f"mlendpoints {command}: needs the {exc.name!r} package, from the {extra!r} extra: "
            f"pip install 'mlendpoints[{extra}]'",
            file=sys.stderr,
        )
        return 2
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    return int(rv or 0)


if __name__ == "__main__":
    raise SystemExit(main())
