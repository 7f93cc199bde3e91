"""azure-ai-ml entities -> the Azure ML CLI v2 YAML documents :mod:`mlendpoints.convert` reads.

An entity's ``_to_dict()`` is azure-ai-ml's own serializer to that YAML schema (the one ``az ml``
reads), so entities take the same mapping, warnings and uploads as ``create -f``. This module
only adds what a dict from the SDK lacks or has extra:

- ``$schema``, from the entity's class (the dict has none; convert picks the kind from it);
- the values the SDK's constructors fill in by themselves are dropped, so that a warning names
  only what the caller set: empty ``tags``/``properties``/``environment_variables``/traffic maps,
  ``app_insights_enabled: false``, a batch endpoint's ``auth_mode: aad_token`` (its only mode and
  its default), ``type`` (given by the class), and the name, version and empty maps the SDK gives
  an anonymous local model or environment (a hash, ``1``, ``CliV2AnonymousEnvironment``), and
  those :mod:`.readback` gives them (``<endpoint>-<deployment>-model``/``-env``);
- the read-only fields of an entity read back by ``get`` (``provisioning_state``, ``scoring_uri``...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlendpoints.convert.common import Doc

SCHEMAS = "https://azuremlschemas.azureedge.net/latest"
#: azure-ai-ml entity class name -> (Azure YAML $schema file, our kind)
KINDS: dict[str, tuple[str, str]] = {
    "ManagedOnlineEndpoint": ("managedOnlineEndpoint", "OnlineEndpoint"),
    "KubernetesOnlineEndpoint": ("kubernetesOnlineEndpoint", "OnlineEndpoint"),
    "ManagedOnlineDeployment": ("managedOnlineDeployment", "OnlineDeployment"),
    "KubernetesOnlineDeployment": ("kubernetesOnlineDeployment", "OnlineDeployment"),
    "BatchEndpoint": ("batchEndpoint", "BatchEndpoint"),
    "BatchDeployment": ("batchDeployment", "BatchDeployment"),
    "ModelBatchDeployment": ("modelBatchDeployment", "BatchDeployment"),
}
#: fields the service sets (an entity from ``get`` carries them); never sent
READ_ONLY = {"provisioning_state", "scoring_uri", "openapi_uri", "id", "location", "creation_context"}
ANONYMOUS_ENVIRONMENT = "CliV2AnonymousEnvironment"
#: the name azure-ai-ml gives a model made from a local path without a name (its content hash)
_HASH = re.compile(r"[0-9a-f]{64}")


class UnsupportedEntity(TypeError):
    """An object that is not one of the entity classes in :data:`KINDS`."""


def kind_of(entity: object) -> str:
    """Our kind (``OnlineEndpoint``, ``OnlineDeployment``, ``BatchEndpoint``, ``BatchDeployment``) for an entity.

    Raises:
        UnsupportedEntity: another class (the message lists the supported ones).
    """
    for cls in type(entity).__mro__:
        if cls.__name__ in KINDS and cls.__module__.startswith("azure.ai.ml"):
            return KINDS[cls.__name__][1]
    raise UnsupportedEntity(
        f"{type(entity).__name__}: not supported by mlendpoints.sdk (it takes azure.ai.ml.entities' "
        f"{', '.join(KINDS)})"
    )


def to_doc(entity: Any, base: Path | None = None) -> Doc:
    """The Azure ML YAML document for an entity, as :func:`mlendpoints.convert.azure.convert` reads it.

    Args:
        entity: an azure-ai-ml endpoint or deployment (see :data:`KINDS`).
        base: the folder relative local paths are resolved against (default: the working directory,
            as azure-ai-ml resolves them).

    Returns:
        A :class:`~mlendpoints.convert.common.Doc` whose ``where`` is ``<class> <name>`` (for messages).

    Raises:
        UnsupportedEntity: not an entity in :data:`KINDS`.
    """
    kind_of(entity)
    cls = next(c.__name__ for c in type(entity).__mro__ if c.__name__ in KINDS)
    body = {k: v for k, v in dict(entity._to_dict()).items() if k not in READ_ONLY}
    body = prune(body, kind=KINDS[cls][1])
    body = {"$schema": f"{SCHEMAS}/{KINDS[cls][0]}.schema.json", **body}
    return Doc(f"{cls} {body.get('name')}", body, base or Path.cwd())


def prune(body: dict[str, Any], *, kind: str) -> dict[str, Any]:
    """``body`` without the values azure-ai-ml fills in by itself (see the module docstring)."""
    out = {k: v for k, v in body.items() if v is not None and v != {} and k != "type"}
    if out.get("app_insights_enabled") is False:
        del out["app_insights_enabled"]
    if kind == "BatchEndpoint" and str(out.get("auth_mode", "")).lower() == "aad_token":
        del out["auth_mode"]
    read_back = f"{out.get('endpoint_name')}-{out.get('name')}"  # the names readback gives assets
    if isinstance(out.get("model"), dict):
        out["model"] = _anonymous(
            out["model"],
            lambda m: bool(_HASH.fullmatch(str(m.get("name", "")))) or m.get("name") == f"{read_back}-model",
        )
    if isinstance(out.get("environment"), dict):
        out["environment"] = _anonymous(
            out["environment"], lambda e: e.get("name") in (ANONYMOUS_ENVIRONMENT, f"{read_back}-env")
        )
    if isinstance(out.get("resources"), dict):  # batch: ResourceConfiguration's empty properties
        out["resources"] = {k: v for k, v in out["resources"].items() if v not in (None, {})}
        if not out["resources"]:
            del out["resources"]
    settings = out.get("settings")
    if kind == "BatchDeployment" and isinstance(settings, dict) and "instance_count" in settings:
        # ModelBatchDeployment keeps settings.instance_count and copies it to resources.instance_count,
        # which is where the Azure YAML schema (and so convert) reads it
        out["settings"] = {k: v for k, v in settings.items() if k != "instance_count"}
        out["resources"] = {"instance_count": settings["instance_count"], **(out.get("resources") or {})}
    return out


def _anonymous(asset: dict[str, Any], anonymous: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """A model/environment block without empty maps, and without the SDK's generated name and
    version when the asset has a path or image (it is a folder or an image here, not a registered asset)."""
    out = {k: v for k, v in asset.items() if v is not None and v != {}}
    if (out.get("path") or out.get("image")) and anonymous(out):
        out.pop("name", None)
        out.pop("version", None)
    return out
