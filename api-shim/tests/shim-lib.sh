# api-shim/tests/shim-lib.sh — sourced by the shim's script tests: starts the api-shim
# binary on a free loopback port against the test servers hack/test.sh started, in a
# namespace and bucket of its own. Sets $base (URL), $shim_pid, $work (temp dir),
# $namespace, $bucket; the caller's EXIT trap must call stop_shim.

log() { printf '[%s] %s\n' "${LOG_TAG:-shim-test}" "$*" >&2; }

require_test_servers() {
	local v
	for v in THUMBNAIL_TEST_KUBECONFIG THUMBNAIL_TEST_S3_ENDPOINT THUMBNAIL_TEST_S3_ACCESS_KEY THUMBNAIL_TEST_S3_SECRET_KEY THUMBNAIL_CORPUS; do
		[ -n "${!v:-}" ] || { log "$v is not set: run this from hack/test.sh (make test), which starts the CRD API server and the S3 server"; exit 1; }
	done
}

# start_shim [extra api-shim flags...]
start_shim() {
	require_test_servers
	if [ -z "${SHIM_BIN:-}" ]; then
		cargo build --quiet -p api-shim --bin api-shim
		SHIM_BIN=${CARGO_TARGET_DIR:-target}/debug/api-shim
	fi
	work=$(mktemp -d)
	# namespace and bucket stay set for the caller (web-ui.sh starts an operator there).
	local suffix port
	suffix=$(date +%s)-$$
	namespace=${LOG_TAG:-shim}-$suffix
	bucket=${LOG_TAG:-shim}-$suffix
	"${KUBECTL:-kubectl}" --kubeconfig "$THUMBNAIL_TEST_KUBECONFIG" apply --server-side --force-conflicts -f crds/ >/dev/null
	"${KUBECTL:-kubectl}" --kubeconfig "$THUMBNAIL_TEST_KUBECONFIG" wait --for=condition=Established --timeout=30s crd/thumbnails.thumbnails.dev >/dev/null
	# SeaweedFS does not create buckets on demand; curl signs the request itself.
	curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$THUMBNAIL_TEST_S3_ACCESS_KEY:$THUMBNAIL_TEST_S3_SECRET_KEY" \
		-X PUT "$THUMBNAIL_TEST_S3_ENDPOINT/$bucket" >/dev/null
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	base=http://127.0.0.1:$port
	KUBECONFIG=$THUMBNAIL_TEST_KUBECONFIG \
		S3_ENDPOINT=$THUMBNAIL_TEST_S3_ENDPOINT AWS_ACCESS_KEY_ID=$THUMBNAIL_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$THUMBNAIL_TEST_S3_SECRET_KEY \
		"$SHIM_BIN" --listen "127.0.0.1:$port" --namespace "$namespace" --bucket "$bucket" \
		--public-base-url "$base" "$@" >"$work/shim.log" 2>&1 &
	shim_pid=$!
	for _ in $(seq 100); do
		curl -fs "$base/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$shim_pid" 2>/dev/null || { log "api-shim exited:"; cat "$work/shim.log" >&2; exit 1; }
		sleep 0.1
	done
	log "api-shim not ready after 10 s:"; cat "$work/shim.log" >&2; curl -s "$base/readyz" >&2; exit 1
}

stop_shim() {
	if [ -n "${shim_pid:-}" ]; then
		kill "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null
		shim_pid=
	fi
	[ -n "${work:-}" ] && rm -rf "$work"
	return 0
}
