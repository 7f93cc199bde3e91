"""Downward API fields and container environment, resolved as the kubelet does.

Order (the kubelet's ``makeEnvironmentVariables``): ``envFrom`` sources in order (later wins,
``prefix`` prepended), then ``env`` entries in order, each able to reference earlier variables
with ``$(NAME)`` (``$$`` escapes). ``valueFrom`` supports ``fieldRef``, ``resourceFieldRef``,
``secretKeyRef`` and ``configMapKeyRef`` (with ``optional``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping

from kubernetes.utils import parse_quantity

from mlendpoints_dev.nodeagent.kube import Obj

Lookup = Callable[[str, str, str], Obj | None]


class ConfigError(RuntimeError):
    """The container's configuration cannot be resolved (``CreateContainerConfigError``)."""


_LABEL_RE = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")


def field_value(pod: Obj, item: Obj, container: Obj | None = None) -> str:
    """Value of a ``fieldRef`` or ``resourceFieldRef`` item for ``pod``."""
    if "fieldRef" in item:
        return _field_ref(pod, item["fieldRef"]["fieldPath"])
    if "resourceFieldRef" in item:
        return _resource_ref(pod, item["resourceFieldRef"], container)
    raise ConfigError(f"unsupported downward API item {sorted(item)}")


def _field_ref(pod: Obj, path: str) -> str:
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": ",".join(p["ip"] for p in status.get("podIPs") or []),
        "status.hostIPs": ",".join(p["ip"] for p in status.get("hostIPs") or []),
    }
    if path in simple:
        return str(simple[path])
    if path in ("metadata.labels", "metadata.annotations"):
        d = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(d.items()))
    m = _LABEL_RE.fullmatch(path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    raise ConfigError(f"unsupported fieldRef.fieldPath {path!r}")


def _resource_ref(pod: Obj, ref: Obj, container: Obj | None) -> str:
    name = ref.get("containerName") or (container or {}).get("name")
    c = next((c for c in pod["spec"].get("containers", []) if c["name"] == name), None)
    if c is None:
        raise ConfigError(f"resourceFieldRef: no container {name!r}")
    kind, _, res = ref["resource"].partition(".")
    value = ((c.get("resources") or {}).get(kind) or {}).get(res)
    if value is None:  # the kubelet falls back to node allocatable; ours is the node's capacity
        value = "16" if res == "cpu" else "64Gi"
    divisor = parse_quantity(str(ref.get("divisor", "1")))  # type: ignore[no-untyped-call]
    q = parse_quantity(str(value)) / divisor  # type: ignore[no-untyped-call]
    return str(int(-(-q // 1)))  # ceiling, as the kubelet rounds up


def _key(lookup: Lookup, kind: str, ns: str, ref: Obj) -> str | None:
    obj = lookup(kind, ns, ref["name"])
    what = "secret" if kind == "secrets" else "configmap"
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{what} "{ref["name"]}" not found')
    data = obj.get("data") or {}
    if ref["key"] not in data:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {ref['key']} in {what} {ns}/{ref['name']}")
    raw = data[ref["key"]]
    return base64.b64decode(raw).decode(errors="replace") if kind == "secrets" else str(raw)


_REF = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known names replaced, unknown left as is, ``$$`` -> ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _REF.sub(sub, text)


def container_env(pod: Obj, container: Obj, lookup: Lookup, base: Mapping[str, str]) -> dict[str, str]:
    """The container's environment: ``base`` (image defaults), then envFrom, then env."""
    ns = pod["metadata"]["namespace"]
    env = dict(base)
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        kind, ref = (
            ("configmaps", src["configMapRef"]) if "configMapRef" in src else ("secrets", src["secretRef"])
        )
        obj = lookup(kind, ns, ref["name"])
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{"secret" if kind == "secrets" else "configmap"} "{ref["name"]}" not found')
        for k, v in (obj.get("data") or {}).items():
            env[prefix + k] = base64.b64decode(v).decode(errors="replace") if kind == "secrets" else str(v)
    for e in container.get("env") or []:
        if "valueFrom" not in e:
            env[e["name"]] = expand(str(e.get("value", "")), env)
            continue
        vf = e["valueFrom"]
        value: str | None
        if "secretKeyRef" in vf:
            value = _key(lookup, "secrets", ns, vf["secretKeyRef"])
        elif "configMapKeyRef" in vf:
            value = _key(lookup, "configmaps", ns, vf["configMapKeyRef"])
        else:
            value = field_value(pod, vf, container)
        if value is not None:
            env[e["name"]] = value
    return env
