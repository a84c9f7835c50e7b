#!/usr/bin/env python3
"""Load generator for the REST shim's upload (stdlib only; driven by shim-load.sh).

Uploads FILE as multipart/form-data from CONCURRENCY threads, each with its own
keep-alive connection, for DURATION seconds; prints one JSON line with requests/s,
latency percentiles and the status codes seen. Python's http.client sends the body
from C with the GIL released, so a thread per connection keeps up with the shim here.
"""

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def multipart(path):
    boundary = "shimload" + os.urandom(8).hex()
    with open(path, "rb") as f:
        data = f.read()
    name = os.path.basename(path)
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"width\"\r\n\r\n256\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def table():
    """Reads the JSON lines of several runs on stdin and prints them as a table."""
    cols = ["file", "MB", "conc", "reqs", "req/s", "MB/s", "p50 ms", "p99 ms", "peak RSS MiB", "statuses"]
    print("{:34} {:>5} {:>4} {:>5} {:>7} {:>6} {:>7} {:>7} {:>12}  {}".format(*cols))
    for line in sys.stdin:
        r = json.loads(line)
        print("{:34} {:5.1f} {:4} {:5} {:7} {:6} {:7} {:7} {:12}  {}".format(
            r["file"], r["file_bytes"] / 1e6, r["concurrency"], r["requests"], r["rps"],
            r["mb_per_s"], r["p50_ms"], r["p99_ms"], r["peak_rss_mib"], r["statuses"]))


def main():
    if sys.argv[1:] == ["table"]:
        return table()
    url, path, concurrency, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    u = urllib.parse.urlparse(url)
    body, ctype = multipart(path)
    latencies, statuses, lock = [], {}, threading.Lock()
    deadline = time.monotonic() + duration

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        mine, codes = [], {}
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                conn.request("POST", "/api/v1/thumbnails", body=body, headers={"Content-Type": ctype})
                r = conn.getresponse()
                r.read()
                code = r.status
            except (OSError, http.client.HTTPException) as e:
                code = type(e).__name__
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
            mine.append(time.monotonic() - t0)
            codes[code] = codes.get(code, 0) + 1
        with lock:
            latencies.extend(mine)
            for k, v in codes.items():
                statuses[str(k)] = statuses.get(str(k), 0) + v

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 1)

    print(json.dumps({
        "concurrency": concurrency,
        "file_bytes": os.path.getsize(path),
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "mb_per_s": round(len(latencies) * os.path.getsize(path) / elapsed / 1e6, 1),
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "statuses": statuses,
    }))


if __name__ == "__main__":
    main()
