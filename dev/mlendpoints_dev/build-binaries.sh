#!/usr/bin/env bash
# Build the local control plane's binaries from the Go module proxy and cache them by version.
#
# Why a script: kube-apiserver & co. cannot be `go install`ed (their go.mod has replace lines),
# so each is built inside a throwaway wrapper module. Outputs land in
#   $CACHE/<component>-<version>/   (CACHE defaults to ~/.cache/mlendpoints/bin)
# and a component whose directory already holds its binaries is skipped, so reruns are instant.
# Each component is built into "<dir>.tmp" and renamed when complete, so an interrupted build
# never leaves a half-filled cache directory behind.
#
# Needs: Go >= 1.26 on PATH, access to the Go module proxy, bash, python3 (or $PYTHON).
# Usage: build-binaries.sh <k8s-version> <etcd-version> <kwok-version> <helm-version> <gateway-api-version> <traefik-version> <helm-docs-version>
# (the pinned versions live in dev/mlendpoints_dev/versions.py; `mlendpoints dev build` passes them)
# MLENDPOINTS_BUILD_ONLY="helm-docs ..." (component names as in the cache directories) builds
# only those components; unset or empty: all of them.
set -euo pipefail
if [ $# -ne 7 ]; then
  echo "usage: $0 <k8s-version> <etcd-version> <kwok-version> <helm-version> <gateway-api-version> <traefik-version> <helm-docs-version>" >&2; exit 2
fi
K8S=$1 ETCD=$2 KWOK=$3 HELM=$4 GWAPI=$5 TRAEFIK=$6 HELM_DOCS=$7
ONLY=" ${MLENDPOINTS_BUILD_ONLY:-} "
CACHE=${MLENDPOINTS_BIN_CACHE:-$HOME/.cache/mlendpoints/bin}
PY=${PYTHON:-python3}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
log() { echo "[devcluster build $(date +%H:%M:%S)] $*" >&2; }
die() { echo "[devcluster build] error: $*" >&2; exit 3; }

command -v go >/dev/null || die "Go is not installed (need Go >= 1.26 on PATH) to build the Kubernetes binaries"
gov=$(go env GOVERSION); gominor=$(echo "${gov#go}" | cut -d. -f2)
[ "$(echo "${gov#go}" | cut -d. -f1)" -gt 1 ] || [ "${gominor:-0}" -ge 26 ] \
  || die "Go $gov is too old: Kubernetes ${K8S%.*}, kwok $KWOK and helm $HELM need Go >= 1.26 (GOTOOLCHAIN=local, no auto-download)"

# run <logfile> <cmd...>: quiet on success, the command's last lines on failure.
run() {
  local out=$1; shift
  if ! "$@" >"$out" 2>&1; then
    echo "[devcluster build] command failed: $*" >&2; tail -n 40 "$out" >&2; exit 3
  fi
}

# A heartbeat while a long, silent step runs (the K8s compile is 10-25 min on 2 cores).
HB=
heartbeat_start() { ( s=0; while sleep 60; do s=$((s + 1)); log "  ... still $1 (${s} min)"; done ) & HB=$!; }
heartbeat_stop() { if [ -n "$HB" ]; then kill "$HB" 2>/dev/null || true; wait "$HB" 2>/dev/null || true; HB=; fi; }
trap heartbeat_stop EXIT

build_k8s() {
  local out=$CACHE/kubernetes-$K8S
  if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/kube-scheduler" ] && [ -x "$out/kubectl" ]; then return; fi
  log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $K8S (cold: ~8 min measured on 2 cores, up to 25 min)"
  local stg="v0.${K8S#v1.}" minor; minor=$(echo "$K8S" | cut -d. -f2)
  local w; w=$(mktemp -d)
  (cd "$w"
   run "$w/log" go mod init example.invalid/k8s-bins
   local up; up=$(go mod download -json "k8s.io/kubernetes@$K8S" | "$PY" -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
   # One replace per staging module (k8s.io/x => ./staging/... upstream), pinned to the matching v0 tag.
   for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$up"); do
     go mod edit -replace="$m=$m@$stg"
   done
   # godebug only applies in the main module, so copy upstream's into the wrapper.
   local gd; gd=$(sed -n 's/^godebug default=\(go[0-9.]*\)$/\1/p' "$up" || true)
   if [ -n "$gd" ]; then go mod edit -godebug="default=$gd"; fi
   log "resolving modules"
   run "$w/get.log" go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S" "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S" \
          "k8s.io/kubernetes/cmd/kube-scheduler@$K8S" "k8s.io/kubernetes/cmd/kubectl@$K8S"
   # Version stamping (hack/lib/version.sh): without it /version says v0.0.0-master and Helm's kubeVersion checks fail.
   local v=k8s.io/component-base/version c=k8s.io/client-go/pkg/version now ldf="-s -w"
   now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
   for p in $v $c; do
     ldf="$ldf -X $p.gitVersion=$K8S -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$now"
   done
   log "compiling"
   heartbeat_start compiling
   rm -rf "$out.tmp"; mkdir -p "$out.tmp"
   run "$w/build.log" go build -ldflags "$ldf" -o "$out.tmp/" k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
   heartbeat_stop)
  rm -rf "$w"
  "$out.tmp/kube-apiserver" --version | grep -qx "Kubernetes $K8S" || die "kube-apiserver is not stamped $K8S: $("$out.tmp/kube-apiserver" --version)"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "kubernetes $K8S ready in $out"
}

build_etcd() {
  local out=$CACHE/etcd-$ETCD
  [ -x "$out/etcd" ] && return
  log "building etcd $ETCD"
  local w; w=$(mktemp -d)
  # server/go.mod has replace lines (no `go install`), but its requires carry real versions: a bare wrapper works.
  (cd "$w"; run "$w/log" go mod init example.invalid/etcd-bin
   run "$w/get.log" go get "go.etcd.io/etcd/server/v3@$ETCD"
   rm -rf "$out.tmp"; mkdir -p "$out.tmp"; run "$w/build.log" go build -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$w"
  "$out.tmp/etcd" --version | grep -q "etcd Version: ${ETCD#v}" || die "built etcd does not report ${ETCD#v}"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_kwok() {
  local out=$CACHE/kwok-$KWOK
  [ -x "$out/kwok" ] && [ -f "$out/stages.yaml" ] && return
  log "building kwok $KWOK"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  GOBIN="$out.tmp" run "$out.tmp/.log" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
  local s; s=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK/kustomize/stage
  # kwok >= 0.8 ships no built-in stages: concatenate the fast ones (see docs/devcluster.md).
  { cat "$s/node/fast/node-initialize.yaml"; echo ---; cat "$s/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml"; echo ---
    cat "$s/pod/fast/pod-ready.yaml"; echo ---; cat "$s/pod/fast/pod-complete.yaml"; echo ---; cat "$s/pod/fast/pod-delete.yaml"; } > "$out.tmp/stages.yaml"
  rm -f "$out.tmp/.log"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_helm() {
  local out=$CACHE/helm-$HELM
  [ -x "$out/helm" ] && return
  log "building helm $HELM"
  local minor; minor=$(echo "$K8S" | cut -d. -f2)
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  # -X: report our version, and make `helm template` assume our K8s minor instead of v1.20.
  GOBIN="$out.tmp" run "$out.tmp/.log" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" "helm.sh/helm/v3/cmd/helm@$HELM"
  rm -f "$out.tmp/.log"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

fetch_gateway_api() {
  local out=$CACHE/gateway-api-$GWAPI
  [ -f "$out/standard-install.yaml" ] && return
  log "fetching Gateway API $GWAPI CRDs (standard channel)"
  local dir; dir=$(go mod download -json "sigs.k8s.io/gateway-api@$GWAPI" | "$PY" -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  [ -d "$dir/config/crd/standard" ] || die "sigs.k8s.io/gateway-api@$GWAPI has no config/crd/standard (module layout changed)"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  # Same files, same order as upstream's hack/build-install-yaml.sh (release/standard-install.yaml):
  # every config/crd/standard/gateway*.yaml, including the safe-upgrades ValidatingAdmissionPolicy.
  { echo "# Gateway API $GWAPI standard channel install (from the sigs.k8s.io/gateway-api module)"
    for f in "$dir"/config/crd/standard/gateway*.yaml; do echo "---"; echo "# $(basename "$f")"; cat "$f"; echo; done; } > "$out.tmp/standard-install.yaml"
  local kind
  for kind in GatewayClass Gateway HTTPRoute GRPCRoute ReferenceGrant; do
    grep -q "^    kind: $kind$" "$out.tmp/standard-install.yaml" || die "Gateway API $GWAPI standard channel lacks the $kind CRD"
  done
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_traefik() {
  local out=$CACHE/traefik-$TRAEFIK
  [ -x "$out/traefik" ] && return
  log "building traefik $TRAEFIK (the Gateway API implementation; cold: ~12 min on 2 cores, 245 MB)"
  # `go install ...@version` refuses it (its go.mod has replace lines), so build inside a writable
  # copy of the module source, where those replaces apply as in upstream's own build.
  local dir; dir=$(go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK" | "$PY" -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  local w; w=$(mktemp -d)
  cp -r "$dir" "$w/src"; chmod -R u+w "$w/src"
  log "compiling traefik"
  heartbeat_start "compiling traefik"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  (cd "$w/src"; run "$w/build.log" go build -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK" -o "$out.tmp/traefik" ./cmd/traefik)
  heartbeat_stop
  rm -rf "$w"
  "$out.tmp/traefik" version | grep -q "Version: *${TRAEFIK#v}\|Version: *$TRAEFIK" || die "built traefik does not report $TRAEFIK: $("$out.tmp/traefik" version)"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "traefik $TRAEFIK ready in $out"
}

build_helm_docs() {
  local out=$CACHE/helm-docs-$HELM_DOCS
  [ -x "$out/helm-docs" ] && return
  log "building helm-docs $HELM_DOCS (the chart's values table; cold: ~1 min)"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  GOBIN="$out.tmp" run "$out.tmp/.log" go install -ldflags "-s -w" "github.com/norwoodj/helm-docs/cmd/helm-docs@$HELM_DOCS"
  rm -f "$out.tmp/.log"
  "$out.tmp/helm-docs" --help >/dev/null || die "built helm-docs does not run"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# want <component>: selected by MLENDPOINTS_BUILD_ONLY (or everything when it is empty).
want() { [ -z "${ONLY// /}" ] || [[ "$ONLY" == *" $1 "* ]]; }

mkdir -p "$CACHE"
if want gateway-api; then fetch_gateway_api; fi
if want etcd; then build_etcd; fi
if want kwok; then build_kwok; fi
if want helm; then build_helm; fi
if want helm-docs; then build_helm_docs; fi
if want kubernetes; then build_k8s; fi
if want traefik; then build_traefik; fi
log "binaries cached under $CACHE"
