"""Type aliases shared by the renderers."""

from __future__ import annotations

from typing import Any, TypeAlias

#: A plain Kubernetes object or sub-object as JSON-compatible dict, ready for server-side apply.
Obj: TypeAlias = dict[str, Any]
