"""Names of the child objects, in one place so the reconciler, the renderers and docs agree.

Every name is a DNS-1035 label of at most 63 characters, because Service names become DNS labels.
Endpoint and deployment names are at most 32 characters each (Azure ML's limit), so
``<endpoint>-<deployment>`` can reach 65: such names are cut and end in a short hash of the full
name, so they stay unique and stable across reconciles.
"""

from __future__ import annotations

import hashlib

#: Longest Kubernetes object name that is also a DNS label (Services, selectors, DNS).
MAX_NAME = 63
_HASH_LEN = 8


def fit(name: str, limit: int = MAX_NAME) -> str:
    """``name`` if it fits in ``limit``, else a prefix plus ``-`` plus an 8-hex-digit hash of ``name``."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LEN]
    prefix = name[: limit - _HASH_LEN - 1].rstrip("-")
    return f"{prefix}-{digest}"


def deployment_object(endpoint: str, deployment: str) -> str:
    """Name of a deployment's Deployment, Service, HPA and PDB."""
    return fit(f"{endpoint}-{deployment}")


def endpoint_service(endpoint: str) -> str:
    """Name of the endpoint's stable Service."""
    return endpoint


def keys_secret(endpoint: str) -> str:
    """Name of the Secret holding the endpoint's primaryKey and secondaryKey."""
    return fit(f"{endpoint}-keys")


def route(endpoint: str, index: int = 0) -> str:
    """Name of the endpoint's HTTPRoute; ``index`` > 0 names the overflow routes of header pins."""
    return endpoint if index == 0 else fit(f"{endpoint}-pins-{index + 1}")


def ingress(endpoint: str) -> str:
    """Name of the endpoint's primary Ingress."""
    return endpoint


def canary_ingress(endpoint: str) -> str:
    """Name of the ingress-nginx canary Ingress."""
    return fit(f"{endpoint}-canary")
