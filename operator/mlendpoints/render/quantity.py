"""Kubernetes resource quantities as exact numbers: see :mod:`mlendpoints.api.quantity`.

The parser lives in the API package because the API's validators compare quantities too
(a GPU request must equal its limit); the renderers use the same function.
"""

from mlendpoints.api.quantity import parse

__all__ = ["parse"]
