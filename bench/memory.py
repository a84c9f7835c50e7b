#!/usr/bin/env python3
"""Peak memory (RSS) of the resizer at the pixel limit, per decoder (issue 12).

The Job's memory limit is sized from this (operator/src/invocation.rs memory_limit):
for each input format the resizer decodes, an image of exactly --pixels pixels is made
(a square; smooth content, so files stay small and pass the byte limit, as a
decompression bomb does) and the release resizer turns it into a thumbnail at the
smallest and at the largest output size, as a Job would, in local-file mode. Peak RSS
is GNU time's %M (the resizer's own high-water mark, in KiB).

Prints a Markdown table and the worst case in bytes per pixel of the limit. Not a test.

Usage: memory.py --resizer BIN --out DIR [--pixels 100000000] [--inputs NAME,...]
"""
import argparse, math, os, struct, subprocess, sys, tempfile, zlib

import numpy as np
from PIL import Image

MAX_DIMENSION = 8192  # api::crd::MAX_DIMENSION: the largest output


def gradient(side, channels):
    """A smooth side x side image of `channels` 8-bit channels."""
    x = np.arange(side, dtype=np.uint32)
    planes = [
        np.broadcast_to((x[None, :] * 255 // side).astype(np.uint8), (side, side)),
        np.broadcast_to((x[:, None] * 255 // side).astype(np.uint8), (side, side)),
        ((x[None, :] + x[:, None]) * 255 // (2 * side)).astype(np.uint8),
        np.broadcast_to((255 - x[:, None] * 127 // side).astype(np.uint8), (side, side)),
    ]
    return np.ascontiguousarray(np.stack(planes[:channels], axis=-1))


def png16_rgba(path, side):
    """A 16-bit RGBA PNG, written by hand (Pillow cannot write one), row by row."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    x = np.arange(side, dtype=np.uint32)
    z = zlib.compressobj(1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)))
        data = bytearray()
        for y in range(side):
            row = np.empty((side, 4), dtype=">u2")
            row[:, 0] = x * 65535 // side
            row[:, 1] = y * 65535 // side
            row[:, 2] = (x + y) * 65535 // (2 * side)
            row[:, 3] = 65535 - y * 32767 // side
            raw = np.frombuffer(row.tobytes(), dtype=np.uint8)
            # PNG filter 1 (Sub): each byte less the same byte of the previous pixel; a
            # gradient then compresses to almost nothing (a small file, a big image).
            sub = raw.copy()
            sub[8:] = raw[8:] - raw[:-8]
            data += z.compress(b"\x01" + sub.tobytes())
            if len(data) > 1 << 22:
                f.write(chunk(b"IDAT", bytes(data)))
                data = bytearray()
        data += z.flush()
        f.write(chunk(b"IDAT", bytes(data)))
        f.write(chunk(b"IEND", b""))


def make_inputs(out, side, only):
    """(label, path) of one image per decode path (or of those named in `only`), made
    once per size."""
    os.makedirs(out, exist_ok=True)
    made = []
    def want(name, build):
        if only and name not in only:
            return
        path = os.path.join(out, f"{side}-{name}")
        if not os.path.exists(path):
            print(f"[memory] making {path}", file=sys.stderr)
            build(path + ".tmp")
            os.rename(path + ".tmp", path)
        made.append((name, path))
    rgb = lambda: Image.fromarray(gradient(side, 3), "RGB")
    rgba = lambda: Image.fromarray(gradient(side, 4), "RGBA")
    want("baseline.jpg", lambda p: rgb().save(p, "JPEG", quality=90))
    want("progressive.jpg", lambda p: rgb().save(p, "JPEG", quality=90, progressive=True))
    # 4:4:4 (and 4:2:2) progressive JPEGs take another path at 1/8 scale: a baseline
    # JPEG of their DC alone (decode/progressive_dc.rs), without libjpeg's whole-image
    # coefficient buffer; Pillow's default above is 4:2:0.
    want("progressive-444.jpg",
         lambda p: rgb().save(p, "JPEG", quality=90, progressive=True, subsampling=0))
    want("rgba8.png", lambda p: rgba().save(p, "PNG", compress_level=1))
    want("rgba16.png", lambda p: png16_rgba(p, side))
    want("palette.gif", lambda p: Image.fromarray(gradient(side, 1)[..., 0], "L").convert("P").save(p, "GIF"))
    want("lossy.webp", lambda p: rgb().save(p, "WEBP", quality=80, method=0))
    want("lossless-rgba.webp", lambda p: rgba().save(p, "WEBP", lossless=True, method=0))
    want("rgba8-deflate.tiff", lambda p: rgba().save(p, "TIFF", compression="tiff_adobe_deflate"))
    want("jpeg-ycbcr.tiff", lambda p: tiff_ycbcr(p, rgb()))
    # AVIF has no shrink-on-load and dav1d holds the whole YUV frame next to the RGB(A)
    # copy: the usual kind (8-bit 4:2:0) and the largest (10-bit 4:4:4 with alpha).
    want("yuv420-8bit.avif", lambda p: avif(p, rgb(), ["-d", "8", "-y", "420"]))
    want("yuv444-10bit-rgba.avif", lambda p: avif(p, rgba(), ["-d", "10", "-y", "444"]))
    return made


def tiff_ycbcr(path, image):
    """A JPEG-compressed YCbCr TIFF (the resizer's own decode path, decode/tiff.rs), as
    scanners and GDAL write it: libtiff's tiffcp from an uncompressed TIFF."""
    raw = path + ".raw.tif"
    image.save(raw, "TIFF", compression="raw")
    subprocess.run(["tiffcp", "-c", "jpeg:90", "-r", "16", raw, path], check=True)
    os.unlink(raw)


def avif(path, image, args):
    """An AVIF made by avifenc (libavif-bin) from a PNG of `image`, at its fastest speed
    (a smooth image: small and quick to encode), as a grid of 4x4 tiles, the way cameras
    and phones store large images (a single 10000x10000 AV1 frame from libaom 3.6 decodes
    neither in dav1d nor in avifdec): libavif decodes tile by tile into one image of the
    whole size."""
    png = path + ".png"
    image.save(png, "PNG", compress_level=1)
    subprocess.run(["avifenc", "-s", "10", "-j", "2", "--min", "20", "--max", "40", "--grid", "4x4"] + args + [png, path],
                   check=True, stdout=subprocess.DEVNULL)
    os.unlink(png)


def peak_rss(cmd):
    """(exit code, peak RSS in KiB, seconds) of cmd, from GNU time."""
    fd, report = tempfile.mkstemp(prefix="rss-")
    os.close(fd)
    p = subprocess.run(["/usr/bin/time", "-f", "%M %e", "-o", report] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(report) as fh:
        fields = fh.read().split()[-2:]
    os.unlink(report)
    return p.returncode, int(fields[0]), float(fields[1]), p.stderr.decode()[-300:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--pixels", type=int, default=100_000_000)
    ap.add_argument("--inputs", default="", help="comma list of input names (default: all)")
    a = ap.parse_args()
    side = math.isqrt(a.pixels)
    os.makedirs(a.out, exist_ok=True)
    only = {n for n in a.inputs.split(",") if n}
    inputs = make_inputs(a.out, side, only)
    cases = [(256, "jpeg"), (MAX_DIMENSION, "jpeg"), (MAX_DIMENSION, "png"), (MAX_DIMENSION, "webp")]
    print(f"Peak RSS (MiB) of the resizer on {side}x{side} = {side * side / 1e6:.0f} Mpx inputs "
          f"(--max-pixels {a.pixels}), fit fill:\n")
    print("| input | file MiB | " + " | ".join(f"{w}px {f}" for w, f in cases) + " |")
    print("|---|---:|" + "---:|" * len(cases))
    worst = (0, "")
    for name, path in inputs:
        cells = []
        for width, fmt in cases:
            out = os.path.join(a.out, f"thumb-{width}.{fmt}")
            cmd = [a.resizer, f"--input-file={path}", f"--output-file={out}", f"--width={width}",
                   f"--height={width}", "--fit=fill", f"--format={fmt}", "--result-path=/dev/null",
                   f"--max-pixels={a.pixels}", "--max-input-bytes=1073741824"]
            code, kib, secs, err = peak_rss(cmd)
            if code != 0:
                cells.append(f"exit {code}")
                print(f"[memory] {name} {width} {fmt}: exit {code}: {err}", file=sys.stderr)
                continue
            mib = kib / 1024
            cells.append(f"{mib:.0f}")
            if kib * 1024 > worst[0]:
                worst = (kib * 1024, f"{name} -> {width}px {fmt}")
        print(f"| {name} | {os.path.getsize(path) / (1 << 20):.1f} | " + " | ".join(cells) + " |")
    print(f"\nWorst: {worst[0] / (1 << 20):.0f} MiB ({worst[1]}) = "
          f"{worst[0] / a.pixels:.2f} bytes per pixel of the limit")


if __name__ == "__main__":
    main()
