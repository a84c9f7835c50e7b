#!/usr/bin/env bash
# api-shim/tests/swagger-ui.sh — the Swagger UI page renders in headless Chromium
# (Debian's `chromium`) from the vendored assets and lists every route of the API.
#
# Needs the test servers hack/test.sh starts (THUMBNAIL_TEST_KUBECONFIG,
# THUMBNAIL_TEST_S3_*, THUMBNAIL_CORPUS) and chromium (apt-get install chromium).
# Optional: SHIM_BIN, CHROMIUM (binary), KUBECTL.
set -euo pipefail
cd "$(dirname "$0")/../.."
LOG_TAG=swagger-ui
. api-shim/tests/shim-lib.sh

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || { log "chromium is missing: apt-get install chromium (or set CHROMIUM)"; exit 1; }

trap 'rc=$?; stop_shim; exit $rc' EXIT INT TERM
start_shim
profile=$work/chromium-profile
# --disable-background-networking & co: no network access besides the shim.
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
	--disable-component-update --no-first-run --user-data-dir="$profile" \
	--virtual-time-budget=15000 --dump-dom "$base/swagger-ui/" >"$work/dom.html" 2>"$work/chromium.log" || {
	log "chromium failed:"; tail -20 "$work/chromium.log" >&2; exit 1; }

fail=0
for route in "post /api/v1/thumbnails" "get /api/v1/thumbnails" "get /api/v1/thumbnails/{id}" \
	"delete /api/v1/thumbnails/{id}" "get /api/v1/thumbnails/{id}/download" "get /api/v1/thumbnails/events" \
	"get /api/v1/groups/{id}" "delete /api/v1/groups/{id}" \
	"get /api/v1/limits" "get /healthz" "get /readyz"; do
	method=${route%% *}
	path=${route#* }
	# Each operation renders as a block with class opblock-<method> and data-path=<path>.
	if grep -q "opblock-$method" "$work/dom.html" && grep -qF "data-path=\"$path\"" "$work/dom.html"; then
		log "listed: ${method^^} $path"
	else
		log "NOT listed: ${method^^} $path"
		fail=1
	fi
done
grep -qF "thumbnail-operator REST API" "$work/dom.html" || { log "the page has no API title"; fail=1; }
if [ "$fail" -ne 0 ]; then
	log "Swagger UI did not list every route; DOM saved at $work/dom.html:"
	head -c 3000 "$work/dom.html" >&2
	exit 1
fi
log "Swagger UI lists all routes"
