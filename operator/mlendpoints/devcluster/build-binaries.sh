#!/usr/bin/env bash
# Build the local control plane's binaries from the Go module proxy and cache them by version.
#
# Why a script: kube-apiserver & co. cannot be `go install`ed (their go.mod has replace lines),
# so each is built inside a throwaway wrapper module. Outputs land in
#   $CACHE/<component>-<version>/   (CACHE defaults to ~/.cache/mlendpoints/bin)
# and a component whose directory already holds its binaries is skipped, so reruns are instant.
#
# Usage: build-binaries.sh <k8s-version> <etcd-version> <kwok-version> <helm-version> <gateway-api-version>
set -euo pipefail
K8S=$1 ETCD=$2 KWOK=$3 HELM=$4 GWAPI=$5
CACHE=${MLENDPOINTS_BIN_CACHE:-$HOME/.cache/mlendpoints/bin}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
command -v go >/dev/null || { echo "error: Go is not installed (need Go >= 1.26 on PATH) to build the Kubernetes binaries" >&2; exit 3; }
log() { echo "[devcluster build $(date +%H:%M:%S)] $*" >&2; }

build_k8s() {
  local out=$CACHE/kubernetes-$K8S
  if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/kube-scheduler" ] && [ -x "$out/kubectl" ]; then return; fi
  log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $K8S (cold: 10-25 min on 2 cores)"
  local stg="v0.${K8S#v1.}" minor; minor=$(echo "$K8S" | cut -d. -f2)
  local w; w=$(mktemp -d); trap 'rm -rf "$w"' RETURN
  (cd "$w"
   go mod init example.invalid/k8s-bins >/dev/null 2>&1
   local up; up=$(go mod download -json "k8s.io/kubernetes@$K8S" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
   for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$up"); do
     go mod edit -replace="$m=$m@$stg"
   done
   local gd; gd=$(sed -n 's/^godebug default=\(go[0-9.]*\)$/\1/p' "$up" || true)
   if [ -n "$gd" ]; then go mod edit -godebug="default=$gd"; fi
   log "resolving modules"
   go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S" "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S" \
          "k8s.io/kubernetes/cmd/kube-scheduler@$K8S" "k8s.io/kubernetes/cmd/kubectl@$K8S" >/dev/null 2>&1
   local v=k8s.io/component-base/version c=k8s.io/client-go/pkg/version now ldf="-s -w"
   now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
   for p in $v $c; do
     ldf="$ldf -X $p.gitVersion=$K8S -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$now"
   done
   log "compiling"
   mkdir -p "$out.tmp"
   go build -ldflags "$ldf" -o "$out.tmp/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "kubernetes $K8S ready in $out"
}

build_etcd() {
  local out=$CACHE/etcd-$ETCD
  [ -x "$out/etcd" ] && return
  log "building etcd $ETCD"
  local w; w=$(mktemp -d); trap 'rm -rf "$w"' RETURN
  (cd "$w"; go mod init example.invalid/etcd-bin >/dev/null 2>&1
   go get "go.etcd.io/etcd/server/v3@$ETCD" >/dev/null 2>&1
   mkdir -p "$out.tmp"; go build -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_kwok() {
  local out=$CACHE/kwok-$KWOK
  [ -x "$out/kwok" ] && [ -f "$out/stages.yaml" ] && return
  log "building kwok $KWOK"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
  local s; s=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK/kustomize/stage
  # kwok >= 0.8 ships no built-in stages: concatenate the fast ones (see docs/devcluster.md).
  { cat "$s/node/fast/node-initialize.yaml"; echo ---; cat "$s/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml"; echo ---
    cat "$s/pod/fast/pod-ready.yaml"; echo ---; cat "$s/pod/fast/pod-complete.yaml"; echo ---; cat "$s/pod/fast/pod-delete.yaml"; } > "$out.tmp/stages.yaml"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_helm() {
  local out=$CACHE/helm-$HELM
  [ -x "$out/helm" ] && return
  log "building helm $HELM"
  local minor; minor=$(echo "$K8S" | cut -d. -f2)
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" "helm.sh/helm/v3/cmd/helm@$HELM"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

fetch_gateway_api() {
  local out=$CACHE/gateway-api-$GWAPI
  [ -f "$out/standard-install.yaml" ] && return
  log "fetching Gateway API $GWAPI CRDs (standard channel)"
  local dir; dir=$(go mod download -json "sigs.k8s.io/gateway-api@$GWAPI" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$out.tmp"
  for f in "$dir"/config/crd/standard/*.yaml; do cat "$f"; echo ---; done > "$out.tmp/standard-install.yaml"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

mkdir -p "$CACHE"
fetch_gateway_api
build_etcd
build_kwok
build_helm
build_k8s
log "all binaries cached under $CACHE"
