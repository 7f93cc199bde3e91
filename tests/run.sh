#!/usr/bin/env bash
# The whole test suite, from a fresh machine: venv + packages, static checks, then pytest.
# The pytest session builds (first run: 10-25 min, cached in ~/.cache/mlendpoints/bin) and starts
# a real local control plane; set MLENDPOINTS_TEST_KUBECONFIG to use an existing cluster instead.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source .ci/bootstrap.sh
echo "== ruff" && ruff check operator dev tests bench && ruff format --check operator dev tests bench
echo "== mypy" && mypy
echo "== import-linter" && lint-imports
echo "== pytest" && exec pytest "$@"
