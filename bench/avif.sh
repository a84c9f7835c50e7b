#!/usr/bin/env bash
# bench/avif.sh — AVIF encode time, size and fidelity: the resizer's encoder (libavif +
# libaom, one thread) at each libaom speed against sharp's (libvips -> libheif -> libaom,
# one thread) at each effort, on the same pixels (corpus photos as 256 and 1024 px
# thumbnails), at the same quality. Not a test: prints a Markdown table.
#
#   bench/avif.sh [QUALITY]      default 50 (sharp's default AVIF quality, and the resizer's)
#
# sharp comes from npm (bench/package.json, cached as in bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
quality=${1:-50}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/bench
export THUMBNAIL_CORPUS=${THUMBNAIL_CORPUS:-$root/../shared/corpus}
out=$(mktemp -d "${TMPDIR:-/tmp}/avif-bench.XXXXXX")
log() { printf '[avif-bench] %s\n' "$*" >&2; }

mkdir -p "$cache/node"
if ! cmp -s bench/package.json "$cache/node/package.json" || [ ! -d "$cache/node/node_modules/sharp" ]; then
	log "installing sharp into $cache/node"
	cp bench/package.json "$cache/node/package.json"
	(cd "$cache/node" && npm install --no-audit --no-fund --silent)
fi
log "the resizer's encoder (cargo run --release --example avif_speed)"
cargo run -q --release -p resizer --example avif_speed -- "$quality" "$out" > "$out/ours.tsv"
log "sharp's encoder"
for effort in 0 1 2 3 4 5 6; do
	NODE_PATH="$cache/node/node_modules" node bench/avif_encode.js --quality "$quality" --effort "$effort" "$out"/*.png
done > "$out/sharp.tsv"
python3 - "$out/ours.tsv" "$out/sharp.tsv" "$quality" <<'PY'
import collections, sys
rows = collections.defaultdict(lambda: [0.0, 0, 0.0, 0])
for path in sys.argv[1:3]:
    for line in open(path):
        tool, setting, _q, f, ms, size, diff = line.rstrip("\n").split("\t")
        px = f.split("-", 1)[0]
        r = rows[(px, tool, int(setting))]
        r[0] += float(ms); r[1] += int(size); r[2] += float(diff); r[3] += 1
print(f"AVIF at quality {sys.argv[3]}, 4:4:4, one thread; sums over the photos "
      "(encode ms = sum of per-photo medians of 5), mean abs diff averaged (0-255 per channel)\n")
print("| size | encoder | setting | encode ms | bytes | mean abs diff |")
print("|---|---|---|---|---|---|")
for (px, tool, setting), (ms, size, diff, n) in sorted(rows.items(), key=lambda kv: (int(kv[0][0]), kv[0][1], kv[0][2])):
    name = {"ours": "resizer (libaom speed)", "sharp": "sharp (effort)"}[tool]
    print(f"| {px} | {name} | {setting} | {ms:.1f} | {size} | {diff / n:.2f} |")
PY
log "thumbnails in $out"
