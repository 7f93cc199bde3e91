"""Kubernetes resource quantities as exact numbers, to compare requests with limits.

The API server rejects a container whose request exceeds its limit; comparing lets the API models
reject such a spec up front (mirroring the CRD's CEL rules) and lets the
renderer reconcile a user's request with a default or InstanceType limit instead of producing a
Deployment the API server refuses.
"""

from __future__ import annotations

import re
from decimal import Decimal

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_RE = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


def parse(value: int | str) -> Decimal:
    """The quantity's value in base units (cores, bytes, devices).

    Raises:
        ValueError: not a Kubernetes quantity (the API models validate quantities, so only hand-made
            settings can hit this).
    """
    if isinstance(value, int):
        return Decimal(value)
    match = _RE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * Decimal(10) ** int(suffix[1:])
