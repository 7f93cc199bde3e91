#!/usr/bin/env bash
# Create (or refresh) the project's virtualenv at .venv with the operator, azure, runtime, storage and dev extras
# (storage: adlfs & co., which the dev cluster's process nodes use to fetch az:// models).
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
EXTRAS=operator,azure,runtime,storage,local,dev
want=$( (cat "$ROOT/pyproject.toml" "$ROOT/dev/pyproject.toml"; echo "$EXTRAS") | sha256sum | cut -d' ' -f1)
# MLENDPOINTS_PIP_PROGRESS=1 (examples/demo.sh sets it): show pip's progress instead of --quiet.
PIPQ=--quiet; [ "${MLENDPOINTS_PIP_PROGRESS:-}" = 1 ] && PIPQ=--progress-bar=off
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing mlendpoints[$EXTRAS] (first run: a few minutes)" >&2
  "$VENV/bin/python" -m pip install $PIPQ --upgrade pip >&2
  "$VENV/bin/python" -m pip install $PIPQ -e "$ROOT[$EXTRAS]" >&2
  echo "[bootstrap] installing the dev tooling (dev/: mlendpoints-dev, not part of the product)" >&2
  "$VENV/bin/python" -m pip install $PIPQ --no-deps -e "$ROOT/dev" >&2
  echo "$want" > "$stamp"
fi
if ! command -v wrk >/dev/null 2>&1 && [ "${MLENDPOINTS_SKIP_APT:-}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
  # wrk drives the scoring benchmarks (bench/); tests do not need it, so a failure here is not fatal.
  (apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1)) || echo "[bootstrap] note: could not install wrk (only bench/ needs it)" >&2
fi
export PATH="$VENV/bin:$PATH"
