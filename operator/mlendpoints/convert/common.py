"""What the Azure converters share: the document record, the error, name and enum spellings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlendpoints.convert import local


class ConvertError(ValueError):
    """Azure YAML that cannot be converted; the message names the file and the field."""


class UnknownInstanceType(ConvertError):
    """An Azure VM size that is neither in the table nor mapped (the CLI adds the cluster's InstanceTypes)."""


@dataclass(frozen=True)
class Doc:
    """One Azure YAML document."""

    #: ``file.yml#1`` (file and document number), for messages
    where: str
    body: dict[str, Any]
    #: the folder relative paths in it are resolved against (the file's, as the Azure CLI does)
    base: Path


def camel(snake: str) -> str:
    """``max_queue_wait_ms`` -> ``maxQueueWaitMs``."""
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def take(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Remove ``keys`` from ``body``; returns those that were there."""
    return {k: body.pop(k) for k in keys if k in body}


#: Azure's model types -> ours
MODEL_TYPES = {
    "custom_model": "custom",
    "mlflow_model": "mlflow",
    "triton_model": "triton",
    "uri_folder": "custom",
    "uri_file": "custom",
}


def model_type(doc: Doc, value: str) -> str:
    """Azure's ``model.type`` -> ours.

    Raises:
        ConvertError: a type we do not serve.
    """
    mapped = MODEL_TYPES.get(value.lower()) or (value if value in ("custom", "mlflow", "triton") else None)
    if mapped is None:
        raise ConvertError(
            f"{doc.where}: model.type: {value!r} is not one of {', '.join(sorted(MODEL_TYPES))}"
        )
    return mapped


@dataclass
class Options:
    """How to convert what has no direct counterpart."""

    #: namespace written into the manifests (None: leave it to kubectl/the CLI's -n)
    namespace: str | None = None
    #: folder URI local models (and large code) are uploaded under, e.g. az://models/mlendpoints
    model_store: str | None = None
    #: Secret with the store's credentials (model.credentialsSecretRef), e.g. azurite-credentials
    store_secret: str | None = None
    #: Azure VM size -> an existing InstanceType to use instead of the table's
    instance_types: dict[str, str] = field(default_factory=dict)
    #: ``[namespace/]name`` of the Gateway endpoints attach to (Azure YAML names none)
    gateway: str | None = None
    #: ``spec.azureml`` (subscriptionId, resourceGroup, workspaceName): convert for ``target: azureml``,
    #: where ``azureml:`` models and VM sizes are Azure ML's own
    azureml: dict[str, str] | None = None
    #: keep local folders where they are (``mlendpoints local``): every local model and code folder is
    #: planned as an :class:`~.local.Upload` to ``model_store`` (never a ConfigMap), and the caller
    #: serves ``Upload.local`` in place of the URI instead of uploading it
    in_place: bool = False


@dataclass
class Result:
    """Manifests (InstanceTypes and ConfigMaps first, then endpoints, then deployments), warnings, uploads."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    uploads: list[local.Upload] = field(default_factory=list)
