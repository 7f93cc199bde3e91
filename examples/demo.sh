#!/usr/bin/env bash
# The main job on a fresh machine: build (first run only) and start a local control plane,
# install the CRDs, start the operator, apply every example, and show `kubectl get ml`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source .ci/bootstrap.sh
exec mlendpoints dev demo "$@"
