"""The storage initializer's one error type: a one-line reason the pod's status will show."""

from __future__ import annotations


class FetchError(RuntimeError):
    """The URI could not be fetched; ``str()`` is a one-line reason naming the URI or file."""
