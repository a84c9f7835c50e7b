#!/usr/bin/env python3
"""The resizer against sharp (libvips) on the corpus, in the same run, interleaved.

Measures, per output size (default 256 and 1024 px, fit inside, JPEG q80):
  - CPU per thumbnail: median user+sys CPU of --iters runs per file (after a warm-up);
    sharp in-process (process.cpuUsage), the resizer per process (wait4 rusage), local
    files for both (no S3, no network noise); geometric mean of the per-file ratios.
  - throughput with 2 workers: sharp's batch mode (2 promises, UV_THREADPOOL_SIZE=2),
    the resizer as 2 concurrent processes (one per image, as Jobs run it); best of
    --rounds interleaved rounds.
  - peak RSS per file (ru_maxrss of the process that made the thumbnail).
  - for JPEGs, the decode-only floor: libjpeg-turbo alone at the DCT scale the resizer
    picks (resizer/src/bin/jpeg-decode-only.rs, also a process per run), and the
    resizer's CPU over it.
  - SSIM (RGB, scikit-image) of each tool's thumbnail against a reference made by a full
    decode (Pillow, EXIF-transposed) and Pillow's Lanczos to that thumbnail's exact size.

Both tools colour-manage (sharp's default; the resizer converts embedded ICC profiles).
Both inherit this process's environment (run.sh sets GLIBC_TUNABLES for both alike).

Usage: bench.py --resizer BIN --decode-only BIN --sharp-dir DIR --corpus DIR --out DIR [--sizes 256,1024]
"""
import argparse, glob, math, os, statistics, subprocess, sys, tempfile, time

import numpy as np
from PIL import Image, ImageOps
from skimage.metrics import structural_similarity

HERE = os.path.dirname(os.path.abspath(__file__))


def run_rusage(cmd, env=None):
    """Runs cmd; returns (returncode, cpu seconds, maxrss KiB, stdout).

    CPU comes from wait4 (the child and everything it waited for). Peak RSS comes from
    GNU time run in between: Linux carries the forking process's high-water RSS into the
    child's ru_maxrss across exec, so measuring a direct child of this (large) Python
    process would report Python's RSS for any small program."""
    fd, rss_file = tempfile.mkstemp(prefix="rss-")
    os.close(fd)
    p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = p.stdout.read()
    p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    with open(rss_file) as fh:
        lines = [l for l in fh.read().split() if l.isdigit()]
    os.unlink(rss_file)
    return p.returncode, ru.ru_utime + ru.ru_stime, int(lines[-1]) if lines else 0, out.decode()


def resizer_cmd(a, f, size, out):
    return [a.resizer, f"--input-file={f}", f"--output-file={out}", f"--width={size}", f"--height={size}",
            "--fit=inside", "--format=jpeg", "--quality=80", "--result-path=/dev/null"]


def sharp_env(a):
    env = dict(os.environ, NODE_PATH=os.path.join(a.sharp_dir, "node_modules"), UV_THREADPOOL_SIZE="2")
    return env


def sharp_run(a, f, size, outdir):
    cmd = ["node", os.path.join(HERE, "sharp_bench.js"), "run", "--size", str(size), "--iters", str(a.iters),
           "--noicc", "0", "--out", outdir, f]
    rc, _, rss, out = run_rusage(cmd, sharp_env(a))
    line = out.strip().splitlines()[-1].split("\t") if out.strip() else []
    if rc != 0 or len(line) < 9 or line[4] == "ERROR":
        return None, rss
    return float(line[8]), rss


def ours_run(a, f, size, outdir):
    stem = os.path.splitext(os.path.basename(f))[0]
    out = os.path.join(outdir, stem + ".jpg")
    cpus, rss = [], 0
    for i in range(a.iters + 1):
        rc, cpu, r, _ = run_rusage(resizer_cmd(a, f, size, out))
        if rc != 0:
            return None, r
        rss = max(rss, r)
        if i > 0:  # the first run warms the page cache, like sharp's warm-up
            cpus.append(cpu * 1000)
    return statistics.median(cpus), rss


