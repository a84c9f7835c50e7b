#!/usr/bin/env bash
# bench/scale.sh — N Thumbnails created at once against the real CRD API server and
# SeaweedFS, the operator in local mode with release binaries (`make bench-scale`; a
# benchmark, not a test: nothing here asserts on time). Issue 14, "The numbers".
#
# Per batch size (BATCH_SIZES, passed to the operator as its BATCH_SIZE env), on a fresh
# stack of its own: the CRD API server (hack/crd-apiserver.sh, empty etcd) with the CRD,
# SeaweedFS (hack/s3-server.sh, each component its own identity as in `make dev`) with a
# few small real photos under thumbnails/bench/ (uploaded once per stack), the operator
# (local executor, source policy allowing bench/) and the REST shim. bench/scale.py then
# creates N Thumbnails at once, each pointing at one of the photos and labelled as the
# shim's (so the shim lists them), and measures until all are Succeeded or Failed: time
# to drain, thumbnails/s, the operator's peak RSS (VmHWM) and CPU (utime+stime), API
# requests per Thumbnail (the operator's thumbnail_kube_api_requests_total). On the first
# stack, after the drain, it also lists all N through the shim page by page (BENCH_LIST_LIMITS)
# and times each page. Prints a table with the ratios of each batch size to the first.
#
# Everything it starts it stops on exit, also on failure or Ctrl-C. Ports and state are
# its own (a running `make dev` or test run is left alone).
#
# Environment: BENCH_THUMBNAILS (10000), BATCH_SIZES ("1 16"), BENCH_TIMEOUT (3600 s per
# batch size), BENCH_BIN (a directory with thumbnail-operator, resizer and api-shim
# already built; default: built here with BENCH_PROFILE), BENCH_CLIENTS (8: concurrent creating connections), BENCH_WIDTH (256),
# BENCH_LIST_LIMITS ("50 500"), BENCH_PROFILE (release), BENCH_S3_PORT (27300; SeaweedFS
# also takes the next 4 ports and each +10000), BENCH_SHIM_PORT (28380),
# BENCH_METRICS_PORT (28381), MAX_RUNNING (the operator's, default 4), THUMBNAIL_CORPUS
# (../shared/corpus). Output: .dev/bench/scale-<time>-*.json and the table on stdout;
# the servers' and components' logs in $BENCH_STATE (~/.cache/thumbnail-operator/bench-scale).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

count=${BENCH_THUMBNAILS:-10000}
batch_sizes=${BATCH_SIZES:-"1 16"}
timeout=${BENCH_TIMEOUT:-3600}
clients=${BENCH_CLIENTS:-8}
width=${BENCH_WIDTH:-256}
list_limits=${BENCH_LIST_LIMITS:-"50 500"}
profile=${BENCH_PROFILE:-release}
corpus=${THUMBNAIL_CORPUS:-$root/../shared/corpus}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator
STATE=${BENCH_STATE:-$CACHE/bench-scale}
export S3_PORT=${BENCH_S3_PORT:-27300}
SHIM_PORT=${BENCH_SHIM_PORT:-28380}
METRICS_PORT=${BENCH_METRICS_PORT:-28381}
export K8SAPI_HOME=${BENCH_K8SAPI_HOME:-$CACHE/bench-scale-apiserver}
# Small real photos (0.5-0.8 MB; 512x512 to 2560x1920), JPEG and PNG.
photos=(j09_storm_1920x1280.jpg j04_wood_2560x1920.jpg j06_fallenleaf_2560x1600.jpg
	j08_coldripple_2560x1600_mono.jpg p01_astronaut_512x512.png)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$root/.dev/bench

# Identities as in hack/dev.sh: the admin key only uploads the photos.
# The resizer may read the photos as an administrator-allowed source (the source policy below).
export S3_BUCKETS=thumbnails S3_FRESH=1 S3_IDENTITY_BUCKET=thumbnails S3_RESIZER_READ=thumbnails/bench
ADMIN_KEYS=${S3_ACCESS_KEY:-minioadmin}:${S3_SECRET_KEY:-minioadmin}
OPERATOR_ENV=(AWS_ACCESS_KEY_ID="${S3_OPERATOR_ACCESS_KEY:-thumbnail-operator}" AWS_SECRET_ACCESS_KEY="${S3_OPERATOR_SECRET_KEY:-operator-dev-secret}"
	RESIZER_AWS_ACCESS_KEY_ID="${S3_RESIZER_ACCESS_KEY:-thumbnail-resizer}" RESIZER_AWS_SECRET_ACCESS_KEY="${S3_RESIZER_SECRET_KEY:-resizer-dev-secret}")
SHIM_ENV=(AWS_ACCESS_KEY_ID="${S3_SHIM_ACCESS_KEY:-thumbnail-api-shim}" AWS_SECRET_ACCESS_KEY="${S3_SHIM_SECRET_KEY:-shim-dev-secret}")
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN BATCH_SIZE
export S3_ENDPOINT=http://127.0.0.1:$S3_PORT
BASE_URL=http://127.0.0.1:$SHIM_PORT

