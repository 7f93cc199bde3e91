"""What the az-ml verbs share: common options, create/update from -f files, delete, tables.

Used by :mod:`.online` and :mod:`.batchverbs`. ``apply_files`` is create/update: read the files
(our manifests, or Azure ML YAML converted by :mod:`mlendpoints.convert`), upload local folders,
check that the resource does (update) or does not (create) exist, apply everything with
server-side apply, then wait for Ready.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from mlendpoints.azcli import cluster, manifests
from mlendpoints.azcli.cluster import Session
from mlendpoints.clients.resources import Kind

F = Callable[..., Any]


def namespace_option(f: F) -> F:
    return click.option(
        "--namespace",
        help="Kubernetes namespace (default: MLENDPOINTS_NAMESPACE or the kubeconfig context's)",
    )(f)


def output_option(f: F) -> F:
    return click.option(
        "-o", "--output", type=click.Choice(["json", "yaml"]), default="json", show_default=True
    )(f)


def apply_options(f: F) -> F:
    decorators: list[Callable[[F], F]] = [
        click.option(
            "-f",
            "--file",
            "files",
            multiple=True,
            help="YAML: our manifests or Azure ML CLI v2 YAML; repeatable",
        ),
        namespace_option,
        click.option("--dry-run", is_flag=True, help="print the manifests (YAML) instead of applying them"),
        click.option("--no-wait", is_flag=True, help="return once applied, without waiting for Ready"),
        click.option(
            "--timeout", type=float, default=600, show_default=True, help="seconds to wait for Ready"
        ),
        click.option(
            "--model-store",
            envvar=manifests.ENV_DEFAULTS["model_store"],
            show_envvar=True,
            help="az://CONTAINER/PREFIX local model/code folders are uploaded to (default on the dev cluster: its Azurite)",
        ),
        click.option(
            "--store-secret",
            envvar=manifests.ENV_DEFAULTS["store_secret"],
            show_envvar=True,
            help="Secret with AZURE_STORAGE_CONNECTION_STRING for --model-store (the pods download with it)",
        ),
        click.option(
            "--gateway",
            envvar=manifests.ENV_DEFAULTS["gateway"],
            show_envvar=True,
            metavar="[NAMESPACE/]NAME",
            help="Gateway the endpoints of Azure YAML attach to (else the operator's default Gateway)",
        ),
        click.option(
            "--azureml",
            metavar="SUBSCRIPTION_ID/RESOURCE_GROUP/WORKSPACE",
            help="convert Azure YAML for target azureml (Azure ML runs it; azureml: models and VM sizes kept)",
        ),
        click.option(
            "--instance-type",
            "instance_types",
            multiple=True,
            envvar=manifests.ENV_DEFAULTS["instance_types"],
            show_envvar=True,
            metavar="AZURE_SIZE=NAME",
            help="use InstanceType NAME for an Azure VM size; repeatable (the variable: space-separated)",
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def apply_files(kind: Kind, create: bool, opts: dict[str, Any]) -> list[dict[str, Any]]:
    """The shared body of create/update: read, convert, upload, check existence, apply, wait."""
    if not opts["files"]:
        raise click.UsageError("-f/--file: required")
    store = manifests.StoreOptions(
        opts["model_store"],
        opts["store_secret"],
        manifests.parse_mappings(opts["instance_types"], "--instance-type / MLENDPOINTS_INSTANCE_TYPES"),
        opts["gateway"],
        manifests.parse_workspace(opts["azureml"]),
    )
    session: Session | None = None
    if not opts["dry_run"]:
        session = cluster.connect(opts["namespace"])
        store = manifests.default_store(session, store)
    objects, result = manifests.read(
        opts["files"], opts["namespace"] or (session.namespace if session else None), store, session
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    mine = [o for o in objects if o.get("kind") == kind.kind and o.get("apiVersion") == kind.api_version]
    if not mine:
        raise click.ClickException(
            f"{', '.join(opts['files'])}: no {kind.kind} (Azure ML YAML or {kind.api_version} manifest)"
        )
    if session is None:
        import yaml

        sys.stdout.write("".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in objects))
        for up in result.uploads:
            click.echo(f"note: {up.what} would be uploaded to {up.uri}", err=True)
        return []
    check_existing(session, kind, mine, create)
    manifests.apply_objects(session, objects, result, store)
    if opts["no_wait"]:
        return [session.must_get(kind, o["metadata"]["name"]) for o in mine]
    return [cluster.wait_ready(session, kind, o["metadata"]["name"], opts["timeout"]) for o in mine]


def check_existing(session: Session, kind: Kind, mine: list[dict[str, Any]], create: bool | None) -> None:
    """Check ``mine`` against the cluster before anything is uploaded or applied.

    Args:
        create: True (create: must not exist), False (update: must exist), None (either).

    Raises:
        click.ClickException: a deployment of another endpoint has the name, or the existence rule fails.
    """
    for obj in mine:
        live = session.get(kind, obj["metadata"]["name"])
        exists = live is not None
        other = _other_endpoint(live, obj)
        if other is not None:
            raise click.ClickException(
                f"{kind.kind} {obj['metadata']['name']} already exists in {session.namespace} for "
                f"endpoint {other}: deployment names are unique per namespace here (in Azure ML, per "
                "endpoint), and a deployment cannot move to another endpoint; choose another "
                "deployment name, or another namespace with --namespace"
            )
        if create is True and exists:
            raise click.ClickException(
                f"{kind.kind} {obj['metadata']['name']} already exists in {session.namespace}; use update"
            )
        if create is False and not exists:
            raise click.ClickException(
                f"{kind.kind} {obj['metadata']['name']} does not exist in {session.namespace}; use create"
            )


def print_all(objs: list[dict[str, Any]], fmt: str) -> None:
    for obj in objs:
        cluster.output(obj, fmt)


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def ready_column(obj: dict[str, Any]) -> str:
    return {"ready": "True", "stalled": "Stalled"}.get(cluster.ready_state(obj)[0], "False")


def delete(kind: Kind, name: str, namespace: str | None, yes: bool, no_wait: bool, timeout: float) -> None:
    session = cluster.connect(namespace)
    session.must_get(kind, name)
    if not yes:
        click.confirm(f"Delete {kind.kind} {name} in namespace {session.namespace}?", abort=True, err=True)
    session.delete(kind, name)
    if not no_wait:
        cluster.wait_gone(session, kind, name, timeout)
    click.echo(f"deleted {kind.kind} {name}", err=True)


def list_output_option(f: F) -> F:
    return click.option(
        "-o", "--output", type=click.Choice(["json", "yaml", "table"]), default="json", show_default=True
    )(f)


def delete_options(f: F) -> F:
    decorators: list[Callable[[F], F]] = [
        namespace_option,
        click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation"),
        click.option("--no-wait", is_flag=True),
        click.option("--timeout", type=float, default=300, show_default=True),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def _other_endpoint(live: dict[str, Any] | None, obj: dict[str, Any]) -> str | None:
    """The endpoint a live deployment belongs to when ``obj`` names another one, else None."""
    if live is None:
        return None
    have = (live.get("spec") or {}).get("endpointName")
    want = (obj.get("spec") or {}).get("endpointName")
    return str(have) if have and want and have != want else None
