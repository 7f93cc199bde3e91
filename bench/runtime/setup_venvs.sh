#!/usr/bin/env bash
# One virtualenv per peer scoring server, under a cache folder outside the repository.
# Usage: bash bench/runtime/setup_venvs.sh [name ...]     (default: all peers)
# Env: BENCH_VENVS (default ~/.cache/mlendpoints/bench-venvs), PYTHON (default python3).
# Versions are pinned to the ones in the team's shared guide shared/guides/scoring-peers.md so the numbers compare.
# Logs and `pip freeze` go next to the venvs (<venv>.log, <venv>.freeze.txt). Idempotent.
set -u
V=${BENCH_VENVS:-$HOME/.cache/mlendpoints/bench-venvs}
PY=${PYTHON:-python3}
mkdir -p "$V"
COMMON="scikit-learn==1.9.1 numpy==2.4.6 joblib==1.6.0"
declare -A PKGS=(
  # + mlflow-skinny/pandas for the "azureml-mlflow" config: Azure's no-code MLflow deployment runs a
  # generated scoring script that loads the model with mlflow.pyfunc in this same server
  [azureml]="azureml-inference-server-http==1.5.1 mlflow-skinny==3.17.2 pandas==3.1.1 $COMMON"
  [kserve]="kserve==0.21.0 $COMMON"
  # uvloop<0.22: MLServer 1.7.1's default parallel workers crash with uvloop>=0.22 (SeldonIO/MLServer#2286)
  [mlserver]="mlserver==1.7.1 mlserver-sklearn==1.7.1 mlserver-mlflow==1.7.1 uvloop<0.22 $COMMON"
)
names=("$@"); [ ${#names[@]} -eq 0 ] && names=(azureml kserve mlserver)
for n in "${names[@]}"; do
  (
    if [ "$(cat "$V/$n/.installed" 2>/dev/null)" = "${PKGS[$n]}" ]; then echo "OK $n (cached)"; exit 0; fi
    rm -rf "$V/$n" && "$PY" -m venv "$V/$n" &&
    "$V/$n/bin/pip" install -q --upgrade pip &&
    "$V/$n/bin/pip" install ${PKGS[$n]} &&
    "$V/$n/bin/pip" freeze > "$V/$n.freeze.txt" && echo "${PKGS[$n]}" > "$V/$n/.installed" && echo "OK $n"
  ) > "$V/$n.log" 2>&1 &
done
wait
for n in "${names[@]}"; do tail -1 "$V/$n.log"; done
