#!/usr/bin/env bash
# bench/shim-load.sh — load run of the REST shim's upload (a benchmark, not a test).
#
# Uploads real ~1 MB photos at concurrency 1 and 32 against a release build of the
# shim backed by the real CRD API server and SeaweedFS, and reports requests/s,
# p50/p99 latency and the shim's peak RSS (VmHWM). A last run uploads a 16 MB photo
# to show that memory is bounded by the multipart part size, not the file size.
# Each run starts a fresh shim so each peak RSS belongs to that run alone.
#
# Needs the servers hack/test.sh starts (THUMBNAIL_TEST_KUBECONFIG, THUMBNAIL_TEST_S3_*,
# THUMBNAIL_CORPUS). Optional: SHIM_BIN (default: cargo build --release),
# BENCH_SECONDS (per run, default 15), KUBECTL.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_TAG=shim-load
. api-shim/tests/shim-lib.sh

SECONDS_PER_RUN=${BENCH_SECONDS:-15}
require_test_servers
if [ -z "${SHIM_BIN:-}" ]; then
	cargo build --quiet --release -p api-shim --bin api-shim
	SHIM_BIN=${CARGO_TARGET_DIR:-target}/release/api-shim
fi
results=$(mktemp)
trap 'rc=$?; trap - EXIT INT TERM; stop_shim; rm -f "$results"; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run() { # file concurrency
	start_shim --max-upload-bytes 33554432
	local result rss
	result=$(python3 bench/shim-load.py "$base" "$THUMBNAIL_CORPUS/$1" "$2" "$SECONDS_PER_RUN")
	rss=$(awk '/VmHWM/ {print $2}' "/proc/$shim_pid/status")
	stop_shim
	python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["file"]=sys.argv[2]; r["peak_rss_mib"]=round(int(sys.argv[3])/1024,1); print(json.dumps(r))' \
		"$result" "$1" "$rss"
}

# The runs in this shell, not in a pipeline's subshell: there the EXIT trap would not
# run, and a failed run would leave its shim behind.
run j05_path_2560x1600.jpg 1 >>"$results"
run j05_path_2560x1600.jpg 32 >>"$results"
run j02_elephants_5640x3172_prog.jpg 1 >>"$results"
run j02_elephants_5640x3172_prog.jpg 32 >>"$results"
tee "${BENCH_OUT:-/dev/null}" <"$results" | python3 bench/shim-load.py table
