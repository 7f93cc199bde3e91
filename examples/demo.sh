#!/usr/bin/env bash
# The main job on a fresh machine, end to end: build (first run only) and start a local cluster with
# process nodes, the Traefik gateway and Azurite; install the CRDs; start the operator; train the
# diabetes models (scikit-learn) and upload them to Azurite where examples/ points; apply the
# examples (not the GPU one: no node here runs GPU containers); wait for Ready; flag deployments
# whose pods sit only on kwok's simulated nodes as NOT SERVING; then, through the gateway with the
# endpoint's key: one prediction, the blue/green split over 200 requests, a call pinned to green,
# and a 401 without a key.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
echo "[demo] preparing the Python environment (.venv)"
export MLENDPOINTS_PIP_PROGRESS=1
source .ci/bootstrap.sh
exec mlendpoints dev demo "$@"
