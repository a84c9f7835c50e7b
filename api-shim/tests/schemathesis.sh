#!/usr/bin/env bash
# api-shim/tests/schemathesis.sh — property-based API test of the REST shim with
# schemathesis (PyPI), driven by the shim's own OpenAPI document: fails when any
# response is a 5xx or does not match the document (status code, content type,
# headers, body schema).
#
# Needs the test servers hack/test.sh starts (THUMBNAIL_TEST_KUBECONFIG,
# THUMBNAIL_TEST_S3_*, THUMBNAIL_CORPUS). Optional: SHIM_BIN (a built api-shim;
# default: cargo build), SCHEMATHESIS_MAX_TIME (seconds, default 60), KUBECTL.
set -euo pipefail
cd "$(dirname "$0")/../.."
LOG_TAG=schemathesis
. api-shim/tests/shim-lib.sh

SCHEMATHESIS_VERSION=4.32.5
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/schemathesis-$SCHEMATHESIS_VERSION
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-60}

trap 'rc=$?; stop_shim; exit $rc' EXIT INT TERM
require_test_servers
if [ ! -x "$VENV/bin/st" ]; then
	log "installing schemathesis==$SCHEMATHESIS_VERSION into $VENV"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

start_shim --max-upload-bytes 2000000

# A few real thumbnails, so id-based operations also meet existing resources
# (the stateful phase follows the upload's links to them as well).
for f in p01_astronaut_512x512.png j04_wood_2560x1920.jpg; do
	curl -fsS -F "file=@$THUMBNAIL_CORPUS/$f" -F width=64 "$base/api/v1/thumbnails" >/dev/null
done

# The event stream is left out: it never ends (every request would time out), and its
# one input is a header; api-shim/tests/events.rs tests it.
log "fuzzing $base for up to ${MAX_TIME}s"
set +e
# From the temp dir: schemathesis keeps state in ./.schemathesis, which must not land in the repo.
(cd "$work" && "$VENV/bin/st" run "$base/api/v1/openapi.json" \
	--checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
	--max-time "$MAX_TIME" --workers 2 --request-timeout 30 --suppress-health-check all \
	--exclude-path /api/v1/thumbnails/events \
	--generation-database none)
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
	log "schemathesis failed (exit $rc); the shim's log:"
	tail -50 "$work/shim.log" >&2
fi
exit "$rc"
