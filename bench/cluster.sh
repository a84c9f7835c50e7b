#!/usr/bin/env bash
# bench/cluster.sh — Thumbnail created -> Succeeded on the real single-node Kubernetes of
# this machine (hack/cluster.sh), split into its steps, and thumbnails/s, per pair of the
# operator's cap (operator.maxRunning) and batch size (operator.batchSize): by default cap 4
# with batch size 1 (a Job per Thumbnail) and 16 (`make bench-cluster`; a benchmark, not a
# test: nothing here asserts on time). Issues 11 and 14: how much of each thumbnail's time
# is a Pod starting, with and without batching.
#
#   flock /tmp/thumbnail-test.lock bash bench/cluster.sh
#
# Needs root (the cluster), the release binaries in $CARGO_TARGET_DIR/release (make
# bench-cluster builds them), helm and kubectl 1.34 (make helm). Starts a FRESH cluster
# (any running one of hack/cluster.sh is replaced: hence the lock, as for hack/test.sh),
# imports the release images, installs the chart into a namespace enforcing Pod Security
# `restricted`, puts a few real photos into the bundled store once, then per pair: helm
# install/upgrade with that cap and batch size, `kubectl apply` of $BENCH_THUMBNAILS
# Thumbnails (width 256) at once, bench/cluster.py timing the watch events, the Thumbnails
# deleted. Stops the cluster at the end, also on failure or Ctrl-C.
#
# Environment: BENCH_THUMBNAILS (200), BENCH_RUNS ("4:1 4:16": CAP:BATCH_SIZE pairs),
# BENCH_TIMEOUT (900 s per pair),
# THUMBNAIL_CORPUS (../shared/corpus). Output: .dev/bench/cluster-<time>-cap<C>-batch<B>.tsv
# (a row per Thumbnail) and the table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

count=${BENCH_THUMBNAILS:-200}
runs=${BENCH_RUNS:-"4:1 4:16"}
timeout=${BENCH_TIMEOUT:-900}
corpus=${THUMBNAIL_CORPUS:-$root/../shared/corpus}
photos=(j09_storm_1920x1280.jpg j04_wood_2560x1920.jpg j08_coldripple_2560x1600_mono.jpg)
TOOLS=${THUMBNAIL_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/tools}
KUBECTL=${KUBECTL:-$TOOLS/kubectl-1.34}
HELM=${HELM:-$TOOLS/helm}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
RELEASE=thumbnail-operator
NS=bench-cluster
CHART=charts/thumbnail-operator
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$root/.dev/bench
work=$(mktemp -d)

