"""``mlendpoints convert -f azure.yml [-o DIR]``: Azure ML CLI v2 YAML -> mlendpoints manifests.

Offline: writes (or prints) the manifests, with every Azure field that has no counterpart listed
as a warning on stderr. Local model folders need ``--model-store``: convert names the URI they
will have and prints what to upload where (``online-deployment create`` uploads them itself).
Exit status: 0 converted, 1 input that cannot be converted (file and field named), 2 usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import yaml

from mlendpoints.azcli.manifests import parse_mappings, parse_workspace
from mlendpoints.convert import ConvertError, azure, load


def _dump(objects: list[dict[str, Any]]) -> str:
    return "".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in objects)


@click.command("convert")
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    help="Azure ML YAML; repeatable",
)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="write one file per manifest here (default: print a YAML stream)",
)
@click.option("--namespace", help="namespace to write into the manifests (default: none)")
@click.option(
    "--model-store", help="az://CONTAINER/PREFIX (or s3://, gs://...) local model folders will be uploaded to"
)
@click.option(
    "--store-secret", help="Secret with the store's credentials (written as model.credentialsSecretRef)"
)
@click.option(
    "--instance-type",
    "instance_types",
    multiple=True,
    metavar="AZURE_SIZE=NAME",
    help="use InstanceType NAME for an Azure VM size; repeatable",
)
@click.option(
    "--gateway", metavar="[NAMESPACE/]NAME", help="Gateway the endpoints attach to (routing gatewayAPI)"
)
@click.option(
    "--azureml",
    metavar="SUBSCRIPTION_ID/RESOURCE_GROUP/WORKSPACE",
    help="convert for target azureml (Azure ML runs it; azureml: models and VM sizes kept)",
)
def convert(
    files: tuple[str, ...],
    output_dir: Path | None,
    namespace: str | None,
    model_store: str | None,
    store_secret: str | None,
    instance_types: tuple[str, ...],
    gateway: str | None,
    azureml: str | None,
) -> None:
    """Convert Azure ML online/batch endpoint and deployment YAML into mlendpoints manifests."""
    opts = azure.Options(
        namespace,
        model_store,
        store_secret,
        parse_mappings(instance_types, "--instance-type"),
        gateway,
        parse_workspace(azureml),
    )
    try:
        objects, docs = load(list(files))
        if not docs:
            raise ConvertError(
                f"{', '.join(files)}: no Azure ML YAML (documents with $schema, or without apiVersion/kind)"
            )
        result = azure.convert(docs, opts)
    except ConvertError as exc:
        raise click.ClickException(str(exc)) from exc
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if objects:
        click.echo(
            f"note: {len(objects)} Kubernetes object(s) in the input left out (convert writes Azure ML YAML's)",
            err=True,
        )
    for up in result.uploads:
        click.echo(f"upload: {up.local} -> {up.uri} ({up.what})", err=True)
    if output_dir is None:
        sys.stdout.write(_dump(result.objects))
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    for obj in result.objects:
        path = output_dir / f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        path.write_text(_dump([obj]))
        click.echo(str(path))
