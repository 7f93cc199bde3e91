"""The code hash: a short digest of a code ConfigMap's content.

The reconciler hashes the ConfigMap named in ``codeConfiguration.configMap`` and passes the hash
to :func:`mlendpoints.render.online.deployment_children`, which puts it in the pod template's
``mlendpoints.io/code-hash`` annotation: editing the scoring script then rolls the pods, like any
other template change. The render CLI uses the same function, so its output matches the cluster.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping


def config_map_hash(data: Mapping[str, str] | None, binary_data: Mapping[str, str] | None = None) -> str:
    """16 hex digits of SHA-256 over the ConfigMap's ``data`` and ``binaryData`` (key order ignored)."""
    canonical = json.dumps({"data": dict(data or {}), "binaryData": dict(binary_data or {})}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
