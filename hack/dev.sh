#!/usr/bin/env bash
# hack/dev.sh — `make dev`: the system on this machine, no Docker needed.
# Starts a real Kubernetes API server for custom resources on loopback, installs the
# Thumbnail CRD and the example manifests, and prints how to reach it. Ctrl-C stops
# everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[dev] %s\n' "$*" >&2; }
export K8SAPI_HOME=${K8SAPI_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/dev-apiserver}
# The binaries are shared with the test server's cache: build once.
shared=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/crd-apiserver
if [ ! -e "$K8SAPI_HOME/.installed" ] && [ -e "$shared/.installed" ]; then
	mkdir -p "$K8SAPI_HOME" && cp -a "$shared/bin" "$shared/.installed" "$K8SAPI_HOME/"
fi

stop() { trap - EXIT INT TERM; log "stopping"; bash hack/crd-apiserver.sh stop || true; }
trap stop EXIT INT TERM

eval "$(bash hack/crd-apiserver.sh start)"
kubectl apply --server-side -f crds/ >&2
kubectl wait --for condition=Established crd/thumbnails.thumbnails.dev --timeout=60s >&2
kubectl apply -f examples/ >&2

cat <<MSG

  The Thumbnail API is served by a real Kubernetes API server on loopback.
  In another shell:

    export KUBECONFIG=$KUBECONFIG
    kubectl get thumbnails
    kubectl explain thumbnail.spec

  Ctrl-C stops it.
MSG
while :; do sleep 3600 & wait $!; done
