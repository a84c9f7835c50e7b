#!/usr/bin/env python3
"""Upload -> success latency through the whole local-mode system (not a test).

Started by bench/local-e2e.sh with `make dev`'s stack running (release binaries):
uploads real ~1 MB photos through the REST shim, polls each Thumbnail until
`success`, and splits the latency into the resizer's own time (from its JSON result:
download + decode + resize + encode + upload) and the control path (shim, API server
round trips, watch, reconcile, process start, polling).

    python3 bench/local-e2e.py BASE_URL RUNS_DIR [--sequential N] [--batch N]
"""
import argparse
import concurrent.futures as cf
import json
import os
import statistics
import sys
import time
import urllib.request
import uuid


def upload(base, path, width=256):
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        data = f.read()
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="width"\r\n\r\n{width}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{os.path.basename(path)}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    req = urllib.request.Request(
        f"{base}/api/v1/thumbnails", data=b"".join(parts), method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(req) as r:
        return json.load(r)["id"]


def wait_success(base, tid, poll=0.005):
    while True:
        with urllib.request.urlopen(f"{base}/api/v1/thumbnails/{tid}") as r:
            body = json.load(r)
        if body["status"] in ("success", "error"):
            return body
        time.sleep(poll)


def resizer_ms(runs_dir, tid):
    """Sum of the resizer's own step timings, from the run's result file."""
    ns_dir = os.path.join(runs_dir, "default")
    for name in os.listdir(ns_dir):
        if name.startswith(tid) and name.endswith(".result.json"):
            with open(os.path.join(ns_dir, name)) as f:
                t = json.load(f)["timings"]
            return sum(t.values())
    return None


def one(base, runs_dir, path):
    t0 = time.perf_counter()
    tid = upload(base, path)
    body = wait_success(base, tid)
    total = (time.perf_counter() - t0) * 1000
    assert body["status"] == "success", body
    return total, resizer_ms(runs_dir, tid)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("runs_dir")
    ap.add_argument("--photos", nargs="+", required=True)
    ap.add_argument("--sequential", type=int, default=30)
    ap.add_argument("--batch", type=int, default=100)
    a = ap.parse_args()

    one(a.base, a.runs_dir, a.photos[0])  # warm-up: page cache, connections
    lat, res = [], []
    for i in range(a.sequential):
        total, r = one(a.base, a.runs_dir, a.photos[i % len(a.photos)])
        lat.append(total)
        res.append(r)
    over = [t - r for t, r in zip(lat, res)]
    print(f"sequential uploads: {a.sequential} x ~1 MB photos, 256 px JPEG")
    print(f"  upload->success   p50 {pct(lat, 50):7.1f} ms   p99 {pct(lat, 99):7.1f} ms")
    print(f"  resizer's own     p50 {pct(res, 50):7.1f} ms   (download+decode+resize+encode+upload)")
    print(f"  control path      p50 {pct(over, 50):7.1f} ms   p99 {pct(over, 99):7.1f} ms   "
          f"({statistics.mean(over) / statistics.mean(lat) * 100:.0f}% of the latency)")

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(max_workers=16) as ex:
        futs = [ex.submit(one, a.base, a.runs_dir, a.photos[i % len(a.photos)]) for i in range(a.batch)]
        results = [f.result() for f in futs]
    wall = time.perf_counter() - t0
    print(f"batch: {a.batch} uploads at once (16 client threads)")
    print(f"  all succeeded in {wall:.1f} s = {a.batch / wall:.1f} thumbnails/s; "
          f"p50 {pct([r[0] for r in results], 50):.0f} ms, p99 {pct([r[0] for r in results], 99):.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
