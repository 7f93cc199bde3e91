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
from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIX = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}


def quantity(value: object) -> Decimal | None:
    """Parse a Kubernetes quantity, or None when ``value`` is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str) or not value:
        return None
    for suffix in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"):
        if value.endswith(suffix):
            try:
                return Decimal(value[: -len(suffix)]) * Decimal(str(_SUFFIX[suffix]))
            except InvalidOperation:
                return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _scalar_equal(desired: object, live: object) -> bool:
    if desired == live:
        return True
    if isinstance(desired, str | int) and isinstance(live, str | int) and not isinstance(desired, bool):
        if str(desired) == str(live):
            return True
        a, b = quantity(desired), quantity(live)
        return a is not None and a == b
    return False


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field set in ``desired`` has the same value in ``live``.

    Maps: each desired key must match. Lists: same length, element-wise subset (the operator
    always renders whole lists, and the API server only adds fields *inside* elements).
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(k in live and is_subset(v, live[k]) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(is_subset(d, lv) for d, lv in zip(desired, live, strict=True))
    return _scalar_equal(desired, live)


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
        if _dropped(entry.get("fieldsV1") or {}, desired):
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
