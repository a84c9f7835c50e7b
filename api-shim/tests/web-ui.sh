#!/usr/bin/env bash
# api-shim/tests/web-ui.sh — the web page at / in headless Chromium (Debian's `chromium`,
# driven by the npm package playwright-core; no browser is downloaded) against the real
# system: the shim binary with a token file, the operator binary in local mode running
# the real resizer, the CRD API server and SeaweedFS that hack/test.sh started.
# What it checks: api-shim/tests/web/browser-test.mjs. Screenshots of the main states:
# test-artifacts/browser/ (kept for CI; failure.png when a check fails).
#
# Needs the test servers hack/test.sh starts (THUMBNAIL_TEST_KUBECONFIG,
# THUMBNAIL_TEST_S3_*, THUMBNAIL_CORPUS), chromium and node/npm (make deps).
# Optional: SHIM_BIN, OPERATOR_BIN, RESIZER_BIN, CHROMIUM, KUBECTL, ARTIFACTS.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
LOG_TAG=web-ui
. api-shim/tests/shim-lib.sh

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || { log "chromium is missing: apt-get install chromium (make deps), or set CHROMIUM"; exit 1; }
command -v node >/dev/null || { log "node is missing: apt-get install nodejs (make deps)"; exit 1; }
command -v npm >/dev/null || { log "npm is missing: apt-get install npm (make deps)"; exit 1; }
# playwright-core 1.65 needs Node.js 20 or later (Debian 12's own nodejs is 18).
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { log "Node.js $(node --version) is too old for playwright-core: install Node.js 20 or later"; exit 1; }
export CHROMIUM

target=${CARGO_TARGET_DIR:-$root/target}/debug
OPERATOR_BIN=${OPERATOR_BIN:-$target/thumbnail-operator}
RESIZER_BIN=${RESIZER_BIN:-$target/resizer}
for b in "$OPERATOR_BIN" "$RESIZER_BIN"; do
	[ -x "$b" ] || { log "$b is missing: cargo build --workspace --bins (hack/test.sh does)"; exit 1; }
done

# playwright-core at the version package-lock.json pins (one package, no dependencies).
(cd api-shim/tests/web && npm ci --silent --no-audit --no-fund >/dev/null)

ARTIFACTS=${ARTIFACTS:-$root/test-artifacts/browser}
rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"

operator_pid=
watcher_pid=
stop_all() {
	# Everything, whatever fails: a killed process's wait is non-zero.
	set +e
	[ -z "$watcher_pid" ] || { kill "$watcher_pid"; wait "$watcher_pid"; } 2>/dev/null
	# The shim may have been restarted by the watcher: its pid is in the control folder.
	if [ -n "${control:-}" ] && [ -s "$control/pid" ]; then kill "$(cat "$control/pid")" 2>/dev/null || true; fi
	[ -z "${tokens:-}" ] || rm -f "$tokens"
	[ -z "$operator_pid" ] || { kill "$operator_pid"; wait "$operator_pid"; } 2>/dev/null
	# Keep the logs next to the screenshots: what the page showed and why.
	[ -z "${work:-}" ] || cp "$work"/*.log "$ARTIFACTS/" 2>/dev/null || true
	stop_shim
}
trap 'rc=$?; stop_all; exit $rc' EXIT INT TERM

token=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
tokens=$(mktemp)
echo "$token" >"$tokens"
start_shim --token-file "$tokens"

# The browser test stops and starts the shim (to see the page reconnect) by creating
# files in $control: stop -> stopped, start -> started. Same command line, same port.
control=$work/control
mkdir -p "$control"
echo "$shim_pid" >"$control/pid"
shim_again() {
	KUBECONFIG=$THUMBNAIL_TEST_KUBECONFIG \
		S3_ENDPOINT=$THUMBNAIL_TEST_S3_ENDPOINT AWS_ACCESS_KEY_ID=$THUMBNAIL_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$THUMBNAIL_TEST_S3_SECRET_KEY \
		"$SHIM_BIN" --listen "127.0.0.1:${base##*:}" --namespace "$namespace" --bucket "$bucket" \
		--public-base-url "$base" --token-file "$tokens" >>"$work/shim.log" 2>&1 &
	echo $! >"$control/pid"
	for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
	log "the restarted shim is not ready"; return 1
}
(
	while :; do
		if [ -e "$control/stop" ]; then
			rm "$control/stop"
			pid=$(cat "$control/pid")
			kill "$pid"
			# Stopped serving once its port refuses (it closes the listener first; the
			# first shim is not this subshell's child, so its exit cannot be waited for).
			while curl -fs -o /dev/null "$base/healthz" 2>/dev/null; do sleep 0.1; done
			touch "$control/stopped"
		fi
		if [ -e "$control/start" ]; then
			rm "$control/start"
			shim_again && touch "$control/started"
		fi
		sleep 0.1
	done
) &
watcher_pid=$!
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KUBECONFIG=$THUMBNAIL_TEST_KUBECONFIG \
	S3_ENDPOINT=$THUMBNAIL_TEST_S3_ENDPOINT AWS_ACCESS_KEY_ID=$THUMBNAIL_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$THUMBNAIL_TEST_S3_SECRET_KEY \
	"$OPERATOR_BIN" --executor local --namespace "$namespace" --bucket "$bucket" \
	--resizer-bin "$RESIZER_BIN" --local-state-dir "$work/runs" --public-base-url "$base" \
	--metrics-addr "127.0.0.1:$mport" >"$work/operator.log" 2>&1 &
operator_pid=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$mport/healthz" >/dev/null 2>&1 && break
	kill -0 "$operator_pid" 2>/dev/null || { log "the operator exited:"; cat "$work/operator.log" >&2; exit 1; }
	sleep 0.1
done
log "shim at $base (token required), operator in local mode in namespace $namespace"
SHIM_CONTROL=$control SHIM_NAMESPACE=$namespace KUBECTL=${KUBECTL:-kubectl} \
	node api-shim/tests/web/browser-test.mjs "$base" "$token" "$THUMBNAIL_CORPUS" "$ARTIFACTS"
log "screenshots in $ARTIFACTS"
