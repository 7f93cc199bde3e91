"""``-f`` files for create/update: our manifests as they are, Azure ML YAML converted, local folders uploaded.

Local model folders (and code folders too big for a ConfigMap) are uploaded to a blob container
(see :mod:`mlendpoints.convert.local` for why there): ``--model-store az://CONTAINER/PREFIX`` with
``--store-secret SECRET`` (a Secret holding ``AZURE_STORAGE_CONNECTION_STRING``, also used by the
pods to download), or by default the dev cluster's Azurite when the namespace has its
``azurite-credentials`` Secret.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from mlendpoints.azcli.cluster import Session
from mlendpoints.clients import resources
from mlendpoints.convert import ConvertError, Doc, azure, load
from mlendpoints.convert.common import UnknownInstanceType

#: the dev cluster's Azurite Secret (``mlendpoints dev cluster up`` creates it in ``default``)
DEV_STORE_SECRET = "azurite-credentials"
DEV_STORE = "az://mlendpoints-uploads"
CONNECTION_STRING_KEY = "AZURE_STORAGE_CONNECTION_STRING"


@dataclass
class StoreOptions:
    model_store: str | None
    store_secret: str | None
    instance_types: dict[str, str]
    gateway: str | None = None
    #: spec.azureml workspace fields for target azureml (see :func:`mlendpoints.convert.azure.parse_workspace`)
    azureml: dict[str, str] | None = None


def parse_workspace(value: str | None) -> dict[str, str] | None:
    """``--azureml SUBSCRIPTION_ID/RESOURCE_GROUP/WORKSPACE`` -> spec.azureml's workspace fields.

    Raises:
        click.BadParameter: not three parts.
    """
    if value is None:
        return None
    try:
        return azure.parse_workspace(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--azureml") from exc


def parse_mappings(values: tuple[str, ...], option: str) -> dict[str, str]:
    """``("A=B", ...)`` -> ``{"A": "B"}``.

    Raises:
        click.BadParameter: an item without ``=``.
    """
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint=option)
        out[key] = value
    return out


#: Environment variables that default ``create``/``update``'s options and :class:`mlendpoints.sdk.MLClient`'s
#: arguments of the same names, so Azure ML code runs unchanged on a given cluster.
ENV_DEFAULTS = {
    "model_store": "MLENDPOINTS_MODEL_STORE",
    "store_secret": "MLENDPOINTS_STORE_SECRET",
    "gateway": "MLENDPOINTS_GATEWAY",
    "instance_types": "MLENDPOINTS_INSTANCE_TYPES",
}


def parse_traffic(value: str, option: str) -> dict[str, int]:
    """``"blue=90 green=10"`` (Azure's --traffic) -> ``{"blue": 90, "green": 10}``.

    Raises:
        click.BadParameter: an item without ``=`` or a percentage that is not a whole number.
    """
    out = {}
    for k, v in parse_mappings(tuple(value.replace(",", " ").split()), option).items():
        if not v.isdigit():
            raise click.BadParameter(f"{k}={v}: the percentage must be a whole number", param_hint=option)
        out[k] = int(v)
    return out


def read(
    files: tuple[str, ...], namespace: str | None, store: StoreOptions, session: Session | None = None
) -> tuple[list[dict[str, Any]], azure.Result]:
    """Manifests to apply from ``files`` (converted where they are Azure YAML), and the conversion's result.

    Raises:
        click.ClickException: unreadable files, or Azure YAML that cannot be converted (an unknown
            VM size lists the ``session``'s cluster's InstanceTypes too).
    """
    try:
        objects, docs = load(list(files))
    except ConvertError as exc:
        raise click.ClickException(str(exc)) from exc
    result = convert_docs(docs, namespace, store, session)
    for obj in objects:
        if not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
            raise click.ClickException(f"{obj.get('kind', 'object')} without metadata.name")
        if namespace and resources.of(obj).namespaced:
            obj["metadata"].setdefault("namespace", namespace)
    return result.objects + objects, result


def convert_docs(
    docs: list[Doc], namespace: str | None, store: StoreOptions, session: Session | None = None
) -> azure.Result:
    """Convert Azure ML documents (from files, or from azure-ai-ml entities) with the store options.

    Raises:
        click.ClickException: a document that cannot be converted (an unknown VM size lists the
            ``session``'s cluster's InstanceTypes too).
    """
    try:
        return azure.convert(
            docs,
            azure.Options(
                namespace=namespace,
                model_store=store.model_store,
                store_secret=store.store_secret,
                instance_types=store.instance_types,
                gateway=store.gateway,
                azureml=store.azureml,
            ),
        )
    except UnknownInstanceType as exc:
        names = (
            sorted(i["metadata"]["name"] for i in session.list(resources.INSTANCE_TYPE)) if session else []
        )
        listed = f"; this cluster's InstanceTypes: {', '.join(names) or 'none'}" if session else ""
        raise click.ClickException(f"{exc}{listed}") from exc
    except ConvertError as exc:
        raise click.ClickException(str(exc)) from exc


def default_store(session: Session, store: StoreOptions) -> StoreOptions:
    """``store`` with the dev cluster's Azurite filled in when no store was given and its Secret exists."""
    if store.model_store is not None:
        return store
    if session.get(resources.SECRET, DEV_STORE_SECRET) is None:
        return store
    return dataclasses.replace(
        store, model_store=DEV_STORE, store_secret=store.store_secret or DEV_STORE_SECRET
    )


def _stderr(line: str) -> None:
    click.echo(line, err=True)


def upload_all(
    session: Session, result: azure.Result, store: StoreOptions, echo: Callable[[str], None] = _stderr
) -> None:
    """Upload every planned local folder to its ``az://`` URI with the store Secret's connection string;
    ``echo`` gets one line per upload.

    Raises:
        click.ClickException: no store Secret, a store that is not az://, or a failed upload.
    """
    if not result.uploads:
        return
    if not store.store_secret:
        raise click.ClickException(
            "--store-secret: needed to upload local folders (a Secret with AZURE_STORAGE_CONNECTION_STRING)"
        )
    secret = session.get(resources.SECRET, store.store_secret)
    data = (secret or {}).get("data") or {}
    if CONNECTION_STRING_KEY not in data:
        raise click.ClickException(
            f"Secret {store.store_secret} in namespace {session.namespace} has no {CONNECTION_STRING_KEY}"
        )
    conn = base64.b64decode(data[CONNECTION_STRING_KEY]).decode()
    for up in result.uploads:
        if not up.uri.startswith("az://"):
            raise click.ClickException(f"{up.uri}: only az:// stores can be uploaded to")
        container, _, prefix = up.uri.removeprefix("az://").partition("/")
        try:
            count = upload(conn, up.local, container, prefix)
        except Exception as exc:
            raise click.ClickException(f"uploading {up.what} to {up.uri}: {exc}") from exc
        echo(f"uploaded {up.what}: {count} file(s) to {up.uri}")


def apply_objects(
    session: Session,
    objects: list[dict[str, Any]],
    result: azure.Result,
    store: StoreOptions,
    echo: Callable[[str], None] = _stderr,
) -> None:
    """Upload ``result``'s local folders, then server-side apply ``objects`` in order; ``echo`` gets
    one line per step. An InstanceType from the VM-size table is skipped when the cluster has one
    of that name (the cluster's own wins).

    Raises:
        click.ClickException: a failed upload or a rejected apply.
    """
    upload_all(session, result, store, echo)
    converted_types = {id(o) for o in result.objects if o["kind"] == "InstanceType"}
    for obj in objects:
        if (
            id(obj) in converted_types
            and session.get(resources.INSTANCE_TYPE, obj["metadata"]["name"]) is not None
        ):
            echo(f"InstanceType {obj['metadata']['name']} exists: used as it is")
            continue
        session.apply(obj)
        echo(f"applied {obj['kind']} {obj['metadata']['name']}")


def upload(conn: str, local: Any, container: str, prefix: str) -> int:
    """Upload a file or folder (:func:`mlendpoints.convert.local.files`) under ``prefix``; returns the file count."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    from mlendpoints.convert import local as local_

    client = BlobServiceClient.from_connection_string(conn).get_container_client(container)
    with contextlib.suppress(ResourceExistsError):
        client.create_container()
    found = local_.files(local)
    for f in found:
        rel = f.name if local.is_file() else f.relative_to(local).as_posix()
        with f.open("rb") as fh:
            client.upload_blob(f"{prefix.strip('/')}/{rel}".lstrip("/"), fh, overwrite=True)
    return len(found)
