"""Is what we would apply already true of the live object?

This is how the operator performs *zero* writes when nothing changed: a server-side apply of an
unchanged object is a no-op for etcd but still a PATCH request (it shows in audit logs, costs
API-server CPU and, at 1,000 endpoints, adds up). ``is_subset`` ignores what the API server
adds (defaults, status, metadata it owns) and normalises Kubernetes quantities ("1000m" == "1").
A subset check alone cannot see a field the operator *stops* rendering (an InstanceType's
``nodeSelector`` after the deployment drops ``instanceType``): ``owns_dropped`` reads the field
manager's ``managedFields`` entry, so such an object is applied and server-side apply removes it.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

from mlendpoints.clients import store


def quantity(value: object) -> Decimal | None:
    """``value`` as a Kubernetes quantity (``kubernetes.utils.parse_quantity``), or None when it is
    not one (a string that is no number, a bool, a map): then it is compared as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:  # a float as written ("0.1"), not its binary expansion
        parsed: Decimal = parse_quantity(str(value) if isinstance(value, float) else value)  # type: ignore[no-untyped-call]
    except ValueError:
        return None
    return parsed if parsed.is_finite() else None


def _scalar_equal(desired: object, live: object) -> bool:
    if desired == live:
        return True
    if isinstance(desired, str | int) and isinstance(live, str | int) and not isinstance(desired, bool):
        if str(desired) == str(live):
            return True
        a, b = quantity(desired), quantity(live)
        return a is not None and a == b
    return False


#: Maps compared exactly (same keys), wherever they appear: label selectors and node selectors.
#: An extra key is drift (a Service selecting no pod, a pod pinned elsewhere), and the API server
#: adds none of its own to them. Server-side apply replaces these maps whole (they are atomic).
EXACT_MAPS = frozenset({"selector", "matchLabels", "nodeSelector"})


