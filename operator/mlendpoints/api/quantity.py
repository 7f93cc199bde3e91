"""Kubernetes resource quantities (``500m``, ``4Gi``, ``1e3``): the API's one parser.

The API models compare quantities (a request above its limit is rejected up front, mirroring the
CRD's CEL rules) and the renderer reconciles a user's request with a default or InstanceType
limit; both parse with :func:`parse`, and the API's ``Quantity`` type validates with it, so bad
input reads the same wherever it is found (:data:`ERROR`).

Why not ``kubernetes.utils.parse_quantity``: the API package (with the renderers) is the base
install and imports no ``kubernetes`` (import-linter's "pure layers" contract), so it keeps these
few lines. The operator's clients, which may import ``kubernetes``, use ``parse_quantity`` itself
(``clients/diff.py``); tests/unit/test_quantity.py checks that both give the same value for every
form the pattern admits. The grammar is apimachinery's ``resource.Quantity``: the pattern is the
one the core API publishes in its OpenAPI, and an exponent must be an integer
(``ParseQuantity``).
"""

from __future__ import annotations

import re
from decimal import Decimal

#: Kubernetes resource.Quantity, as the core API spells it in its own OpenAPI (the CRDs use it).
PATTERN = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"

#: The message for anything that is not a quantity (``{value!r}`` is filled in).
ERROR = "{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)"

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_SPLIT = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


def parse(value: int | str) -> Decimal:
    """The quantity's value in base units (cores, bytes, devices).

    Args:
        value: An int, or a string in apimachinery's quantity grammar (``100m``, ``1.5Gi``,
            ``2e3``).

    Returns:
        The exact value (``parse("100m") == Decimal("0.1")``).

    Raises:
        ValueError: not a quantity; the message is :data:`ERROR`.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(ERROR.format(value=value))
    if isinstance(value, int):
        return Decimal(value)
    match = _SPLIT.match(value)
    if match is None:
        raise ValueError(ERROR.format(value=value))
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    exponent = _DECIMAL[suffix] if suffix in _DECIMAL else int(suffix[1:] or 0)
    return number.scaleb(exponent)


def check(value: int | str) -> int | str:
    """``value`` unchanged when it is a quantity (the API's ``Quantity`` validator).

    Raises:
        ValueError: see :func:`parse`.
    """
    parse(value)
    return value
