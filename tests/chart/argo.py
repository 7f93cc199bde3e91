"""Run the shipped Argo CD health check (docs/gitops/health.lua) the way Argo CD does.

Argo CD evaluates ``resource.customizations.health.<group>_<Kind>`` with gopher-lua (Lua 5.1):
the resource is the global ``obj`` and the script returns ``{status, message}``. We run it with
lupa's Lua 5.1 runtime. Used by test_lua.py (synthetic objects) and test_gitops.py (objects
captured from the API server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HEALTH_LUA = REPO / "docs" / "gitops" / "health.lua"
ARGOCD_CM = REPO / "docs" / "gitops" / "argocd-cm.yaml"
#: kstatus result -> the Argo CD health our script must give it.
KSTATUS_TO_ARGO = {"Current": "Healthy", "InProgress": "Progressing", "Failed": "Degraded"}


def _lua_value(runtime: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return runtime.table_from({k: _lua_value(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_lua_value(runtime, v) for v in value])
    return value


def health(obj: dict[str, Any], script: str | None = None) -> dict[str, str]:
    """``{"status": ..., "message": ...}`` as Argo CD would compute it for ``obj``."""
    import lupa.lua51

    runtime = lupa.lua51.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals()["obj"] = _lua_value(runtime, obj)
    result = runtime.execute(HEALTH_LUA.read_text() if script is None else script)
    return {"status": str(result["status"]), "message": str(result["message"] or "")}
