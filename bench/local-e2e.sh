#!/usr/bin/env bash
# bench/local-e2e.sh — upload -> success latency and throughput of the whole system in
# local mode (`make bench-e2e`; a benchmark, not a test). Starts `make dev`'s stack on
# its own ports with release binaries, runs bench/local-e2e.py, stops the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${THUMBNAIL_CORPUS:-$PWD/../shared/corpus}
export DEV_SHIM_PORT=${DEV_SHIM_PORT:-28080} DEV_METRICS_PORT=${DEV_METRICS_PORT:-28081} DEV_S3_PORT=${DEV_S3_PORT:-27100}
export DEV_STATE=${DEV_STATE:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/bench-e2e}
export DEV_K8SAPI_HOME=${DEV_K8SAPI_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/bench-apiserver}
ready=$(mktemp); rm -f "$ready"
dev= py=
# Stops what this script started, on any exit. dev.sh runs in the background of a
# non-interactive shell, where SIGINT is ignored (and cannot be trapped): it is stopped
# with TERM, on which it stops its operator, shim, S3 server and API server.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "$py" ] && kill -TERM "$py" 2>/dev/null && wait "$py" 2>/dev/null
	[ -n "$dev" ] && kill -TERM "$dev" 2>/dev/null && wait "$dev" 2>/dev/null
	rm -f "$ready"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$(dirname "$DEV_STATE")"
DEV_READY_FILE=$ready bash hack/dev.sh >"$DEV_STATE.log" 2>&1 &
dev=$!
for _ in $(seq 1 900); do [ -s "$ready" ] && break; kill -0 $dev 2>/dev/null || { cat "$DEV_STATE.log"; exit 1; }; sleep 1; done
[ -s "$ready" ] || { echo "the stack did not start" >&2; exit 1; }
# ~1 MB real photos (2560x1600 JPEGs of the corpus).
photos=("$corpus"/j05_path_2560x1600.jpg "$corpus"/j06_fallenleaf_2560x1600.jpg "$corpus"/j04_wood_2560x1920.jpg)
ls -l "${photos[@]}" | awk '{printf "  %s %d bytes\n", $9, $5}'
# In the background, so that a TERM to this script runs the trap at once.
python3 bench/local-e2e.py "http://127.0.0.1:$DEV_SHIM_PORT" "$DEV_STATE/runs" --photos "${photos[@]}" "$@" &
py=$!
wait "$py"
py=
