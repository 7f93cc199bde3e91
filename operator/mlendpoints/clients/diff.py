"""Is what we would apply already true of the live object?

This is how the operator performs *zero* writes when nothing changed: a server-side apply of an
unchanged object is a no-op for etcd but still a PATCH request (it shows in audit logs, costs
API-server CPU and, at 1,000 endpoints, adds up). ``is_subset`` ignores what the API server
adds (defaults, status, metadata it owns) and normalises Kubernetes quantities ("1000m" == "1").
"""

from __future__ import annotations

import base64
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


def needs_apply(desired: dict[str, Any], live: dict[str, Any] | None) -> bool:
    """Whether applying ``desired`` would change ``live`` (status and server-owned metadata ignored)."""
    if live is None:
        return True
    body = {k: v for k, v in desired.items() if k not in {"status"}}
    return not is_subset(body, live)
