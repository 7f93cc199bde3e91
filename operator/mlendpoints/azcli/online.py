"""``mlendpoints online-endpoint …`` and ``online-deployment …``: the ``az ml`` verbs on the current cluster.

Names follow the Azure CLI (``--name/-n`` is the resource's name, ``--endpoint-name/-e`` the
endpoint of a deployment, ``--file/-f`` the YAML); the Kubernetes namespace is ``--namespace``
(default: ``MLENDPOINTS_NAMESPACE`` or the kubeconfig context's). ``-f`` takes our manifests or
Azure ML CLI v2 YAML (converted by :mod:`mlendpoints.convert`). Exit status: 0 done, 1 a
cluster or resource error (one line), 2 a usage error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from mlendpoints.azcli import cluster, manifests, ops, verbs
from mlendpoints.azcli.cluster import DEPLOYMENT, ENDPOINT, Session
from mlendpoints.local import client as local_client
from mlendpoints.local import state as local_state

F = verbs.F


def local_options(f: F) -> F:
    """``--local`` (the endpoint of ``mlendpoints local up``, no cluster) and its ``--state-dir``."""
    f = click.option("--state-dir", envvar=local_state.ENV_DIR, help="local endpoints' state folder")(f)
    return click.option(
        "--local", is_flag=True, help="the local endpoint (mlendpoints local up), no cluster"
    )(f)


@contextlib.contextmanager
def local_errors() -> Iterator[None]:
    """A local endpoint that is not there (or has no keys) -> one ClickException line."""
    try:
        yield
    except local_state.StateError as exc:
        raise click.ClickException(str(exc)) from exc


def set_traffic(session: Session, name: str, field: str, traffic: dict[str, int]) -> None:
    """Replace ``spec.<field>`` of endpoint ``name`` with ``traffic`` (a merge patch nulling dropped keys)."""
    live = (session.must_get(ENDPOINT, name).get("spec") or {}).get(field) or {}
    patch: dict[str, Any] = {k: None for k in live if k not in traffic} | traffic
    session.patch(ENDPOINT, name, {"spec": {field: patch}})


@click.group("online-endpoint")
def endpoint() -> None:
    """Online endpoints (az ml online-endpoint): a scoring URL, keys and a traffic split."""


@endpoint.command("create")
@verbs.apply_options
@click.option("--traffic", help='traffic split after create, e.g. "blue=90 green=10"')
@verbs.output_option
def endpoint_create(traffic: str | None, output: str, **opts: Any) -> None:
    """Create the endpoint (and any deployments) in -f; wait until Ready unless --no-wait."""
    _endpoint_apply(True, traffic, output, opts)


@endpoint.command("update")
@verbs.apply_options
@click.option("-n", "--name", help="endpoint to change without -f (with --traffic/--mirror-traffic)")
@click.option("--traffic", help='new traffic split, e.g. "blue=90 green=10"')
@click.option("--mirror-traffic", help='new mirror traffic, e.g. "green=10" ("" for none)')
@verbs.output_option
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
        set_traffic(session, name, "traffic", manifests.parse_traffic(traffic, "--traffic"))
    if mirror_traffic is not None:
        set_traffic(
            session, name, "mirrorTraffic", manifests.parse_traffic(mirror_traffic, "--mirror-traffic")
        )
    obj = session.must_get(ENDPOINT, name)
    if not opts["no_wait"]:
        obj = cluster.wait_ready(session, ENDPOINT, name, opts["timeout"])
    cluster.output(obj, output)


def _endpoint_apply(create: bool, traffic: str | None, output: str, opts: dict[str, Any]) -> None:
    objs = verbs.apply_files(ENDPOINT, create, opts)
    if traffic is not None and objs:
        session = cluster.connect(opts["namespace"])
        for obj in objs:
            set_traffic(
                session, obj["metadata"]["name"], "traffic", manifests.parse_traffic(traffic, "--traffic")
            )
        wait = not opts["no_wait"]
        objs = [
            cluster.wait_ready(session, ENDPOINT, o["metadata"]["name"], opts["timeout"])
            if wait
            else session.must_get(ENDPOINT, o["metadata"]["name"])
            for o in objs
        ]
    verbs.print_all(objs, output)


@endpoint.command("show")
@click.option("-n", "--name", required=True, help="endpoint name")
@verbs.namespace_option
@verbs.output_option
def endpoint_show(name: str, namespace: str | None, output: str) -> None:
    """Print the endpoint (spec and status)."""
    cluster.output(cluster.connect(namespace).must_get(ENDPOINT, name), output)


@endpoint.command("list")
@verbs.namespace_option
@verbs.list_output_option
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
            [
                o["metadata"]["name"],
                verbs.ready_column(o),
                st.get("trafficSummary") or "-",
                st.get("scoringUri") or "-",
            ]
        )
    click.echo(verbs.table(rows))


@endpoint.command("delete")
@click.option("-n", "--name", required=True)
@verbs.delete_options
def endpoint_delete(name: str, namespace: str | None, yes: bool, no_wait: bool, timeout: float) -> None:
    """Delete the endpoint (its deployments go with it)."""
    verbs.delete(ENDPOINT, name, namespace, yes, no_wait, timeout)


@endpoint.command("get-credentials")
@click.option("-n", "--name", required=True)
@verbs.namespace_option
@local_options
def endpoint_keys(name: str, namespace: str | None, local: bool, state_dir: str | None) -> None:
    """Print the endpoint's primaryKey and secondaryKey (JSON)."""
    if local:
        with local_errors():
            cluster.output(local_client.keys(local_state.root(state_dir), name), "json")
        return
    cluster.output(ops.keys(cluster.connect(namespace), name), "json")


