"""Where model and code files come from: a volume per URI scheme, plus a download when needed.

* ``pvc://<claim>/<sub/path>``: the claim is mounted read-only straight at the mount path (with
  ``subPath``); nothing is copied, so large models are not downloaded once per pod (kserve#1741).
* ``oci://<image reference>``: an image volume (``volumes[].image``), mounted read-only. Needs the
  Kubernetes ImageVolume feature gate (on by default in recent releases) and a container
  runtime that supports image volumes.
* ``https://``, ``http://``, ``s3://``, ``gs://``, ``az://``, ``abfss://``, ``wasbs://``: an init
  container running ``mlendpoints fetch`` (the storage initializer, :mod:`mlendpoints.storage`)
  downloads into an ``emptyDir`` that the scoring container mounts read-only. Credentials come
  from the model's ``credentialsSecretRef`` through ``envFrom``.
* ``azureml:`` assets exist only in an Azure ML workspace: a :class:`RenderError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mlendpoints.render.errors import RenderError
from mlendpoints.render.types import Obj

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
#: Schemes the storage initializer downloads (see mlendpoints.storage.fetch).
DOWNLOAD_SCHEMES = ("https://", "http://", "s3://", "gs://", "az://", "abfss://", "wasbs://")


@dataclass(frozen=True)
class Fetch:
    """An init container to run before the scoring container (image, security and resources are
    added by the pod renderer, which owns them)."""

    name: str
    command: list[str]
    mounts: list[Obj]
    env_from: list[Obj] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    """What one URI adds to the pod."""

    volume: Obj
    mount: Obj
    fetch: Fetch | None = None


def pvc_volume(uri: str, *, volume: str, what: str, read_only: bool = True) -> tuple[Obj, str | None]:
    """``(volume, subPath)`` for ``pvc://<claim>[/<sub/path>]``.

    Raises:
        RenderError: the claim name is not a valid object name or the sub-path escapes the claim.
    """
    rest = uri[len("pvc://") :]
    claim, _, sub = rest.partition("/")
    sub = sub.strip("/")
    if not claim or len(claim) > 253 or not _DNS1123_SUBDOMAIN.match(claim):
        raise RenderError(f"{what}: {uri!r}: {claim!r} is not a PersistentVolumeClaim name")
    if ".." in sub.split("/"):
        raise RenderError(f"{what}: {uri!r}: the path inside the claim may not contain '..'")
    pvc: Obj = {"claimName": claim}
    if read_only:
        pvc["readOnly"] = True
    return {"name": volume, "persistentVolumeClaim": pvc}, (sub or None)


def image_pull_policy(reference: str) -> str:
    """Kubernetes' own default for a reference: Always for ``:latest`` or no tag, else IfNotPresent."""
    if "@" in reference:
        return "IfNotPresent"
    last = reference.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def source(
    uri: str,
    *,
    volume: str,
    mount_path: str,
    what: str,
    fetch_name: str,
    fetch_dest: str,
    credentials_secret: str | None,
) -> Source:
    """The volume, scoring-container mount and (for downloads) init container for ``uri``.

    Args:
        uri: Model path or code URI.
        volume: Volume name in the pod.
        mount_path: Where the scoring container sees the files (read-only).
        what: The field, for error messages (``model.path``).
        fetch_name: Init container name for downloads.
        fetch_dest: Where the init container writes (its own mount of the same volume).
        credentials_secret: Secret whose keys become the init container's environment.

    Raises:
        RenderError: an ``azureml:`` asset, an unknown scheme, or an invalid ``pvc://``/``oci://`` URI.
    """
    if uri.startswith("azureml:"):
        raise RenderError(
            f"{what}: {uri!r} is an Azure ML asset, which target kubernetes cannot fetch; use a storage "
            "URI (https://, s3://, gs://, az://, abfss://, wasbs://, pvc://, oci://) or target azureml"
        )
    if uri.startswith("pvc://"):
        vol, sub = pvc_volume(uri, volume=volume, what=what)
        mount: Obj = {"name": volume, "mountPath": mount_path, "readOnly": True}
        if sub:
            mount["subPath"] = sub
        return Source(vol, mount)
    if uri.startswith("oci://"):
        reference = uri[len("oci://") :]
        if not reference or any(c.isspace() for c in reference):
            raise RenderError(f"{what}: {uri!r} has no image reference after oci://")
        image = {"reference": reference, "pullPolicy": image_pull_policy(reference)}
        return Source(
            {"name": volume, "image": image}, {"name": volume, "mountPath": mount_path, "readOnly": True}
        )
    if uri.startswith(DOWNLOAD_SCHEMES):
        env_from = [{"secretRef": {"name": credentials_secret}}] if credentials_secret else []
        fetch = Fetch(
            name=fetch_name,
            command=["mlendpoints", "fetch", "--uri", uri, "--dest", fetch_dest],
            mounts=[{"name": volume, "mountPath": fetch_dest}],
            env_from=env_from,
        )
        return Source(
            {"name": volume, "emptyDir": {}},
            {"name": volume, "mountPath": mount_path, "readOnly": True},
            fetch,
        )
    raise RenderError(f"{what}: {uri!r} has a scheme the storage initializer does not support")