log() { printf '[bench-scale] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for p in "${photos[@]}"; do [ -f "$corpus/$p" ] || die "$corpus/$p is missing (THUMBNAIL_CORPUS; hack/fetch-corpus.sh)"; done
for port in "$SHIM_PORT" "$METRICS_PORT"; do
	! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" || die "port $port is in use (BENCH_SHIM_PORT, BENCH_METRICS_PORT)"
done

# Everything this script starts, stopped on any exit: the python helper, the operator
# and the shim (by PID), SeaweedFS and the API server (their scripts stop the PIDs they
# recorded). Signals are turned into an exit so the EXIT trap runs once.
operator= shim= helper= servers=
stop_components() {
	local pid
	for pid in $helper $operator $shim; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in $helper $operator $shim; do wait "$pid" 2>/dev/null || true; done
	helper= operator= shim=
}
stop_servers() {
	if [ -n "$servers" ]; then
		bash hack/s3-server.sh stop >/dev/null 2>&1 || log "hack/s3-server.sh stop failed (S3_PORT=$S3_PORT)"
		bash hack/crd-apiserver.sh stop >/dev/null 2>&1 || log "hack/crd-apiserver.sh stop failed (K8SAPI_HOME=$K8SAPI_HOME)"
		servers=
	fi
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_components
	stop_servers
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The API server binaries are shared with the test server's cache: built once.
shared=$CACHE/crd-apiserver
if [ ! -e "$K8SAPI_HOME/.installed" ] && [ -e "$shared/.installed" ]; then
	mkdir -p "$K8SAPI_HOME" && cp -a "$shared/bin" "$shared/.installed" "$K8SAPI_HOME/"
fi

if [ -n "${BENCH_BIN:-}" ]; then
	bin=$BENCH_BIN
else
	log "building the operator, the resizer and the shim ($profile)"
	flag=(); [ "$profile" = release ] && flag=(--release)
	cargo build -q --locked "${flag[@]}" -p operator -p resizer -p api-shim
	bin=${CARGO_TARGET_DIR:-$root/target}/$profile
fi
mkdir -p "$STATE" "$out"

# start_stack BATCH_SIZE: a fresh API server, store, operator and shim; sets $operator, $shim.
start_stack() {
	servers=1
	local env
	env=$(bash hack/crd-apiserver.sh start 2>>"$STATE/servers.log") || { tail -20 "$STATE/servers.log" >&2; die "the API server did not start"; }
	eval "$env"
	"${KUBECTL:-kubectl}" apply --server-side -f crds/ >/dev/null
	"${KUBECTL:-kubectl}" wait --for condition=Established crd/thumbnails.thumbnails.dev --timeout=60s >/dev/null
	bash hack/s3-server.sh start >/dev/null 2>>"$STATE/servers.log" || { tail -20 "$STATE/servers.log" >&2; die "the S3 server did not start"; }
	local p
	for p in "${photos[@]}"; do
		curl -sf -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ADMIN_KEYS" -T "$corpus/$p" "$S3_ENDPOINT/thumbnails/bench/$p"
	done
	rm -rf "$STATE/runs"
	env "${OPERATOR_ENV[@]}" BATCH_SIZE="$1" "$bin/thumbnail-operator" --executor local --namespace default --bucket thumbnails \
		--resizer-bin "$bin/resizer" --local-state-dir "$STATE/runs" \
		--source-allow '*=thumbnails/bench/' \
		--public-base-url "$BASE_URL" --metrics-addr "127.0.0.1:$METRICS_PORT" \
		>"$STATE/operator-batch$1.log" 2>&1 &
	operator=$!
	env "${SHIM_ENV[@]}" "$bin/api-shim" --listen "127.0.0.1:$SHIM_PORT" --namespace default --bucket thumbnails \
		--public-base-url "$BASE_URL" >"$STATE/api-shim-batch$1.log" 2>&1 &
	shim=$!
	for _ in $(seq 1 150); do
		curl -sf -o /dev/null "$BASE_URL/readyz" && curl -sf -o /dev/null "http://127.0.0.1:$METRICS_PORT/healthz" && return 0
		kill -0 "$operator" 2>/dev/null || { tail -20 "$STATE/operator-batch$1.log" >&2; die "the operator exited"; }
		kill -0 "$shim" 2>/dev/null || { tail -20 "$STATE/api-shim-batch$1.log" >&2; die "the shim exited"; }
		sleep 0.2
	done
	die "the operator or the shim did not become ready (logs in $STATE)"
}

# run_helper ARGS...: bench/scale.py in the background, so that a signal runs the trap at once.
run_helper() {
	python3 bench/scale.py "$@" &
	helper=$!
	local rc=0
	wait "$helper" || rc=$?
	helper=
	return "$rc"
}

summaries=()
lists=()
first=1
for b in $batch_sizes; do
	log "batch size $b: starting a fresh stack"
	start_stack "$b"
	summary=$out/scale-$stamp-batch$b.json
	rc=0
	run_helper run "$KUBECONFIG" --count "$count" --width "$width" --clients "$clients" --timeout "$timeout" \
		--photos "${photos[@]/#/bench/}" --batch-size "$b" --metrics "http://127.0.0.1:$METRICS_PORT/metrics" \
		--operator-pid "$operator" --apiserver-pid "$(cat "$K8SAPI_HOME/run/apiserver.pid")" \
		--etcd-pid "$(cat "$K8SAPI_HOME/run/etcd.pid")" --out "$summary" || rc=$?
	[ -f "$summary" ] || die "batch size $b: no summary (exit $rc)"
	summaries+=("$summary")
	if [ -n "$first" ]; then
		for limit in $list_limits; do
			listed=$out/scale-$stamp-list$limit.json
			run_helper list "$BASE_URL" --limit "$limit" --expect "$count" --out "$listed" || log "listing with limit $limit did not return all $count"
			lists+=("$listed")
		done
		first=
	fi
	stop_components
	stop_servers
done

echo
echo "thumbnail-operator, local executor ($profile), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end: $count Thumbnails created at once ($clients clients), width $width, photos: ${photos[*]}"
python3 bench/scale.py table "${summaries[@]}" "${lists[@]}" | tee "$out/scale-$stamp.txt"
