"""The one exception renderers raise: a spec that can never be rendered as written.

The reconciler turns a :class:`RenderError` into ``Stalled=True`` (an ``Outcome.stalled``: no retry
until the spec changes) with the message as is, so messages name the field and say what to do.
"""

from __future__ import annotations


class RenderError(ValueError):
    """The resource's spec cannot be turned into Kubernetes objects; the message names the field."""
