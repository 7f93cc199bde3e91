"""``mlendpoints online-endpoint …`` and ``online-deployment …``: the ``az ml`` verbs on the current cluster.

Names follow the Azure CLI (``--name/-n`` is the resource's name, ``--endpoint-name/-e`` the
endpoint of a deployment, ``--file/-f`` the YAML); the Kubernetes namespace is ``--namespace``
(default: ``MLENDPOINTS_NAMESPACE`` or the kubeconfig context's). ``-f`` takes our manifests or
Azure ML CLI v2 YAML (converted by :mod:`mlendpoints.convert`). Exit status: 0 done, 1 a
cluster or resource error (one line), 2 a usage error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mlendpoints.azcli import cluster, manifests, ops
from mlendpoints.azcli.cluster import DEPLOYMENT, ENDPOINT, Session
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
            help="az://CONTAINER/PREFIX local model/code folders are uploaded to (default on the dev cluster: its Azurite)",
        ),
        click.option(
            "--store-secret",
            help="Secret with AZURE_STORAGE_CONNECTION_STRING for --model-store (the pods download with it)",
        ),
        click.option(
            "--gateway",
            metavar="[NAMESPACE/]NAME",
            help="Gateway the endpoints of Azure YAML attach to (else the operator's default Gateway)",
        ),
        click.option(
            "--instance-type",
            "instance_types",
            multiple=True,
            metavar="AZURE_SIZE=NAME",
            help="use InstanceType NAME for an Azure VM size; repeatable",
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def _apply(kind: Kind, create: bool, opts: dict[str, Any]) -> list[dict[str, Any]]:
    """The shared body of create/update: read, convert, upload, check existence, apply, wait."""
    if not opts["files"]:
        raise click.UsageError("-f/--file: required")
    store = manifests.StoreOptions(
        opts["model_store"],
        opts["store_secret"],
        manifests.parse_mappings(opts["instance_types"], "--instance-type"),
        opts["gateway"],
    )
    session: Session | None = None
    if not opts["dry_run"]:
        session = cluster.connect(opts["namespace"])
        store = manifests.default_store(session, store)
    objects, result = manifests.read(
        opts["files"], opts["namespace"] or (session.namespace if session else None), store
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
    for obj in mine:
        exists = session.get(kind, obj["metadata"]["name"]) is not None
        if create and exists:
            raise click.ClickException(
                f"{kind.kind} {obj['metadata']['name']} already exists in {session.namespace}; use update"
            )
        if not create and not exists:
            raise click.ClickException(
                f"{kind.kind} {obj['metadata']['name']} does not exist in {session.namespace}; use create"
            )
    manifests.upload_all(session, result, store)
    for obj in objects:
        session.apply(obj)
        click.echo(f"applied {obj['kind']} {obj['metadata']['name']}", err=True)
    if opts["no_wait"]:
        return [session.must_get(kind, o["metadata"]["name"]) for o in mine]
    return [cluster.wait_ready(session, kind, o["metadata"]["name"], opts["timeout"]) for o in mine]


def _traffic(value: str, option: str) -> dict[str, int]:
    """``"blue=90 green=10"`` (Azure's --traffic) -> ``{"blue": 90, "green": 10}``."""
    out = {}
    for k, v in manifests.parse_mappings(tuple(value.replace(",", " ").split()), option).items():
        if not v.isdigit():
            raise click.BadParameter(f"{k}={v}: the percentage must be a whole number", param_hint=option)
        out[k] = int(v)
    return out


def set_traffic(session: Session, name: str, field: str, traffic: dict[str, int]) -> None:
    """Replace ``spec.<field>`` of endpoint ``name`` with ``traffic`` (a merge patch nulling dropped keys)."""
    live = (session.must_get(ENDPOINT, name).get("spec") or {}).get(field) or {}
    patch: dict[str, Any] = {k: None for k in live if k not in traffic} | traffic
    session.patch(ENDPOINT, name, {"spec": {field: patch}})


def _print(objs: list[dict[str, Any]], fmt: str) -> None:
    for obj in objs:
        cluster.output(obj, fmt)


@click.group("online-endpoint")
def endpoint() -> None:
    """Online endpoints (az ml online-endpoint): a scoring URL, keys and a traffic split."""


@endpoint.command("create")
@apply_options
@click.option("--traffic", help='traffic split after create, e.g. "blue=90 green=10"')
@output_option
def endpoint_create(traffic: str | None, output: str, **opts: Any) -> None:
    """Create the endpoint (and any deployments) in -f; wait until Ready unless --no-wait."""
    _endpoint_apply(True, traffic, output, opts)


@endpoint.command("update")
@apply_options
@click.option("-n", "--name", help="endpoint to change without -f (with --traffic/--mirror-traffic)")
@click.option("--traffic", help='new traffic split, e.g. "blue=90 green=10"')
@click.option("--mirror-traffic", help='new mirror traffic, e.g. "green=10" ("" for none)')
@output_option
def endpoint_update(
    name: str | None, traffic: str | None, mirror_traffic: str | None, output: str, **opts: Any
) -> None:
    """Update the endpoint in -f (server-side apply), or only its traffic: update -n E --traffic "blue=90 green=10"."""
    if opts["files"]:
        _endpoint_apply(False, traffic, output, opts)
        return
    if name is None or (traffic is None and mirror_traffic is None):
        raise click.UsageError("give -f FILE, or -n NAME with --traffic and/or --mirror-traffic")
    session = cluster.connect(opts["namespace"])
    if traffic is not None:
        set_traffic(session, name, "traffic", _traffic(traffic, "--traffic"))
    if mirror_traffic is not None:
        set_traffic(session, name, "mirrorTraffic", _traffic(mirror_traffic, "--mirror-traffic"))
    obj = session.must_get(ENDPOINT, name)
    if not opts["no_wait"]:
        obj = cluster.wait_ready(session, ENDPOINT, name, opts["timeout"])
    cluster.output(obj, output)


def _endpoint_apply(create: bool, traffic: str | None, output: str, opts: dict[str, Any]) -> None:
    objs = _apply(ENDPOINT, create, opts)
    if traffic is not None and objs:
        session = cluster.connect(opts["namespace"])
        for obj in objs:
            set_traffic(session, obj["metadata"]["name"], "traffic", _traffic(traffic, "--traffic"))
        objs = [session.must_get(ENDPOINT, o["metadata"]["name"]) for o in objs]
    _print(objs, output)


@endpoint.command("show")
@click.option("-n", "--name", required=True, help="endpoint name")
@namespace_option
@output_option
def endpoint_show(name: str, namespace: str | None, output: str) -> None:
    """Print the endpoint (spec and status)."""
    cluster.output(cluster.connect(namespace).must_get(ENDPOINT, name), output)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _ready(obj: dict[str, Any]) -> str:
    return {"ready": "True", "stalled": "Stalled"}.get(cluster.ready_state(obj)[0], "False")


@endpoint.command("list")
@namespace_option
@click.option(
    "-o", "--output", type=click.Choice(["json", "yaml", "table"]), default="json", show_default=True
)
def endpoint_list(namespace: str | None, output: str) -> None:
    """List the namespace's endpoints."""
    items = cluster.connect(namespace).list(ENDPOINT)
    if output != "table":
        cluster.output(items, output)
        return
    rows = [["NAME", "READY", "TRAFFIC", "SCORING URI"]]
    for o in items:
        st = o.get("status") or {}
        rows.append(
            [o["metadata"]["name"], _ready(o), st.get("trafficSummary") or "-", st.get("scoringUri") or "-"]
        )
    click.echo(_table(rows))


def _delete(kind: Kind, name: str, namespace: str | None, yes: bool, no_wait: bool, timeout: float) -> None:
    session = cluster.connect(namespace)
    session.must_get(kind, name)
    if not yes:
        click.confirm(f"Delete {kind.kind} {name} in namespace {session.namespace}?", abort=True, err=True)
    session.delete(kind, name)
    if not no_wait:
        cluster.wait_gone(session, kind, name, timeout)
    click.echo(f"deleted {kind.kind} {name}", err=True)


@endpoint.command("delete")
@click.option("-n", "--name", required=True)
@namespace_option
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--no-wait", is_flag=True)
@click.option("--timeout", type=float, default=300, show_default=True)
def endpoint_delete(name: str, namespace: str | None, yes: bool, no_wait: bool, timeout: float) -> None:
    """Delete the endpoint (its deployments go with it)."""
    _delete(ENDPOINT, name, namespace, yes, no_wait, timeout)


@endpoint.command("get-credentials")
@click.option("-n", "--name", required=True)
@namespace_option
def endpoint_keys(name: str, namespace: str | None) -> None:
    """Print the endpoint's primaryKey and secondaryKey (JSON)."""
    cluster.output(ops.keys(cluster.connect(namespace), name), "json")


@endpoint.command("regenerate-keys")
@click.option("-n", "--name", required=True)
@namespace_option
@click.option("--key-type", type=click.Choice(["primary", "secondary"]), default="primary", show_default=True)
@click.option("--timeout", type=float, default=60, show_default=True)
def endpoint_regenerate(name: str, namespace: str | None, key_type: str, timeout: float) -> None:
    """Rotate one key (the operator writes the new one; clients on the other key keep working)."""
    ops.regenerate(cluster.connect(namespace), name, key_type, timeout)
    click.echo(f"regenerated the {key_type} key of {name}", err=True)


@endpoint.command("invoke")
@click.option("-n", "--name", required=True)
@click.option("-d", "--deployment-name", help="send to this deployment (azureml-model-deployment header)")
@click.option(
    "-r", "--request-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--scoring-uri", help="override status.scoringUri (e.g. through kubectl port-forward)")
@click.option("--timeout", type=float, default=60, show_default=True)
@namespace_option
def endpoint_invoke(
    name: str,
    deployment_name: str | None,
    request_file: Path,
    scoring_uri: str | None,
    timeout: float,
    namespace: str | None,
) -> None:
    """POST the request file to the scoring URI with the endpoint's key; print the response."""
    status, body = ops.invoke(
        cluster.connect(namespace),
        name,
        request_file.read_bytes(),
        deployment=deployment_name,
        scoring_uri=scoring_uri,
        timeout=timeout,
    )
    if status >= 400:
        click.echo(body.decode(errors="replace"), err=True)
        raise click.ClickException(f"the endpoint answered HTTP {status}")
    click.echo(body.decode(errors="replace"))


def _logs(
    endpoint_name: str, deployment: str, namespace: str | None, lines: int | None, container: str
) -> None:
    text = ops.logs(cluster.connect(namespace), endpoint_name, deployment, lines=lines, container=container)
    click.echo(text, nl=not text.endswith("\n"))


LOG_OPTIONS: list[Callable[[F], F]] = [
    click.option("-l", "--lines", type=int, help="last N lines only"),
    click.option(
        "-c",
        "--container",
        default="inference-server",
        show_default=True,
        help="inference-server or storage-initializer",
    ),
    namespace_option,
]


def log_options(f: F) -> F:
    for decorator in reversed(LOG_OPTIONS):
        f = decorator(f)
    return f


@endpoint.command("get-logs")
@click.option("-n", "--name", required=True, help="endpoint name")
@click.option("-d", "--deployment", required=True, help="deployment name")
@log_options
def endpoint_logs(
    name: str, deployment: str, namespace: str | None, lines: int | None, container: str
) -> None:
    """Print a deployment's newest pod log."""
    _logs(name, deployment, namespace, lines, container)


@click.group("online-deployment")
def deployment() -> None:
    """Online deployments (az ml online-deployment): a model served behind an endpoint."""


@deployment.command("create")
@apply_options
@click.option("--all-traffic", is_flag=True, help="then send all of the endpoint's traffic to it")
@output_option
def deployment_create(all_traffic: bool, output: str, **opts: Any) -> None:
    """Create the deployment(s) in -f; wait until Ready unless --no-wait."""
    _deployment_apply(True, all_traffic, output, opts)


@deployment.command("update")
@apply_options
@output_option
def deployment_update(output: str, **opts: Any) -> None:
    """Update the deployment(s) in -f (server-side apply; a changed pod template rolls out)."""
    _deployment_apply(False, False, output, opts)


def _deployment_apply(create: bool, all_traffic: bool, output: str, opts: dict[str, Any]) -> None:
    objs = _apply(DEPLOYMENT, create, opts)
    if all_traffic and objs:
        session = cluster.connect(opts["namespace"])
        dep = objs[-1]
        set_traffic(session, dep["spec"]["endpointName"], "traffic", {dep["metadata"]["name"]: 100})
    _print(objs, output)


@deployment.command("show")
@click.option("-n", "--name", required=True, help="deployment name")
@click.option("-e", "--endpoint-name", help="its endpoint (checked when given)")
@namespace_option
@output_option
def deployment_show(name: str, endpoint_name: str | None, namespace: str | None, output: str) -> None:
    """Print the deployment (spec and status)."""
    obj = cluster.connect(namespace).must_get(DEPLOYMENT, name)
    if endpoint_name and obj["spec"]["endpointName"] != endpoint_name:
        raise click.ClickException(
            f"OnlineDeployment {name} belongs to endpoint {obj['spec']['endpointName']}, not {endpoint_name}"
        )
    cluster.output(obj, output)


@deployment.command("list")
@click.option("-e", "--endpoint-name", required=True)
@namespace_option
@click.option(
    "-o", "--output", type=click.Choice(["json", "yaml", "table"]), default="json", show_default=True
)
def deployment_list(endpoint_name: str, namespace: str | None, output: str) -> None:
    """List an endpoint's deployments."""
    items = [
        d
        for d in cluster.connect(namespace).list(DEPLOYMENT)
        if d["spec"].get("endpointName") == endpoint_name
    ]
    if output != "table":
        cluster.output(items, output)
        return
    rows = [["NAME", "READY", "REPLICAS", "MODEL"]]
    for d in items:
        st, spec = d.get("status") or {}, d["spec"]
        replicas = f"{st.get('readyReplicas', 0)}/{spec.get('instanceCount', 1)}"
        rows.append([d["metadata"]["name"], _ready(d), replicas, (spec.get("model") or {}).get("path", "-")])
    click.echo(_table(rows))


@deployment.command("delete")
@click.option("-n", "--name", required=True)
@click.option("-e", "--endpoint-name", help="its endpoint (checked when given)")
@namespace_option
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--no-wait", is_flag=True)
@click.option("--timeout", type=float, default=300, show_default=True)
def deployment_delete(
    name: str, endpoint_name: str | None, namespace: str | None, yes: bool, no_wait: bool, timeout: float
) -> None:
    """Delete the deployment (move its traffic away first)."""
    _delete(DEPLOYMENT, name, namespace, yes, no_wait, timeout)


@deployment.command("get-logs")
@click.option("-n", "--name", required=True, help="deployment name")
@click.option("-e", "--endpoint-name", required=True)
@log_options
def deployment_logs(
    name: str, endpoint_name: str, namespace: str | None, lines: int | None, container: str
) -> None:
    """Print the deployment's newest pod log."""
    _logs(endpoint_name, name, namespace, lines, container)