@endpoint.command("regenerate-keys")
@click.option("-n", "--name", required=True)
@verbs.namespace_option
@click.option("--key-type", type=click.Choice(["primary", "secondary"]), default="primary", show_default=True)
@click.option("--timeout", type=float, default=60, show_default=True)
@local_options
def endpoint_regenerate(
    name: str, namespace: str | None, key_type: str, timeout: float, local: bool, state_dir: str | None
) -> None:
    """Rotate one key (the operator writes the new one; clients on the other key keep working)."""
    if local:
        with local_errors():
            local_client.regenerate(local_state.root(state_dir), name, key_type)
    else:
        ops.regenerate(cluster.connect(namespace), name, key_type, timeout)
    click.echo(f"regenerated the {key_type} key of {name}", err=True)


@endpoint.command("invoke")
@click.option("-n", "--name", required=True)
@click.option(
    "-d",
    "--deployment-name",
    "--deployment",
    help="send to this deployment (azureml-model-deployment header)",
)
@click.option(
    "-r", "--request-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--scoring-uri", help="override status.scoringUri (e.g. through kubectl port-forward)")
@click.option("--timeout", type=float, default=60, show_default=True)
@verbs.namespace_option
@local_options
def endpoint_invoke(
    name: str,
    deployment_name: str | None,
    request_file: Path,
    scoring_uri: str | None,
    timeout: float,
    namespace: str | None,
    local: bool,
    state_dir: str | None,
) -> None:
    """POST the request file to the scoring URI with the endpoint's key; print the response."""
    if local:
        with local_errors():
            uri, headers = local_client.scoring_request(local_state.root(state_dir), name, deployment_name)
        status, body = ops.post(scoring_uri or uri, request_file.read_bytes(), headers, timeout)
    else:
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
    endpoint_name: str,
    deployment: str,
    namespace: str | None,
    lines: int | None,
    container: str,
    **local: Any,
) -> None:
    if local["local"]:
        if container != "inference-server":
            raise click.BadParameter("a local deployment has only inference-server", param_hint="--container")
        with local_errors():
            text = local_client.log(local_state.root(local["state_dir"]), endpoint_name, deployment, lines)
    else:
        text = ops.logs(
            cluster.connect(namespace), endpoint_name, deployment, lines=lines, container=container
        )
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
    verbs.namespace_option,
    local_options,
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
    name: str, deployment: str, namespace: str | None, lines: int | None, container: str, **local: Any
) -> None:
    """Print a deployment's newest pod log (--local: its local runtime's log)."""
    _logs(name, deployment, namespace, lines, container, **local)


@click.group("online-deployment")
def deployment() -> None:
    """Online deployments (az ml online-deployment): a model served behind an endpoint."""


@deployment.command("create")
@verbs.apply_options
@click.option("--all-traffic", is_flag=True, help="then send all of the endpoint's traffic to it")
@verbs.output_option
def deployment_create(all_traffic: bool, output: str, **opts: Any) -> None:
    """Create the deployment(s) in -f; wait until Ready unless --no-wait."""
    _deployment_apply(True, all_traffic, output, opts)


@deployment.command("update")
@verbs.apply_options
@verbs.output_option
def deployment_update(output: str, **opts: Any) -> None:
    """Update the deployment(s) in -f (server-side apply; a changed pod template rolls out)."""
    _deployment_apply(False, False, output, opts)


def _deployment_apply(create: bool, all_traffic: bool, output: str, opts: dict[str, Any]) -> None:
    objs = verbs.apply_files(DEPLOYMENT, create, opts)
    if all_traffic and objs:
        session = cluster.connect(opts["namespace"])
        dep = objs[-1]
        set_traffic(session, dep["spec"]["endpointName"], "traffic", {dep["metadata"]["name"]: 100})
        if not opts["no_wait"]:  # the endpoint routes all to it once Ready for this generation
            cluster.wait_ready(session, ENDPOINT, dep["spec"]["endpointName"], opts["timeout"])
    verbs.print_all(objs, output)


@deployment.command("show")
@click.option("-n", "--name", required=True, help="deployment name")
@click.option("-e", "--endpoint-name", help="its endpoint (checked when given)")
@verbs.namespace_option
@verbs.output_option
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
@verbs.namespace_option
@verbs.list_output_option
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
        rows.append(
            [
                d["metadata"]["name"],
                verbs.ready_column(d),
                replicas,
                (spec.get("model") or {}).get("path", "-"),
            ]
        )
    click.echo(verbs.table(rows))


@deployment.command("delete")
@click.option("-n", "--name", required=True)
@click.option("-e", "--endpoint-name", help="its endpoint (checked when given)")
@verbs.delete_options
def deployment_delete(
    name: str, endpoint_name: str | None, namespace: str | None, yes: bool, no_wait: bool, timeout: float
) -> None:
    """Delete the deployment (move its traffic away first)."""
    verbs.delete(DEPLOYMENT, name, namespace, yes, no_wait, timeout)


@deployment.command("get-logs")
@click.option("-n", "--name", required=True, help="deployment name")
@click.option("-e", "--endpoint-name", required=True)
@log_options
def deployment_logs(
    name: str, endpoint_name: str, namespace: str | None, lines: int | None, container: str, **local: Any
) -> None:
    """Print the deployment's newest pod log (--local: its local runtime's log)."""
    _logs(endpoint_name, name, namespace, lines, container, **local)
