#!/usr/bin/env python3
"""The fixed cost of one resizer run (issue 13): a 1x1 PNG in, a 1x1 PNG out, so that
what is measured is the process, not the image: start-up, runtime, (S3 mode) client
set-up and two requests, exit.

Each command runs --runs times in turn (after one warm-up each, so every one finds the
binaries in the page cache); reported: median and 90th percentile of wall time, median
peak RSS (the child's own, from wait4's rusage). Compared in the same run with node
running sharp on the same file (bench/startup.js) and node alone (its floor).

Modes: local files (--input-file/--output-file); S3 (what a Job and the operator's local
mode run: the same command line against a real S3 server) when --s3-endpoint is given.
Not a test. Usage:
  startup.py --resizer BIN --sharp-dir DIR --out DIR [--runs 30] [--s3-endpoint URL --s3-bucket B]
"""
import argparse, os, statistics, struct, subprocess, sys, time, zlib


def png_1x1(path):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\x00\x80\x40\x20")) + chunk(b"IEND", b""))


def one(cmd, env):
    """(wall ms, peak RSS KiB) of one run of cmd, which must succeed."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = (time.perf_counter() - t) * 1000
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode()[-400:]
    p.stderr.close()
    if p.returncode != 0:
        sys.exit(f"[startup] {cmd[0]} failed ({p.returncode}): {err}")
    return wall, usage.ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resizer", required=True)
    ap.add_argument("--sharp-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--s3-endpoint")
    ap.add_argument("--s3-bucket", default="bench")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    src = os.path.join(a.out, "1x1.png")
    png_1x1(src)
    here = os.path.dirname(os.path.abspath(__file__))
    base = dict(os.environ)
    node_env = dict(base, NODE_PATH=os.path.join(a.sharp_dir, "node_modules"))
    common = ["--width=1", "--format=png", "--result-path=/dev/null"]
    cases = [
        ("resizer, local files", [a.resizer, f"--input-file={src}",
                                  f"--output-file={os.path.join(a.out, 'r.png')}"] + common, base),
    ]
    if a.s3_endpoint:
        s3_env = dict(base, S3_ENDPOINT=a.s3_endpoint, S3_PATH_STYLE="true", S3_REGION="us-east-1")
        cases.append(("resizer, S3 (as a Job runs it)",
                      [a.resizer, f"--source-bucket={a.s3_bucket}", "--source-key=1x1.png",
                       f"--output-bucket={a.s3_bucket}", "--output-key=thumb.png"] + common, s3_env))
    cases += [
        ("node + sharp, local files", ["node", os.path.join(here, "startup.js"), src,
                                       os.path.join(a.out, "s.png")], node_env),
        ("node alone (`node -e 0`)", ["node", "-e", "0"], base),
    ]
    results = {name: [] for name, _, _ in cases}
    for name, cmd, env in cases:
        one(cmd, env)  # warm-up
    # Interleaved, so that a busy moment of the machine falls on every command alike.
    for _ in range(a.runs):
        for name, cmd, env in cases:
            results[name].append(one(cmd, env))
    print(f"Fixed cost of one run: a 1x1 PNG to a 1x1 PNG, {a.runs} runs each, interleaved:\n")
    print("| command | median ms | p90 ms | peak RSS MiB (median) |")
    print("|---|---:|---:|---:|")
    for name, _, _ in cases:
        walls = sorted(w for w, _ in results[name])
        p90 = walls[min(len(walls) - 1, int(round(0.9 * (len(walls) - 1))))]
        rss = statistics.median(r for _, r in results[name]) / 1024
        print(f"| {name} | {statistics.median(walls):.1f} | {p90:.1f} | {rss:.1f} |")


if __name__ == "__main__":
    main()