def decode_only_run(a, f, size):
    """Median CPU ms of the decode-only reference on JPEG `f` (None for other formats)."""
    if not f.lower().endswith((".jpg", ".jpeg")):
        return None
    cpus = []
    for i in range(a.iters + 1):
        rc, cpu, _, _ = run_rusage([a.decode_only, f, str(size)])
        if rc != 0:
            return None
        if i > 0:
            cpus.append(cpu * 1000)
    return statistics.median(cpus)


def ours_batch(a, files, size, outdir, jobs=2):
    """Images per second with `jobs` resizer processes running at once."""
    work = files * a.repeat
    running = {}
    t0 = time.perf_counter()
    for i, f in enumerate(work):
        if len(running) >= jobs:
            pid, _ = os.wait()  # whichever child finishes first frees a slot
            running.pop(pid, None)
        stem = os.path.splitext(os.path.basename(f))[0]
        p = subprocess.Popen(resizer_cmd(a, f, size, os.path.join(outdir, f"{i % jobs}-{stem}.jpg")),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running[p.pid] = p
    while running:
        pid, _ = os.wait()
        running.pop(pid, None)
    return len(work) / (time.perf_counter() - t0)


def sharp_batch(a, files, size, outdir):
    cmd = ["node", os.path.join(HERE, "sharp_bench.js"), "batch", "--size", str(size), "--jobs", "2",
           "--repeat", str(a.repeat), "--noicc", "0", "--out", outdir] + files
    out = subprocess.run(cmd, capture_output=True, text=True, env=sharp_env(a)).stdout
    for field in out.split():
        if field.startswith("img_per_s="):
            return float(field.split("=")[1])
    raise SystemExit(f"sharp batch failed: {out}")


_refs = {}


def reference(f, size_wh):
    key = (f, size_wh)
    if key not in _refs:
        im = Image.open(f)
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB")  # Pillow converts CMYK (Adobe-inverted) and 16-bit itself
        _refs[key] = np.asarray(im.resize(size_wh, Image.LANCZOS), dtype=np.float64)
    return _refs[key]


def ssim(f, thumb_path):
    try:
        t = Image.open(thumb_path).convert("RGB")
    except Exception:
        return float("nan")
    ref = reference(f, t.size)
    return structural_similarity(ref, np.asarray(t, dtype=np.float64), channel_axis=2, data_range=255)


def gmean(xs):
    xs = [x for x in xs if x and x > 0 and not math.isnan(x)]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resizer", required=True)
    ap.add_argument("--decode-only", required=True)
    ap.add_argument("--sharp-dir", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default="256,1024")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=2, help="corpus passes per throughput round")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved throughput rounds (best counts)")
    ap.add_argument("--files", default="", help="comma list of corpus file names (default: all)")
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(a.corpus, "*.*")))
    files = [f for f in files if not f.endswith(".tsv")]
    if a.files:
        files = [f for f in files if os.path.basename(f) in a.files.split(",")]
    summary = []
    print(f"Environment of both tools: GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '(unset)')}")
    for size in map(int, a.sizes.split(",")):
        od = {t: os.path.join(a.out, f"{t}-{size}") for t in ("sharp", "resizer")}
        for d in od.values():
            os.makedirs(d, exist_ok=True)
        print(f"\n## {size} px, fit inside, JPEG q80 ({len(files)} files, CPU = median of {a.iters} runs)\n")
        print("| file | sharp CPU ms | resizer CPU ms | ratio | decode-only ms | resizer/decode | sharp RSS MB | resizer RSS MB | sharp SSIM | resizer SSIM |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        ratios, rss_ratios, ssim_miss, floor = [], [], [], {}
        max_rss = {"sharp": 0, "resizer": 0}
        for i, f in enumerate(files):
            name = os.path.basename(f)
            stem = os.path.splitext(name)[0]
            # Interleave: alternate which tool goes first, so drift hits both alike.
            order = [("sharp", sharp_run), ("resizer", ours_run)]
            if i % 2:
                order.reverse()
            res = {t: fn(a, f, size, od[t]) for t, fn in order}
            (sc, srss), (rc, rrss) = res["sharp"], res["resizer"]
            dc = decode_only_run(a, f, size)
            over = rc / dc if dc and rc else None
            if over:
                floor[name] = over
            s_ssim = ssim(f, os.path.join(od["sharp"], stem + ".jpg"))
            r_ssim = ssim(f, os.path.join(od["resizer"], stem + ".jpg"))
            ratio = rc / sc if sc and rc else float("nan")
            ratios.append(ratio)
            rss_ratios.append(rrss / srss)
            max_rss["sharp"] = max(max_rss["sharp"], srss)
            max_rss["resizer"] = max(max_rss["resizer"], rrss)
            if not (r_ssim >= s_ssim):
                below = "" if r_ssim >= s_ssim - 0.001 else " **by more than 0.001**"
                ssim_miss.append(f"{name} ({r_ssim:.4f} < {s_ssim:.4f}{below})")
            fmt = lambda v, p=2: "ERR" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{p}f}"
            dash = lambda v, p: "–" if v is None else fmt(v, p)
            print(f"| {name} | {fmt(sc, 1)} | {fmt(rc, 1)} | {fmt(ratio)} | {dash(dc, 1)} | {dash(over, 2)} | {srss / 1024:.0f} | {rrss / 1024:.0f} | {fmt(s_ssim, 4)} | {fmt(r_ssim, 4)} |", flush=True)
        tp = {"sharp": 0.0, "resizer": 0.0}
        for r in range(a.rounds):
            tp["sharp"] = max(tp["sharp"], sharp_batch(a, files, size, od["sharp"] + "-batch"))
            tp["resizer"] = max(tp["resizer"], ours_batch(a, files, size, od["resizer"] + "-batch"))
        g = gmean(ratios)
        print(f"\nCPU per thumbnail, geometric mean resizer/sharp: **{g:.2f}x**")
        print(f"Throughput, 2 workers: sharp {tp['sharp']:.2f} img/s, resizer {tp['resizer']:.2f} img/s: **{tp['resizer'] / tp['sharp']:.2f}x**")
        print(f"Peak RSS: sharp {max_rss['sharp'] / 1024:.0f} MB, resizer {max_rss['resizer'] / 1024:.0f} MB: **{max_rss['resizer'] / max_rss['sharp']:.2f}x** (per-file geometric mean {gmean(rss_ratios):.2f}x)")
        print(f"SSIM >= sharp's: {'every file' if not ssim_miss else 'missed on ' + ', '.join(ssim_miss)}")
        baseline = [v for k, v in floor.items() if "_prog" not in k]
        print(f"Resizer CPU over the decode-only floor (libjpeg-turbo alone, same DCT scale), geometric mean: "
              f"baseline JPEGs **{gmean(baseline):.2f}x** ({len(baseline)} files), all JPEGs {gmean(list(floor.values())):.2f}x")
        summary.append((size, g, tp["resizer"] / tp["sharp"], max_rss["resizer"] / max_rss["sharp"], ssim_miss))
    print("\n## Summary vs targets\n")
    print("| size | CPU vs sharp | throughput vs sharp | peak RSS vs sharp | SSIM >= sharp |")
    print("|---:|---:|---:|---:|---|")
    for size, g, t, r, miss in summary:
        print(f"| {size} | {g:.2f}x | {t:.2f}x | {r:.2f}x | {'all files' if not miss else f'{len(miss)} miss'} |")
    print("\nTargets (issue 13): CPU <= 0.7x (geometric mean); throughput >= 1.8x at 256 and 1024; RSS <= 0.5x; "
          "SSIM >= sharp's on every file (or within 0.001); baseline JPEGs within 1.1x of the decode-only floor.")


if __name__ == "__main__":
    main()
