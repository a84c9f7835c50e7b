#!/usr/bin/env bash
# hack/dev.sh — `make dev`: the whole system on this machine, no Docker or cluster.
#
#   - a real Kubernetes API server for custom resources (hack/crd-apiserver.sh) with the
#     Thumbnail CRD installed
#   - a real S3-compatible store (SeaweedFS, hack/s3-server.sh) with the buckets
#   - the operator in local mode: resizer runs are child processes, with exactly the
#     command line a Job's container would get
#   - the REST shim
#
# All on loopback. Prints the URLs and a KUBECONFIG line; Ctrl-C stops everything it
# started. Ports and state can be moved with DEV_* variables (the end-to-end test does).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf '[dev] %s\n' "$*" >&2; }

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator
SHIM_PORT=${DEV_SHIM_PORT:-8080}
METRICS_PORT=${DEV_METRICS_PORT:-8081}
export S3_PORT=${DEV_S3_PORT:-9000}
STATE=${DEV_STATE:-$CACHE/dev}
PROFILE=${DEV_PROFILE:-release}
export K8SAPI_HOME=${DEV_K8SAPI_HOME:-$CACHE/dev-apiserver}
# Each component its own identity, as the chart does (hack/s3-server.sh runs the chart's
# generator): the admin key only uploads the examples' originals below; the resizer may
# read the `uploads` bucket too (an administrator-allowed source bucket).
export S3_BUCKETS=thumbnails,uploads S3_FRESH=1 S3_IDENTITY_BUCKET=thumbnails S3_RESIZER_READ=uploads
ADMIN_KEYS=${S3_ACCESS_KEY:-minioadmin}:${S3_SECRET_KEY:-minioadmin}
OPERATOR_ENV=(AWS_ACCESS_KEY_ID="${S3_OPERATOR_ACCESS_KEY:-thumbnail-operator}" AWS_SECRET_ACCESS_KEY="${S3_OPERATOR_SECRET_KEY:-operator-dev-secret}"
	RESIZER_AWS_ACCESS_KEY_ID="${S3_RESIZER_ACCESS_KEY:-thumbnail-resizer}" RESIZER_AWS_SECRET_ACCESS_KEY="${S3_RESIZER_SECRET_KEY:-resizer-dev-secret}")
SHIM_ENV=(AWS_ACCESS_KEY_ID="${S3_SHIM_ACCESS_KEY:-thumbnail-api-shim}" AWS_SECRET_ACCESS_KEY="${S3_SHIM_SECRET_KEY:-shim-dev-secret}")
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export S3_ENDPOINT=http://127.0.0.1:$S3_PORT
BASE_URL=http://127.0.0.1:$SHIM_PORT

pids=()
stop() {
	trap - EXIT INT TERM
	log "stopping"
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	bash hack/s3-server.sh stop >/dev/null 2>&1 || true
	bash hack/crd-apiserver.sh stop >/dev/null 2>&1 || true
}
# INT/TERM exit (which runs stop once, through EXIT) rather than returning into the script.
# Started in the background of a non-interactive shell (bench/local-e2e.sh, bench/scale.sh)
# this script ignores SIGINT, and bash cannot trap a signal ignored on entry: stop it with TERM.
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The API server binaries are shared with the test server's cache: build them once.
shared=$CACHE/crd-apiserver
if [ ! -e "$K8SAPI_HOME/.installed" ] && [ -e "$shared/.installed" ]; then
	mkdir -p "$K8SAPI_HOME" && cp -a "$shared/bin" "$shared/.installed" "$K8SAPI_HOME/"
fi

log "building the operator, the resizer and the shim ($PROFILE)"
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo build -q "${flag[@]}" -p operator -p resizer -p api-shim
bin=${CARGO_TARGET_DIR:-$root/target}/$PROFILE

eval "$(bash hack/crd-apiserver.sh start)"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for condition=Established crd/thumbnails.thumbnails.dev --timeout=60s >/dev/null
bash hack/s3-server.sh start >/dev/null

# The example manifests' originals, so `kubectl apply -f examples/` works as it is. They
# live under examples/, which the operator's source policy allows below (a Thumbnail
# may otherwise read only the shim's uploads of its namespace: docs/SECURITY.md).
corpus=${THUMBNAIL_CORPUS:-$root/../shared/corpus}
put() { curl -sf -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ADMIN_KEYS" -T "$1" "$S3_ENDPOINT/$2"; }
if [ -d "$corpus" ]; then
	put "$corpus/j01_kleiber_6028x3391.jpg" thumbnails/examples/kleiber.jpg
	put "$corpus/j07_colorfulcups_2560x1600_prog.jpg" uploads/examples/colorful-cups.jpg
	put "$corpus/p03_goldfish_3640x2400_rgba.png" thumbnails/examples/goldfish.png
else
	log "no corpus at $corpus (hack/fetch-corpus.sh makes one): the examples' originals are not uploaded"
fi

mkdir -p "$STATE"
rm -rf "$STATE/runs"
env "${OPERATOR_ENV[@]}" "$bin/thumbnail-operator" --executor local --namespace default --bucket thumbnails \
	--resizer-bin "$bin/resizer" --local-state-dir "$STATE/runs" \
	--source-allow '*=thumbnails/examples/,*=uploads/examples/' \
	--public-base-url "$BASE_URL" --metrics-addr "127.0.0.1:$METRICS_PORT" \
	>"$STATE/operator.log" 2>&1 &
pids+=($!)
env "${SHIM_ENV[@]}" "$bin/api-shim" --listen "127.0.0.1:$SHIM_PORT" --namespace default --bucket thumbnails \
	--public-base-url "$BASE_URL" >"$STATE/api-shim.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
	curl -sf -o /dev/null "$BASE_URL/readyz" && curl -sf -o /dev/null "http://127.0.0.1:$METRICS_PORT/healthz" && break
	sleep 0.2
done
curl -sf -o /dev/null "$BASE_URL/readyz" || { tail -20 "$STATE"/*.log >&2; log "the shim did not become ready"; exit 1; }

cat <<MSG

  Open $BASE_URL/ to upload, watch and browse thumbnails.

  thumbnail-operator runs on this machine (local executor, no cluster):

    web page     $BASE_URL/
    REST API     $BASE_URL/api/v1/thumbnails (live: $BASE_URL/api/v1/thumbnails/events)
    Swagger UI   $BASE_URL/swagger-ui
    metrics      http://127.0.0.1:$METRICS_PORT/metrics (operator), $BASE_URL/metrics (shim)
    S3 store     $S3_ENDPOINT (admin ${ADMIN_KEYS/:/\/}; each component its own key), buckets thumbnails, uploads
    logs         $STATE/operator.log, $STATE/api-shim.log

  In another shell:

    export KUBECONFIG=$KUBECONFIG
    curl -F file=@photo.jpg -F width=256 $BASE_URL/api/v1/thumbnails
    kubectl apply -f examples/ && kubectl get thumbnails -w

  Ctrl-C stops everything.
MSG
[ -n "${DEV_READY_FILE:-}" ] && echo "export KUBECONFIG=$KUBECONFIG" >"$DEV_READY_FILE"
wait -n "${pids[@]}" || true
log "a component exited; see $STATE/*.log"
