#!/usr/bin/env bash
# Create (or refresh) the project's virtualenv at .venv with the operator, azure, runtime and dev extras.
# Idempotent: reinstalls only when pyproject.toml changed. Sourced by tests/run.sh and examples/demo.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MLENDPOINTS_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating virtualenv $VENV" >&2
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.mlendpoints-installed"
want=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing mlendpoints[operator,azure,runtime,dev] (first run: a few minutes)" >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[operator,azure,runtime,dev]"
  echo "$want" > "$stamp"
fi
if ! command -v wrk >/dev/null 2>&1 && [ "${MLENDPOINTS_SKIP_APT:-}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
  # wrk drives the scoring benchmarks (bench/); tests do not need it, so a failure here is not fatal.
  (apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1)) || echo "[bootstrap] note: could not install wrk (only bench/ needs it)" >&2
fi
export PATH="$VENV/bin:$PATH"
