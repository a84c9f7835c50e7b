#!/usr/bin/env bash
# bench/memory.sh — peak memory of the resizer at the pixel limit, per decoder
# (`make bench-memory`). Not a test: prints a Markdown table of peak RSS per input format
# and output size, and the worst case in bytes per pixel, from which the Jobs' memory
# limit is sized (operator/src/invocation.rs memory_limit; README "Resizer memory").
#
# Installs (cached in ${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/bench):
#   Pillow + numpy from PyPI (bench/requirements.txt). Needs GNU time, and avifenc and
#   tiffcp (apt-get install libavif-bin libtiff-tools) to make the AVIF and YCbCr TIFF inputs.
# Env: BENCH_PIXELS (default 100000000, the default pixel limit), BENCH_OUT (where the
#      generated images are kept; they are large), BENCH_INPUTS (comma list of input
#      names, e.g. yuv420-8bit.avif,jpeg-ycbcr.tiff; default all), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/bench
target=${CARGO_TARGET_DIR:-$root/target}
out=${BENCH_OUT:-${TMPDIR:-/tmp}/resizer-memory}
log() { printf '[memory] %s\n' "$*" >&2; }

[ -x /usr/bin/time ] || { log "GNU time is missing (apt-get install time)"; exit 1; }
if [ ! -x "$cache/venv/bin/python" ] || ! "$cache/venv/bin/python" -c 'import PIL, numpy' 2>/dev/null; then
	log "installing Pillow, numpy into $cache/venv"
	python3 -m venv "$cache/venv"
	"$cache/venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
fi
log "building the release resizer"
cargo build --release -p resizer --bin resizer
exec "$cache/venv/bin/python" bench/memory.py --resizer "$target/release/resizer" --out "$out" \
	--pixels "${BENCH_PIXELS:-100000000}" ${BENCH_INPUTS:+--inputs "$BENCH_INPUTS"}
