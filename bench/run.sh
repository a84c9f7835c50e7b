#!/usr/bin/env bash
# bench/run.sh — the resizer against sharp 0.35 (libvips) on the corpus (`make bench`).
# Not a test: prints a Markdown table (CPU per thumbnail, throughput with 2 workers,
# peak RSS, SSIM against a full-decode reference) and the targets.
#
# Installs (cached in ${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/bench):
#   sharp from npm (bench/package.json), Pillow + numpy + scikit-image from PyPI.
# Env: THUMBNAIL_CORPUS (default ../shared/corpus), BENCH_SIZES (256,1024),
#      BENCH_ITERS (5), BENCH_FILES (comma list of corpus names; default all),
#      CARGO_TARGET_DIR (where the release resizer is built),
#      BENCH_GLIBC_TUNABLES (default glibc.malloc.hugetlb=1, what the operator gives the
#      resizer's Jobs; exported to both tools alike, sharp's node too; empty: none).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/bench
corpus=${THUMBNAIL_CORPUS:-$root/../shared/corpus}
target=${CARGO_TARGET_DIR:-$root/target}
out=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/resizer-bench.XXXXXX")}
log() { printf '[bench] %s\n' "$*" >&2; }

[ -d "$corpus" ] || { log "no corpus at $corpus: run hack/fetch-corpus.sh or set THUMBNAIL_CORPUS"; exit 1; }
command -v node >/dev/null || { log "node is missing (apt-get install nodejs npm)"; exit 1; }
[ -x /usr/bin/time ] || { log "GNU time is missing (apt-get install time)"; exit 1; }

mkdir -p "$cache/node"
if ! cmp -s bench/package.json "$cache/node/package.json" || [ ! -d "$cache/node/node_modules/sharp" ]; then
	log "installing sharp into $cache/node"
	cp bench/package.json "$cache/node/package.json"
	(cd "$cache/node" && npm install --no-audit --no-fund --silent)
fi
if [ ! -x "$cache/venv/bin/python" ] || ! "$cache/venv/bin/python" -c 'import skimage, PIL, numpy' 2>/dev/null; then
	log "installing Pillow, numpy, scikit-image into $cache/venv"
	python3 -m venv "$cache/venv"
	"$cache/venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
fi

log "building the release resizer and its decode-only reference"
cargo build --release -p resizer --bins --features bench
log "thumbnails in $out"
# The same environment for both tools: the resizer's Jobs run with this malloc tunable
# (operator/src/invocation.rs), and it speeds sharp's large decodes too (huge pages for
# large blocks), so giving it only to the resizer would flatter it.
if [ -n "${BENCH_GLIBC_TUNABLES-glibc.malloc.hugetlb=1}" ]; then
	export GLIBC_TUNABLES=${BENCH_GLIBC_TUNABLES-glibc.malloc.hugetlb=1}
	log "GLIBC_TUNABLES=$GLIBC_TUNABLES for both tools"
else
	unset GLIBC_TUNABLES
fi
exec "$cache/venv/bin/python" bench/bench.py \
	--resizer "$target/release/resizer" --decode-only "$target/release/jpeg-decode-only" --sharp-dir "$cache/node" --corpus "$corpus" --out "$out" \
	--sizes "${BENCH_SIZES:-256,1024}" --iters "${BENCH_ITERS:-5}" ${BENCH_FILES:+--files "$BENCH_FILES"}