log() { printf '[bench-cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "the cluster needs root (containerd, a bridge, iptables)"
[ -x "$KUBECTL" ] && [ -x "$HELM" ] || die "kubectl 1.34 or helm missing in $TOOLS: run 'make helm'"
for bin in thumbnail-operator api-shim resizer; do
	[ -x "$CARGO_TARGET_DIR/release/$bin" ] || die "$CARGO_TARGET_DIR/release/$bin is missing: cargo build --release --locked -p resizer && cargo build --release --locked -p operator -p api-shim --bins (or make bench-cluster)"
done
for p in "${photos[@]}"; do [ -f "$corpus/$p" ] || die "$corpus/$p is missing (THUMBNAIL_CORPUS; hack/fetch-corpus.sh)"; done

# hack/test.sh's own lock: a test run started without the outer lock must not restart
# the cluster under the benchmark either (and the benchmark waits for a running one).
exec 9>/tmp/thumbnail-operator-test-servers.lock
flock -n 9 || { log "a test run holds the test servers: waiting for it"; flock 9; }

cluster_started=
watcher=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# The watcher stops its kubectl streams on TERM; the cluster and everything in it go
	# with hack/cluster.sh stop.
	if [ -n "${watcher:-}" ]; then
		kill -TERM "$watcher" 2>/dev/null || true
		wait "$watcher" 2>/dev/null || true
	fi
	if [ -n "$cluster_started" ]; then
		log "stopping the cluster"
		bash hack/cluster.sh stop >/dev/null 2>&1 || log "hack/cluster.sh stop failed: run it again by hand"
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kc() { "$KUBECTL" "$@"; }

log "starting a fresh cluster"
cluster_started=1
KUBECONFIG=$(bash hack/cluster.sh start | sed -n 's/^export KUBECONFIG=//p')
[ -n "$KUBECONFIG" ] || die "hack/cluster.sh start printed no KUBECONFIG"
export KUBECONFIG
log "images from $CARGO_TARGET_DIR/release"
bash hack/images.sh build release
bash hack/images.sh import

kc create namespace "$NS" >/dev/null
kc label namespace "$NS" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null

# The operator replica holding the Lease is one of the Deployment's current pods: after
# an upgrade the new replicas have taken over (else Thumbnails would wait for a handover).
wait_for_leader() {
	local deadline=$((SECONDS + 120)) holder pods
	while [ $SECONDS -lt $deadline ]; do
		holder=$(kc get lease "$RELEASE" -n "$NS" -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null || true)
		pods=$(kc get pods -n "$NS" -l app.kubernetes.io/component=operator \
			-o 'go-template={{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}')
		[ -n "$holder" ] && grep -qx "$holder" <<<"$pods" && { log "leader: $holder"; return 0; }
		sleep 0.5
	done
	die "no current operator replica leads after 120 s (lease holder: ${holder:-none})"
}

# Nothing of the previous run left: no Thumbnails (the operator's finalizers removed
# their objects), no resizer Jobs or Pods (garbage collection).
wait_empty() {
	kc delete thumbnails.thumbnails.dev --all -n "$NS" --wait=true --timeout=300s >/dev/null
	local deadline=$((SECONDS + 180))
	while [ -n "$(kc get jobs,pods -n "$NS" -l batch.kubernetes.io/job-name -o name 2>/dev/null)" ]; do
		[ $SECONDS -lt $deadline ] || die "resizer Jobs/Pods still there 180 s after their Thumbnails were deleted"
		sleep 1
	done
}

summaries=()
first=1
for run in $runs; do
	cap=${run%%:*} batch=${run#*:}
	[[ $cap =~ ^[0-9]+$ && $batch =~ ^[0-9]+$ ]] || die "BENCH_RUNS: '$run' is not CAP:BATCH_SIZE"
	if [ -n "$first" ]; then
		log "helm install, operator.maxRunning=$cap, operator.batchSize=$batch"
		# The bench's originals live under bench/: the source policy must allow them.
		"$HELM" install "$RELEASE" "$CHART" -n "$NS" --set shim.service.nodePort=null \
			--set 'operator.sourcePolicy.allow[0]=*=thumbnails/bench/' \
			--set operator.maxRunning="$cap" --set operator.batchSize="$batch" --wait --timeout 5m >/dev/null
		# The photos, once: the bundled store, from this host through its Service.
		ip=$(kc get service "$RELEASE-seaweedfs" -n "$NS" -o 'jsonpath={.spec.clusterIP}')
		secret() { kc get secret "$RELEASE-s3-admin" -n "$NS" -o "go-template={{index .data \"$1\" | base64decode}}"; }
		AWS_ACCESS_KEY_ID=$(secret AWS_ACCESS_KEY_ID) AWS_SECRET_ACCESS_KEY=$(secret AWS_SECRET_ACCESS_KEY)
		export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
		bucket=$(kc get deployment "$RELEASE" -n "$NS" -o 'jsonpath={.spec.template.spec.containers[0].env[?(@.name=="S3_BUCKET")].value}')
		bucket=${bucket:-thumbnails}
		for p in "${photos[@]}"; do
			python3 bench/cluster.py put "http://$ip:8333" "$bucket" "bench/$p" "$corpus/$p"
		done
		first=
	else
		wait_empty
		log "helm upgrade, operator.maxRunning=$cap, operator.batchSize=$batch"
		"$HELM" upgrade "$RELEASE" "$CHART" -n "$NS" --reuse-values \
			--set operator.maxRunning="$cap" --set operator.batchSize="$batch" --wait --timeout 5m >/dev/null
		kc rollout status deployment/"$RELEASE" -n "$NS" --timeout=120s >/dev/null
	fi
	wait_for_leader

	manifest=$work/cap$cap-batch$batch.yaml
	for i in $(seq 1 "$count"); do
		printf -- '---\napiVersion: thumbnails.dev/v1alpha1\nkind: Thumbnail\nmetadata: {name: c%s-b%s-%03d}\nspec:\n  source: {s3: {key: "bench/%s"}}\n  width: 256\n' \
			"$cap" "$batch" "$i" "${photos[$(((i - 1) % ${#photos[@]}))]}"
	done >"$manifest"
	log "cap $cap, batch size $batch: $count Thumbnails at once"
	# In the background, so that a TERM to this script runs the trap at once (which stops it).
	python3 bench/cluster.py run --kubectl "$KUBECTL" --namespace "$NS" --manifest "$manifest" \
		--count "$count" --cap "$cap" --batch "$batch" --timeout "$timeout" \
		--tsv "$out/cluster-$stamp-cap$cap-batch$batch.tsv" --summary "$out/cluster-$stamp-cap$cap-batch$batch.json" &
	watcher=$!
	wait "$watcher"
	watcher=
	summaries+=("$out/cluster-$stamp-cap$cap-batch$batch.json")
done

echo
echo "thumbnail-operator on hack/cluster.sh ($(nproc) cores, Kubernetes $(kc version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')), $count Thumbnails at once, width 256, photos: ${photos[*]}"
python3 bench/cluster.py table "${summaries[@]}" | tee "$out/cluster-$stamp.txt"
