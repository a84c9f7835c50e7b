#!/usr/bin/env bash
# hack/fetch-corpus.sh — recreates the test/benchmark corpus (../shared/corpus on the
# development machines) from the packages its files come from: Debian bookworm
# wallpaper packages (apt-get download; needs bookworm in the apt sources and a recent
# `apt-get update`) and scikit-image from PyPI. The five derivatives (CMYK, EXIF
# orientation 6, PNG, GIF, WebP) are made with Pillow as MANIFEST.tsv describes; they
# are equivalent to, not byte-identical with, the shared copies.
#
#   hack/fetch-corpus.sh [DIR]     default: $THUMBNAIL_CORPUS or ../shared/corpus
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dest=${1:-${THUMBNAIL_CORPUS:-$root/../shared/corpus}}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/thumbnail-operator/corpus-src
log() { printf '[corpus] %s\n' "$*" >&2; }

# file <TAB> Debian package <TAB> path inside the package
originals="j01_kleiber_6028x3391.jpg	lomiri-wallpapers-20.04	usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg
j02_elephants_5640x3172_prog.jpg	mate-backgrounds	usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg
j03_infinitesea_4096x4096_prog.jpg	lomiri-wallpapers-20.04	usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg
j04_wood_2560x1920.jpg	mate-backgrounds	usr/share/backgrounds/mate/nature/Wood.jpg
j05_path_2560x1600.jpg	plasma-workspace-wallpapers	usr/share/wallpapers/Path/contents/images/2560x1600.jpg
j06_fallenleaf_2560x1600.jpg	plasma-workspace-wallpapers	usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg
j07_colorfulcups_2560x1600_prog.jpg	plasma-workspace-wallpapers	usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg
j08_coldripple_2560x1600_mono.jpg	plasma-workspace-wallpapers	usr/share/wallpapers/ColdRipple/contents/images/2560x1600.jpg
j09_storm_1920x1280.jpg	mate-backgrounds	usr/share/backgrounds/mate/nature/Storm.jpg
j10_safelanding_5120x2880_graphic.jpg	plasma-workspace-wallpapers	usr/share/wallpapers/SafeLanding/contents/images/5120x2880.jpg
p02_kay_5120x2880_rgba.png	plasma-workspace-wallpapers	usr/share/wallpapers/Kay/contents/images/5120x2880.png
p03_goldfish_3640x2400_rgba.png	ukui-wallpapers	usr/share/backgrounds/goldfish.png
w01_adwaita_4096x4096.webp	gnome-backgrounds	usr/share/backgrounds/gnome/adwaita-l.webp"

mkdir -p "$dest" "$cache/debs" "$cache/root"
for pkg in $(printf '%s\n' "$originals" | cut -f2 | sort -u); do
	if ! ls "$cache/debs/${pkg}_"*.deb >/dev/null 2>&1; then
		log "downloading $pkg"
		(cd "$cache/debs" && apt-get download "$pkg") || { log "apt-get download $pkg failed: is Debian bookworm in the apt sources (apt-get update)?"; exit 1; }
	fi
	dpkg-deb -x "$(ls "$cache/debs/${pkg}_"*.deb | head -n1)" "$cache/root"
done
printf '%s\n' "$originals" | while IFS=$'\t' read -r file _pkg path; do
	install -m 0644 "$cache/root/$path" "$dest/$file"
done

# Pillow (derivatives) and scikit-image (p01, its astronaut.png) from PyPI.
venv=$cache/venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import PIL' 2>/dev/null; then
	log "installing Pillow into $venv"
	python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check Pillow
fi
if [ ! -f "$cache/astronaut.png" ]; then
	log "downloading scikit-image (for skimage/data/astronaut.png)"
	"$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d "$cache/wheels" scikit-image
	"$venv/bin/python" - "$cache" <<'PY'
import glob, sys, zipfile
cache = sys.argv[1]
whl = sorted(glob.glob(cache + "/wheels/scikit_image-*.whl"))[-1]
with zipfile.ZipFile(whl) as z:
    open(cache + "/astronaut.png", "wb").write(z.read("skimage/data/astronaut.png"))
PY
fi
install -m 0644 "$cache/astronaut.png" "$dest/p01_astronaut_512x512.png"

log "making the derivatives"
"$venv/bin/python" - "$dest" <<'PY'
import struct, sys
from PIL import Image
d = sys.argv[1] + "/"
# d01: CMYK JPEG (Pillow writes Adobe-inverted CMYK with an APP14 marker).
Image.open(d + "j04_wood_2560x1920.jpg").convert("CMYK").save(d + "d01_wood_2560x1920_cmyk.jpg")
# d02: j05's pixels untouched, EXIF Orientation=6 added (an APP1 right after SOI), so it
# must display rotated 90 degrees clockwise: portrait.
src = open(d + "j05_path_2560x1600.jpg", "rb").read()
tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack(">I", 0)
app1 = b"Exif\x00\x00" + tiff
open(d + "d02_path_2560x1600_orient6.jpg", "wb").write(src[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + src[2:])
Image.open(d + "j05_path_2560x1600.jpg").save(d + "d03_path_2560x1600_photo.png")
Image.open(d + "j09_storm_1920x1280.jpg").save(d + "d04_storm_1920x1280.gif")
Image.open(d + "j06_fallenleaf_2560x1600.jpg").save(d + "d05_fallenleaf_2560x1600.webp", quality=80)
PY
cat > "$dest/MANIFEST.tsv" <<'TSV'
file	origin	notes
TSV
printf '%s\n' "$originals" | while IFS=$'\t' read -r file pkg path; do
	printf '%s\tDebian bookworm package %s: %s\t\n' "$file" "$pkg" "$path" >> "$dest/MANIFEST.tsv"
done
printf 'p01_astronaut_512x512.png\tPyPI package scikit-image: skimage/data/astronaut.png\tsmall RGB PNG\n' >> "$dest/MANIFEST.tsv"
for f in d01_wood_2560x1920_cmyk.jpg:j04:CMYK d02_path_2560x1600_orient6.jpg:j05:"EXIF orientation 6" d03_path_2560x1600_photo.png:j05:PNG d04_storm_1920x1280.gif:j09:GIF d05_fallenleaf_2560x1600.webp:j06:WebP; do
	IFS=: read -r file from what <<<"$f"
	printf '%s\tderived from %s (%s, by hack/fetch-corpus.sh)\t%s\n' "$file" "$from" "$what" "$what" >> "$dest/MANIFEST.tsv"
done
log "corpus ready in $dest ($(ls "$dest" | wc -l) files)"