def is_subset(desired: Any, live: Any, *, exact: bool = False) -> bool:
    """True when every field set in ``desired`` has the same value in ``live``.

    Maps: each desired key must match; maps under a key in :data:`EXACT_MAPS` (or with ``exact``)
    must also have no other keys. Lists: same length, element-wise subset (the operator always
    renders whole lists, and the API server only adds fields *inside* elements), so an added
    env var or toleration is drift too.
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict) or (exact and live.keys() != desired.keys()):
            return False
        return all(k in live and is_subset(v, live[k], exact=k in EXACT_MAPS) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(is_subset(d, lv) for d, lv in zip(desired, live, strict=True))
    return _scalar_equal(desired, live)


#: Pod template fields the operator decides whether to set: when it renders none, one added by
#: someone else (pods pinned to other nodes) is drift, removed by :func:`foreign_fields`.
SCHEDULING_FIELDS = ("nodeSelector", "tolerations", "affinity")


def foreign_fields(desired: dict[str, Any], live: dict[str, Any] | None) -> list[dict[str, Any]]:
    """JSON Patch operations removing what other clients added inside our pod template.

    Server-side apply cannot remove these: an env list is keyed by name, so an added entry
    belongs to the manager that added it and our apply leaves it (e.g. ``MLENDPOINTS_DEBUG=true``
    from ``kubectl set env``); a scheduling field we do not render at all is not ours either.
    Removed: env vars of our containers that we do not render, and :data:`SCHEDULING_FIELDS` we
    do not render. Each removal is guarded by a ``test`` of the value, so a concurrent change
    fails the patch (422) instead of removing the wrong entry. Empty: nothing to remove.
    """
    template = ((desired.get("spec") or {}).get("template") or {}).get("spec")
    live_template = (((live or {}).get("spec") or {}).get("template") or {}).get("spec")
    if not isinstance(template, dict) or not isinstance(live_template, dict):
        return []
    ops: list[dict[str, Any]] = []
    for field in ("initContainers", "containers"):
        wanted = {c["name"]: {e["name"] for e in c.get("env") or []} for c in template.get(field) or []}
        for i, container in enumerate(live_template.get(field) or []):
            names = wanted.get(container.get("name"))
            if names is None:
                continue
            env = container.get("env") or []
            for j in reversed(range(len(env))):  # from the end: earlier indices stay valid
                if env[j].get("name") not in names:
                    path = f"/spec/template/spec/{field}/{i}/env/{j}"
                    ops += [{"op": "test", "path": f"{path}/name", "value": env[j].get("name")}]
                    ops += [{"op": "remove", "path": path}]
    for field in SCHEDULING_FIELDS:
        if field not in template and live_template.get(field):
            path = f"/spec/template/spec/{field}"
            ops += [
                {"op": "test", "path": path, "value": live_template[field]},
                {"op": "remove", "path": path},
            ]
    return ops


def canonical(desired: dict[str, Any]) -> dict[str, Any]:
    """The form the API server stores: a Secret's ``stringData`` becomes base64 ``data``.

    Applying ``data`` directly keeps the live object comparable with what we render (the server
    never returns ``stringData``), so an unchanged Secret is not re-applied on every reconcile.
    """
    if desired.get("kind") != "Secret" or "stringData" not in desired:
        return desired
    out = {k: v for k, v in desired.items() if k != "stringData"}
    data = dict(out.get("data") or {})
    data.update({k: base64.b64encode(str(v).encode()).decode() for k, v in desired["stringData"].items()})
    out["data"] = data
    return out


def _element(items: list[Any], key: dict[str, Any]) -> Any:
    """The element of an associative list with ``key`` (a managedFields ``k:`` key), or None.

    A key field the rendered element leaves out is one the API server defaulted (a port's
    ``protocol``), so it matches any value.
    """
    for item in items:
        if isinstance(item, dict) and all(k not in item or _scalar_equal(item[k], v) for k, v in key.items()):
            return item
    return None


def _dropped(fields: dict[str, Any], desired: Any) -> bool:
    """Whether a field in the ``fieldsV1`` set ``fields`` is missing from ``desired``.

    Source of the format: Kubernetes structured-merge-diff ``fieldpath`` serialisation
    (``f:`` map field, ``k:`` associative-list key, ``v:`` set value, ``i:`` list index,
    ``.`` the element itself). An unknown prefix counts as present: never a write on doubt.
    """
    for path, sub in fields.items():
        kind, _, raw = path.partition(":")
        child: Any = None
        if kind == "f":
            if not isinstance(desired, dict) or raw not in desired:
                return True
            child = desired[raw]
        elif kind in {"k", "v", "i"}:
            if not isinstance(desired, list):
                return True
            if kind == "v":
                if json.loads(raw) not in desired:
                    return True
                continue
            if kind == "i":
                child = desired[int(raw)] if int(raw) < len(desired) else None
            else:
                child = _element(desired, json.loads(raw))
            if child is None:
                return True
        else:
            continue
        if isinstance(sub, dict) and sub and _dropped(sub, child):
            return True
    return False


def owns_dropped(desired: dict[str, Any], live: dict[str, Any], manager: str) -> bool:
    """Whether ``manager`` applied a field of ``live`` that ``desired`` no longer sets.

    Server-side apply removes such a field (or gives it up to a co-owner) only when the manager
    applies again; without that apply it would stay forever. Status-subresource entries are ignored.
    """
    for entry in live.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply" or entry.get("subresource"):
            continue
        if _dropped(store.fields_v1(entry), desired):
            return True
    return False


def needs_apply(desired: dict[str, Any], live: dict[str, Any] | None, *, manager: str | None = None) -> bool:
    """Whether applying ``desired`` would change ``live`` (status and server-owned metadata ignored).

    With ``manager`` (our field manager), also when ``live`` holds a field we applied before and
    ``desired`` dropped; see :func:`owns_dropped`.
    """
    if live is None:
        return True
    body = {k: v for k, v in desired.items() if k not in {"status"}}
    if not is_subset(body, live):
        return True
    return manager is not None and owns_dropped(body, live, manager)
