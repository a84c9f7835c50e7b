#!/usr/bin/env bash
# hack/check-deps.sh — the operator and the REST shim must not link the resizer's image
# libraries (libjpeg-turbo, libwebp, Little CMS, image, ...): their dependency graphs (normal
# dependencies, as their release binaries are built) must not contain them, nor the
# resizer crate itself. Run by hack/test.sh; fails with the path that pulls one in.
set -euo pipefail
cd "$(dirname "$0")/.."

banned='^(resizer|turbojpeg|turbojpeg-sys|libwebp-sys|webp|image|fast_image_resize|lcms2|lcms2-sys|tiff|libavif-sys|libaom-sys|libdav1d-sys) '
status=0
for pkg in operator api-shim api store; do
	found=$(cargo tree --locked -e normal -p "$pkg" --prefix none --format '{p}' | grep -E "$banned" | sort -u || true)
	if [ -n "$found" ]; then
		echo "check-deps: $pkg depends on image-pipeline crates it never runs:" >&2
		echo "$found" | sed 's/^/  /' >&2
		first=$(echo "$found" | head -1 | cut -d' ' -f1)
		echo "  what pulls in $first: cargo tree -e normal -p $pkg -i $first" >&2
		status=1
	fi
done
# The check must be able to fail: the resizer itself does link them.
cargo tree --locked -e normal -p resizer --prefix none --format '{p}' | grep -qE '^turbojpeg ' \
	|| { echo "check-deps: turbojpeg not found under the resizer: the check no longer sees the graph" >&2; exit 1; }
[ $status = 0 ] && echo "check-deps: operator, api-shim, api and store link no image library" >&2
exit $status
