"""``mlendpoints batch-endpoint …`` and ``batch-deployment …``: the ``az ml`` batch verbs on the current cluster.

create/update/show/list/delete work as for online endpoints (:mod:`.verbs`; ``-f`` takes Azure's
batch endpoint/deployment YAML or our manifests). ``batch-endpoint invoke`` and ``list-jobs``
create and list BatchJobs through ``mlendpoints batch`` (:mod:`mlendpoints.batchctl`), which also
shows, follows and cancels them.
"""

from __future__ import annotations

from typing import Any

import click

from mlendpoints.azcli import cluster, manifests, verbs
from mlendpoints.clients import resources

ENDPOINT = resources.BATCH_ENDPOINT
DEPLOYMENT = resources.BATCH_DEPLOYMENT


@click.group("batch-endpoint")
def endpoint() -> None:
    """Batch endpoints (az ml batch-endpoint): a name to start batch scoring jobs on."""


@click.group("job")
def job() -> None:
    """Batch scoring jobs (az ml job show|stream|cancel|list for the BatchJobs of batch endpoints)."""


@click.group("batch-deployment")
def deployment() -> None:
    """Batch deployments (az ml batch-deployment): a model scoring files in mini-batches."""


def _register(group: click.Group, kind: Any, what: str) -> None:
    """Add create, update, show, list and delete for ``kind`` to ``group``."""

    @group.command("create", help=f"Create the {what} in -f; wait until Ready unless --no-wait.")
    @verbs.apply_options
    @verbs.output_option
    def create(output: str, **opts: Any) -> None:
        verbs.print_all(verbs.apply_files(kind, True, opts), output)

    @group.command("update", help=f"Update the {what} in -f (server-side apply).")
    @verbs.apply_options
    @verbs.output_option
    def update(output: str, **opts: Any) -> None:
        verbs.print_all(verbs.apply_files(kind, False, opts), output)

    @group.command("show", help=f"Print the {what} (spec and status).")
    @click.option("-n", "--name", required=True)
    @verbs.namespace_option
    @verbs.output_option
    def show(name: str, namespace: str | None, output: str) -> None:
        cluster.output(cluster.connect(namespace).must_get(kind, name), output)

    @group.command("list", help=f"List the namespace's {what}s.")
    @click.option("-e", "--endpoint-name", help="only this endpoint's (deployments)")
    @verbs.namespace_option
    @verbs.list_output_option
    def list_(endpoint_name: str | None, namespace: str | None, output: str) -> None:
        items = cluster.connect(namespace).list(kind)
        if endpoint_name:
            items = [i for i in items if (i.get("spec") or {}).get("endpointName") == endpoint_name]
        if output != "table":
            cluster.output(items, output)
            return
        rows = [["NAME", "READY", "ENDPOINT/DEFAULT"]]
        for i in items:
            spec = i.get("spec") or {}
            other = spec.get("endpointName") or (spec.get("defaults") or {}).get("deploymentName") or "-"
            rows.append([i["metadata"]["name"], verbs.ready_column(i), other])
        click.echo(verbs.table(rows))

    @group.command("delete", help=f"Delete the {what}.")
    @click.option("-n", "--name", required=True)
    @verbs.delete_options
    def delete(name: str, namespace: str | None, yes: bool, no_wait: bool, timeout: float) -> None:
        verbs.delete(kind, name, namespace, yes, no_wait, timeout)


_register(endpoint, ENDPOINT, "batch endpoint")
_register(deployment, DEPLOYMENT, "batch deployment")


def _batchctl(argv: list[str]) -> None:
    from mlendpoints import batchctl

    raise SystemExit(batchctl.main(argv))


@endpoint.command("invoke")
@click.option("-n", "--name", required=True, help="batch endpoint")
@click.option("-d", "--deployment-name", help="deployment (default: the endpoint's default)")
@click.option(
    "-i", "--input", "inputs", multiple=True, required=True, help="input URI (name=URI names it); repeatable"
)
@click.option(
    "--input-type", type=click.Choice(["uri_folder", "uri_file"]), default="uri_folder", show_default=True
)
@click.option("--output-path", help="output folder URI (pvc://, az://, s3://...)")
@click.option("--job-name", help="BatchJob name (default: <endpoint>-<random>)")
@click.option("--mini-batch-size", type=int)
@click.option("--instance-count", type=int)
@click.option("--output-file-name")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="any other setting override")
@click.option(
    "--store-secret",
    envvar=manifests.ENV_DEFAULTS["store_secret"],
    show_envvar=True,
    help="Secret with the store's credentials, named as credentialsSecretRef of the inputs and the output "
    "(not of pvc:// ones); e.g. azurite-credentials on the dev cluster",
)
@click.option("--stream", is_flag=True, help="follow the job until it finishes (exit 1 if it fails)")
@verbs.namespace_option
def invoke(
    name: str,
    deployment_name: str | None,
    inputs: tuple[str, ...],
    input_type: str,
    output_path: str | None,
    job_name: str | None,
    mini_batch_size: int | None,
    instance_count: int | None,
    output_file_name: str | None,
    overrides: tuple[str, ...],
    store_secret: str | None,
    stream: bool,
    namespace: str | None,
) -> None:
    """Start a batch scoring job (a BatchJob) on the endpoint."""
    argv = ["invoke", name, "--input-type", input_type, "-n", namespace or cluster.current_namespace()]
    argv += [a for i in inputs for a in ("--input", i)]
    for flag, value in (
        ("--deployment", deployment_name),
        ("--output", output_path),
        ("--name", job_name),
        ("--credentials-secret", store_secret),
    ):
        if value:
            argv += [flag, value]
    sets = list(overrides)
    setting: tuple[str, int | str | None]
    for setting in (
        ("miniBatchSize", mini_batch_size),
        ("instanceCount", instance_count),
        ("outputFileName", output_file_name),
    ):
        if setting[1] is not None:
            sets.append(f"{setting[0]}={setting[1]}")
    argv += [a for s in sets for a in ("--set", s)]
    _batchctl([*argv, "--stream"] if stream else argv)


@endpoint.command("list-jobs")
@click.option("-n", "--name", required=True, help="batch endpoint")
@verbs.namespace_option
def list_jobs(name: str, namespace: str | None) -> None:
    """List the endpoint's BatchJobs (show, follow or cancel one with `mlendpoints job show|stream|cancel -n JOB`)."""
    _batchctl(["list", name, "-n", namespace or cluster.current_namespace()])


def _job_verb(verb: str, help_: str) -> None:
    @job.command(verb, help=help_)
    @click.option("-n", "--name", required=True, help="BatchJob name (batch-endpoint invoke prints it)")
    @verbs.namespace_option
    def command(name: str, namespace: str | None) -> None:
        _batchctl([verb, name, "-n", namespace or cluster.current_namespace()])


_job_verb("show", "Print the job's spec and status (phase, progress, output URI).")
_job_verb("stream", "Follow the job's progress until it finishes; exit 0 when it Succeeded.")
_job_verb("cancel", "Cancel the job (spec.suspend=true: its pods stop, its progress is kept).")


@job.command("list")
@click.option("-e", "--endpoint-name", help="only the jobs of this batch endpoint")
@verbs.namespace_option
def job_list(endpoint_name: str | None, namespace: str | None) -> None:
    """List the namespace's BatchJobs: name, phase, progress, reason."""
    _batchctl(
        ["list", *([endpoint_name] if endpoint_name else []), "-n", namespace or cluster.current_namespace()]
    )
