"""Pod volumes on the host: files under the pod's directory that the launcher bind-mounts.

Supported: configMap, secret, downwardAPI, projected (configMap, secret, downwardAPI,
serviceAccountToken sources), emptyDir (a plain directory; ``medium: Memory`` is not a tmpfs here),
persistentVolumeClaim (its bound PV's ``hostPath``/``local`` path), hostPath. Anything else is a
:class:`VolumeError` whose message the pod's status shows.

configMap/secret/downwardAPI/projected volumes use the kubelet's atomic layout (the kubelet's
``AtomicWriter``)::

    vol/..2026_11_29_19_00_00.123456789/<files>   the payload of one version
    vol/..data -> ..2026_11_29_...                 swapped with one rename(2)
    vol/<key>  -> ..data/<key>                     one symlink per top-level entry

so a reader sees either the old or the new set of keys, never a mix, and a changed Secret shows
up in running pods (:meth:`PodVolumes.refresh`), as on a real node.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlendpoints_dev.nodeagent.fields import field_value
from mlendpoints_dev.nodeagent.kube import Obj

#: path -> (content, mode)
Payload = dict[str, tuple[bytes, int]]
Lookup = Callable[[str, str, str], Obj | None]  # (kind, namespace, name) -> object or None
TokenSource = Callable[[Obj], str]  # serviceAccountToken projection -> token


class VolumeError(RuntimeError):
    """A volume cannot be set up: unsupported type, or a missing non-optional object."""


def write_atomic(target: Path, payload: Payload) -> bool:
    """Write ``payload`` into ``target`` in the atomic layout; False if it was already current."""
    target.mkdir(parents=True, exist_ok=True)
    data_link = target / "..data"
    if data_link.is_symlink() and _read_payload(target / os.readlink(data_link)) == payload:
        return False
    stamp = dt.datetime.now(dt.UTC).strftime("..%Y_%m_%d_%H_%M_%S.%f")
    version = target / stamp
    version.mkdir()
    for rel, (content, mode) in payload.items():
        f = version / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(content)
        f.chmod(mode)
    old = os.readlink(data_link) if data_link.is_symlink() else None
    tmp = target / "..data_tmp"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(stamp)
    tmp.replace(data_link)
    tops = {rel.split("/", 1)[0] for rel in payload}
    for entry in target.iterdir():
        if not entry.name.startswith("..") and entry.name not in tops and entry.is_symlink():
            entry.unlink()
    for top in tops:
        link = target / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    if old and old != stamp:
        shutil.rmtree(target / old, ignore_errors=True)
    return True


def _read_payload(version: Path) -> Payload | None:
    if not version.is_dir():
        return None
    out: Payload = {}
    for f in version.rglob("*"):
        if f.is_file():
            out[str(f.relative_to(version))] = (f.read_bytes(), f.stat().st_mode & 0o777)
    return out


def _keyed(data: dict[str, bytes], items: list[Obj] | None, mode: int, what: str, optional: bool) -> Payload:
    if not items:
        return {k: (v, mode) for k, v in data.items()}
    out: Payload = {}
    for it in items:
        if it["key"] not in data:
            if optional:
                continue
            raise VolumeError(f"{what} has no key {it['key']!r}")
        out[it["path"]] = (data[it["key"]], int(it.get("mode", mode)))
    return out


def object_bytes(obj: Obj) -> dict[str, bytes]:
    """A ConfigMap's or Secret's keys as bytes (Secrets' data and binaryData are base64)."""
    if obj.get("kind") == "Secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return out


class PodVolumes:
    """The volumes of one pod: :meth:`setup` once, :meth:`refresh` periodically."""

    def __init__(self, pod: Obj, base: Path, lookup: Lookup, token: TokenSource) -> None:
        self.pod = pod
        self.base = base
        self.lookup = lookup
        self.token = token
        self.ns = pod["metadata"]["namespace"]
        self.paths: dict[str, tuple[Path, bool]] = {}  # volume name -> (host path, read-only)

    def _payload(self, vol: Obj) -> Payload | None:
        """Payload of an atomic-layout volume, or None if the volume is not of that kind."""
        if "configMap" in vol or "secret" in vol:
            return self._object_payload(vol, 0o644)
        if "downwardAPI" in vol:
            src = vol["downwardAPI"]
            return self._downward(src.get("items") or [], int(src.get("defaultMode", 0o644)))
        if "projected" in vol:
            src = vol["projected"]
            mode = int(src.get("defaultMode", 0o644))
            out: Payload = {}
            for s in src.get("sources") or []:
                if "configMap" in s or "secret" in s:
                    out.update(self._object_payload(s, mode))
                elif "downwardAPI" in s:
                    out.update(self._downward(s["downwardAPI"].get("items") or [], mode))
                elif "serviceAccountToken" in s:
                    out[s["serviceAccountToken"]["path"]] = (
                        self.token(s["serviceAccountToken"]).encode(),
                        mode,
                    )
                else:
                    raise VolumeError(f"projected source {sorted(s)} is not supported on process nodes")
            return out
        return None

    def _object_payload(self, vol: Obj, default_mode: int) -> Payload:
        kind, src = ("configmaps", vol["configMap"]) if "configMap" in vol else ("secrets", vol["secret"])
        name = src.get("name") or src.get("secretName", "")
        optional = bool(src.get("optional"))
        obj = self.lookup(kind, self.ns, name)
        what = f"{kind[:-1]} {self.ns}/{name}"
        if obj is None:
            if optional:
                return {}
            raise VolumeError(f'{kind[:-1]} "{name}" not found')
        mode = int(src.get("defaultMode", default_mode))
        return _keyed(object_bytes(obj), src.get("items"), mode, what, optional)

    def _downward(self, items: list[Obj], mode: int) -> Payload:
        out: Payload = {}
        for it in items:
            out[it["path"]] = (field_value(self.pod, it).encode(), int(it.get("mode", mode)))
        return out

    def setup(self) -> None:
        """Create every volume; raises :class:`VolumeError` naming the first that cannot be made."""
        for vol in self.pod["spec"].get("volumes") or []:
            name = vol["name"]
            path = self.base / name
            payload = self._payload(vol)
            if payload is not None:
                write_atomic(path, payload)
                self.paths[name] = (path, True)
            elif "emptyDir" in vol:
                path.mkdir(parents=True, exist_ok=True)
                path.chmod(0o777)
                self.paths[name] = (path, False)
            elif "persistentVolumeClaim" in vol:
                claim = vol["persistentVolumeClaim"]
                self.paths[name] = (self._pvc_path(claim["claimName"]), bool(claim.get("readOnly")))
            elif "hostPath" in vol:
                hp = Path(vol["hostPath"]["path"])
                if vol["hostPath"].get("type") == "DirectoryOrCreate":
                    hp.mkdir(parents=True, exist_ok=True)
                if not hp.exists():
                    raise VolumeError(f"hostPath {hp} does not exist")
                self.paths[name] = (hp, False)
            else:
                kinds = sorted(k for k in vol if k != "name")
                raise VolumeError(f"volume {name!r}: type {kinds} is not supported on process nodes")

    def _pvc_path(self, claim: str) -> Path:
        pvc = self.lookup("persistentvolumeclaims", self.ns, claim)
        if pvc is None:
            raise VolumeError(f'persistentvolumeclaim "{claim}" not found')
        pv_name = (pvc.get("spec") or {}).get("volumeName")
        if not pv_name or (pvc.get("status") or {}).get("phase") != "Bound":
            raise VolumeError(f'persistentvolumeclaim "{claim}" is not bound yet')
        pv = self.lookup("persistentvolumes", "", pv_name)
        spec = (pv or {}).get("spec") or {}
        src = (spec.get("hostPath") or spec.get("local") or {}).get("path")
        if not src:
            raise VolumeError(
                f"persistentvolume {pv_name} has no hostPath/local path (process nodes need one)"
            )
        path = Path(src)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def refresh(self) -> list[str]:
        """Rewrite configMap/secret/downwardAPI/projected volumes whose content changed; names updated.

        A source that disappeared or broke keeps the last good content (the kubelet does the same).
        """
        changed = []
        for vol in self.pod["spec"].get("volumes") or []:
            try:
                payload = self._payload(vol)
            except (VolumeError, KeyError):
                continue
            if payload is not None and write_atomic(self.base / vol["name"], payload):
                changed.append(vol["name"])
        return changed

    def mount_source(self, mount: Obj, env: dict[str, str]) -> tuple[str, bool, bool]:
        """(host path, read-only, is a file) for one volumeMount, honouring subPath/subPathExpr."""
        name = mount["name"]
        if name not in self.paths:
            raise VolumeError(f"volumeMount {name!r} names no volume of the pod")
        path, ro = self.paths[name]
        sub = mount.get("subPath") or _expand(mount.get("subPathExpr") or "", env)
        if sub:
            if sub.startswith("/") or ".." in Path(sub).parts:
                raise VolumeError(f"subPath {sub!r} must be a relative path without '..'")
            path = path / sub
            if not path.exists() and not path.is_symlink():
                path.mkdir(parents=True, exist_ok=True)
            path = path.resolve()
        return str(path), ro or bool(mount.get("readOnly")), path.is_file()


def _expand(text: str, env: dict[str, str]) -> str:
    for k, v in env.items():
        text = text.replace(f"$({k})", v)
    return text


def describe(vol: Any) -> str:
    """The volume's type, for messages."""
    return next((k for k in vol if k != "name"), "unknown") if isinstance(vol, dict) else "unknown"
