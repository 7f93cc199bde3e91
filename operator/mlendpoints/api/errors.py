"""How a resource that fails validation is described: one formatter for every place that says so.

The operator's status message (``Stalled/InvalidSpec``), ``mlendpoints render`` and
``mlendpoints convert`` all show :func:`validation_message`'s text, so the same invalid object reads the same
wherever it is seen. The form is the API server's: ``spec.traffic: <message>`` (a field path, then
what is wrong), one per error, ``; ``-separated.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

#: Errors listed before the rest are counted (a status condition's message is at most 32768
#: characters; ten errors say what to fix first).
MAX_ERRORS = 10

#: A model-level validator's message that starts with the field it is about (``traffic: ...``).
_HEAD = re.compile(r"^([A-Za-z][\w.\[\]/-]*): (.*)$", re.DOTALL)


def _path(loc: tuple[int | str, ...]) -> str:
    """``("spec", "traffic", "blue")`` -> ``spec.traffic.blue``; list indexes as ``[0]``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _line(loc: tuple[int | str, ...], msg: str) -> str:
    path = _path(loc)
    msg = msg.removeprefix("Value error, ")
    head = _HEAD.match(msg)
    if head:  # a model validator at ``spec`` saying "traffic: ..." is about spec.traffic
        field, rest = head.group(1), head.group(2)
        if path.rsplit(".", 1)[-1] == field.split(".")[0]:  # "scaleSettings: ..." at spec.scaleSettings
            field = field.partition(".")[2]
        path = ".".join(p for p in (path, field) if p)
        msg = rest
    return f"{path}: {msg}" if path else msg


def validation_message(exc: ValidationError) -> str:
    """The errors of ``exc`` as ``field.path: message; ...``.

    Args:
        exc: A validation error of a whole object (locations start at its top level, e.g.
            ``spec``), or of any model (locations are then relative to it).

    Returns:
        One ``path: message`` per error (model-level messages that name a field are folded into
        the path; pydantic's ``Value error,`` prefix is dropped), at most :data:`MAX_ERRORS`, then
        ``(N more)``.
    """
    errors = exc.errors()
    lines = [_line(tuple(e["loc"]), str(e["msg"])) for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        lines.append(f"({len(errors) - MAX_ERRORS} more)")
    return "; ".join(lines)
