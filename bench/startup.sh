#!/usr/bin/env bash
# bench/startup.sh — the fixed cost of one resizer run (issue 13): a 1x1 PNG, local files
# and S3 (a SeaweedFS of its own on loopback, as in the tests), against node + sharp on
# the same file, in the same run (`make bench-startup`). Not a test: prints a Markdown
# table (median and p90 wall time, peak RSS).
#
# Installs (cached in ${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/bench): sharp
# from npm (bench/package.json); SeaweedFS through hack/s3-server.sh.
# Env: BENCH_RUNS (30), BENCH_S3 (1; 0: local files only), BENCH_S3_PORT (27300),
#      CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/bench
target=${CARGO_TARGET_DIR:-$root/target}
out=$(mktemp -d "${TMPDIR:-/tmp}/resizer-startup.XXXXXX")
log() { printf '[startup] %s\n' "$*" >&2; }

command -v node >/dev/null || { log "node is missing (apt-get install nodejs npm)"; exit 1; }
mkdir -p "$cache/node"
if ! cmp -s bench/package.json "$cache/node/package.json" || [ ! -d "$cache/node/node_modules/sharp" ]; then
	log "installing sharp into $cache/node"
	cp bench/package.json "$cache/node/package.json"
	(cd "$cache/node" && npm install --no-audit --no-fund --silent)
fi
log "building the release resizer"
cargo build --release -p resizer --bin resizer

s3=()
if [ "${BENCH_S3:-1}" = 1 ]; then
	export S3_PORT=${BENCH_S3_PORT:-27300} S3_FRESH=1 S3_BUCKETS=bench
	export S3_STATE=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/bench-startup-s3
	trap 'bash hack/s3-server.sh stop >/dev/null 2>&1 || true; rm -rf "$out"' EXIT
	bash hack/s3-server.sh start >/dev/null
	endpoint=http://127.0.0.1:$S3_PORT
	python3 -c 'import sys; sys.path.insert(0, "bench"); import startup; startup.png_1x1(sys.argv[1])' "$out/1x1.png"
	curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "${S3_ACCESS_KEY:-minioadmin}:${S3_SECRET_KEY:-minioadmin}" \
		-T "$out/1x1.png" "$endpoint/bench/1x1.png" >/dev/null
	export AWS_ACCESS_KEY_ID=${S3_ACCESS_KEY:-minioadmin} AWS_SECRET_ACCESS_KEY=${S3_SECRET_KEY:-minioadmin}
	s3=(--s3-endpoint "$endpoint" --s3-bucket bench)
else
	trap 'rm -rf "$out"' EXIT
fi
python3 bench/startup.py --resizer "$target/release/resizer" --sharp-dir "$cache/node" --out "$out" \
	--runs "${BENCH_RUNS:-30}" "${s3[@]}"
