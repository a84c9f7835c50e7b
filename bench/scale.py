#!/usr/bin/env python3
"""Helper of bench/scale.sh (not a test): N Thumbnails at once against the real CRD API
server, the operator in local mode; the shim's list page by page. Standard library only.

    scale.py run KUBECONFIG --count N --photos KEY... --operator-pid PID --metrics URL
                 --batch-size B --out SUMMARY.json [--clients C] [--timeout S] [--width W]
        Watches the namespace's Thumbnails, creates N at once (C clients, each its own
        connection), waits until every one is Succeeded or Failed, and writes what it
        measured: drain time, thumbnails/s, the operator's peak RSS (VmHWM) and CPU
        (utime+stime; its reaped children's, the resizer runs', apart), the API server's
        and etcd's CPU, and the operator's API requests (thumbnail_kube_api_requests_total)
        per Thumbnail, all as differences over the run.
    scale.py list BASE_URL --limit L --expect N --out SUMMARY.json
        Pages through GET /api/v1/thumbnails?limit=L&continue=... and times each page.
    scale.py table SUMMARY.json...
        The comparison table (ratios against the first batch size) and the listing's.
"""
import argparse
import base64
import concurrent.futures as cf
import http.client
import json
import os
import re
import ssl
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

NS = "default"
PATH = f"/apis/thumbnails.dev/v1alpha1/namespaces/{NS}/thumbnails"
# The REST shim lists only the Thumbnails it created (api-shim routes::served_selector).
CREATED_BY = {"thumbnails.dev/created-by": "api-shim"}
# Created as the shim creates them (api-shim routes/upload.rs): with the operator's
# finalizer already set, which saves the operator a patch per Thumbnail. A manifest
# applied with kubectl has none, and costs that one request more.
FINALIZER = "thumbnails.dev/cleanup"
TERMINAL = ("Succeeded", "Failed")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[scale] {msg}", file=sys.stderr, flush=True)


class Kube:
    """Just enough of a Kubernetes client for the kubeconfig crd-apiserver.sh writes
    (one cluster, client certificate)."""

    def __init__(self, kubeconfig):
        text = open(kubeconfig).read()

        def field(name):
            m = re.search(rf"^\s*{name}:\s*(\S+)\s*$", text, re.M)
            if not m:
                sys.exit(f"{kubeconfig}: no {name}")
            return m.group(1)

        url = urllib.parse.urlsplit(field("server"))
        self.host, self.port = url.hostname, url.port or 443
        self.tmp = tempfile.TemporaryDirectory()
        files = {}
        for name in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            path = os.path.join(self.tmp.name, name)
            with open(path, "wb") as f:
                f.write(base64.b64decode(field(name)))
            files[name] = path
        self.ctx = ssl.create_default_context(cafile=files["certificate-authority-data"])
        self.ctx.load_cert_chain(files["client-certificate-data"], files["client-key-data"])

    def connect(self, timeout=60):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)


def proc_cpu(pid):
    """(own CPU s, reaped children's CPU s) of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def api_requests(metrics_url):
    """{(verb, resource): count} from the operator's thumbnail_kube_api_requests_total."""
    with urllib.request.urlopen(metrics_url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(
        r'^thumbnail_kube_api_requests_total\{verb="([^"]*)",resource="([^"]*)"\} (\S+)$', text, re.M
    ):
        out[(m.group(1), m.group(2))] = float(m.group(3))
    if not out and "thumbnail_kube_api_requests_total" not in text:
        log("the operator serves no thumbnail_kube_api_requests_total: API requests not counted")
        return None
    return out


class Watcher(threading.Thread):
    """Follows the namespace's Thumbnails from `rv` on: the phase of each, and when each
    first reached Succeeded or Failed."""

    def __init__(self, kube, rv):
        super().__init__(daemon=True)
        self.kube, self.rv = kube, rv
        self.phase, self.done_at = {}, {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.watch_once()
        except Exception as e:  # reported by the caller
            self.error = e

    def watch_once(self):
        conn = self.kube.connect(timeout=None)
        q = urllib.parse.urlencode(
            {"watch": "1", "resourceVersion": self.rv, "allowWatchBookmarks": "true", "timeoutSeconds": "3600"}
        )
        conn.request("GET", f"{PATH}?{q}")
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"watch: HTTP {resp.status}: {resp.read()[:300]!r}")
        while not self.stop.is_set():
            line = resp.readline()
            if not line:
                break  # the server ended the watch: go on from the last version seen
            ev = json.loads(line)
            obj = ev["object"]
            if ev["type"] == "ERROR":
                raise RuntimeError(f"watch error: {obj}")
            self.rv = obj["metadata"]["resourceVersion"]
            if ev["type"] not in ("ADDED", "MODIFIED"):
                continue
            name = obj["metadata"]["name"]
            phase = (obj.get("status") or {}).get("phase")
            with self.lock:
                self.phase[name] = phase
                if phase in TERMINAL and name not in self.done_at:
                    self.done_at[name] = time.monotonic()
        conn.close()

    def counts(self):
        with self.lock:
            phases = list(self.phase.values())
            done = len(self.done_at)
        return done, {p: phases.count(p) for p in set(phases)}


def create_all(kube, count, photos, width, clients):
    """Creates `count` Thumbnails with `clients` connections; returns creation seconds."""
    next_i = iter(range(count))
    lock = threading.Lock()
    failures = []

    def worker():
        conn = kube.connect()
        while True:
            with lock:
                i = next(next_i, None)
            if i is None:
                conn.close()
                return
            body = {
                "apiVersion": "thumbnails.dev/v1alpha1",
                "kind": "Thumbnail",
                "metadata": {"name": f"t{i:05d}", "labels": CREATED_BY, "finalizers": [FINALIZER]},
                "spec": {"source": {"s3": {"key": photos[i % len(photos)]}}, "width": width},
            }
            for attempt in range(5):
                try:
                    conn.request("POST", PATH, json.dumps(body), {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = kube.connect()
                    continue
                if resp.status == 201:
                    break
                if resp.status in (429, 500, 503, 504):
                    time.sleep(0.1 * (attempt + 1))
                    continue
                failures.append(f"t{i:05d}: HTTP {resp.status}: {data[:300]!r}")
                break
            else:
                failures.append(f"t{i:05d}: gave up after 5 attempts")

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(max_workers=clients) as ex:
        for f in [ex.submit(worker) for _ in range(clients)]:
            f.result()
    took = time.monotonic() - t0
    if failures:
        sys.exit(f"{len(failures)} creates failed, e.g. {failures[:3]}")
    return took


def run(a):
    kube = Kube(a.kubeconfig)
    conn = kube.connect()
    conn.request("GET", f"{PATH}?limit=1")
    resp = conn.getresponse()
    body = json.loads(resp.read())
    if resp.status != 200:
        sys.exit(f"list: HTTP {resp.status}: {body}")
    if body["items"]:
        sys.exit(f"namespace {NS} already has Thumbnails: the bench needs an empty one")
    watcher = Watcher(kube, body["metadata"]["resourceVersion"])
    watcher.start()

    pids = {"apiserver": a.apiserver_pid, "etcd": a.etcd_pid}
    cpu0 = proc_cpu(a.operator_pid)
    side0 = {k: proc_cpu(p)[0] for k, p in pids.items() if p}
    req0 = api_requests(a.metrics)

    t0 = time.monotonic()
    log(f"batch size {a.batch_size}: creating {a.count} Thumbnails ({a.clients} clients)")
    created_s = create_all(kube, a.count, a.photos, a.width, a.clients)
    log(f"created {a.count} in {created_s:.1f} s ({a.count / created_s:.0f}/s)")
    deadline = t0 + a.timeout
    last_report = 0.0
    while True:
        done, phases = watcher.counts()
        now = time.monotonic()
        if done >= a.count or watcher.error or now > deadline:
            break
        if now - last_report >= 10:
            log(f"  {now - t0:6.0f} s: {done}/{a.count} done  {phases}")
            last_report = now
        time.sleep(0.2)
    if watcher.error:
        sys.exit(f"watch failed: {watcher.error}")
    done, phases = watcher.counts()
    timed_out = done < a.count
    end = max(watcher.done_at.values()) if watcher.done_at else time.monotonic()
    drain_s = end - t0
    first_s = (min(watcher.done_at.values()) - t0) if watcher.done_at else None
    # Requests the drain caused but sent just after the last status (its event): let them land.
    time.sleep(2)
    cpu1 = proc_cpu(a.operator_pid)
    side1 = {k: proc_cpu(p)[0] for k, p in pids.items() if p}
    req1 = api_requests(a.metrics)
    watcher.stop.set()

    by_kind = None
    requests = None
    if req0 is not None and req1 is not None:
        by_kind = {f"{v} {r}": req1[(v, r)] - req0.get((v, r), 0) for (v, r) in req1}
        by_kind = {k: n for k, n in sorted(by_kind.items(), key=lambda kv: -kv[1]) if n}
        requests = sum(by_kind.values())
    summary = {
        "kind": "run",
        "count": a.count,
        "batch_size": a.batch_size,
        "done": done,
        "timed_out": timed_out,
        "phases": phases,
        "create_s": created_s,
        "first_done_s": first_s,
        "drain_s": drain_s,
        "per_s": done / drain_s if drain_s > 0 else None,
        "operator_peak_rss_mib": peak_rss_mib(a.operator_pid),
        "operator_cpu_s": cpu1[0] - cpu0[0],
        "resizer_cpu_s": cpu1[1] - cpu0[1],
        "apiserver_cpu_s": {k: side1[k] - side0[k] for k in side1},
        "api_requests": requests,
        "api_requests_per_thumbnail": requests / a.count if requests is not None else None,
        "api_requests_by_kind": by_kind,
    }
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=1)
    log(
        f"batch size {a.batch_size}: {done}/{a.count} done in {drain_s:.1f} s "
        f"({summary['per_s']:.1f}/s){' TIMED OUT' if timed_out else ''}; {phases}"
    )
    if by_kind:
        log("  API requests: " + ", ".join(f"{k} {n:.0f}" for k, n in list(by_kind.items())[:8]))
    return 1 if timed_out else 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def list_pages(a):
    url = f"{a.base}/api/v1/thumbnails?limit={a.limit}"
    lat, items, pages = [], 0, 0
    t0 = time.monotonic()
    while url:
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as r:
            body = json.load(r)
        lat.append((time.perf_counter() - t) * 1000)
        items += len(body["items"])
        pages += 1
        nxt = [link["href"] for link in body.get("links", []) if link.get("rel") == "next"]
        token = body.get("continue")
        if token:
            url = nxt[0] if nxt else f"{a.base}/api/v1/thumbnails?limit={a.limit}&continue={urllib.parse.quote(token)}"
        else:
            url = None
    total = time.monotonic() - t0
    summary = {
        "kind": "list",
        "limit": a.limit,
        "items": items,
        "expected": a.expect,
        "pages": pages,
        "total_s": total,
        "p50_ms": pct(lat, 50),
        "p95_ms": pct(lat, 95),
        "max_ms": max(lat),
    }
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=1)
    log(f"list limit {a.limit}: {items} items in {pages} pages, {total:.1f} s; page p50 {summary['p50_ms']:.0f} ms, p95 {summary['p95_ms']:.0f} ms")
    return 0 if items == a.expect else 1


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def table(a):
    runs, lists = [], []
    for path in a.summaries:
        with open(path) as f:
            s = json.load(f)
        (runs if s["kind"] == "run" else lists).append(s)
    if runs:
        base = runs[0]
        rows = [
            ("Thumbnails done", lambda s: s["done"], None, 0),
            ("created in (s)", lambda s: s["create_s"], None, 1),
            ("first done after (s)", lambda s: s["first_done_s"], "low", 2),
            ("time to drain (s)", lambda s: s["drain_s"], "low", 1),
            ("thumbnails/s", lambda s: s["per_s"], "high", 1),
            ("operator peak RSS (MiB)", lambda s: s["operator_peak_rss_mib"], "low", 1),
            ("operator CPU (s)", lambda s: s["operator_cpu_s"], "low", 1),
            ("operator CPU per thumbnail (ms)", lambda s: 1000 * s["operator_cpu_s"] / s["count"], "low", 2),
            ("resizer runs' CPU (s)", lambda s: s["resizer_cpu_s"], "low", 1),
            ("API server + etcd CPU (s)", lambda s: sum(s["apiserver_cpu_s"].values()) if s["apiserver_cpu_s"] else None, "low", 1),
            ("API requests per thumbnail", lambda s: s["api_requests_per_thumbnail"], "low", 2),
        ]
        head = ["", *[f"batch size {s['batch_size']}" for s in runs]]
        head += [f"{s['batch_size']} vs {base['batch_size']}" for s in runs[1:]]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for name, get, _better, digits in rows:
            vals = [get(s) for s in runs]
            cells = [name, *[fmt(v, digits) for v in vals]]
            for v in vals[1:]:
                b = vals[0]
                cells.append(f"{v / b:.2f}x" if isinstance(v, (int, float)) and isinstance(b, (int, float)) and b else "n/a")
            print("| " + " | ".join(cells) + " |")
        for s in runs:
            if s.get("timed_out"):
                print(f"\nbatch size {s['batch_size']}: TIMED OUT with {s['done']}/{s['count']} done: its figures are of the part done")
        print()
        for s in runs:
            phases = ", ".join(f"{k} {v}" for k, v in sorted(s["phases"].items(), key=lambda kv: str(kv[0])))
            print(f"batch size {s['batch_size']}: phases at the end: {phases}")
            if s.get("api_requests_by_kind"):
                top = ", ".join(f"{k} {n / s['count']:.2f}" for k, n in s["api_requests_by_kind"].items())
                print(f"  API requests per thumbnail by verb and resource: {top}")
    if lists:
        print()
        print("| listing through the shim | items | pages | total (s) | page p50 (ms) | page p95 (ms) | page max (ms) |")
        print("|---|---|---|---|---|---|---|")
        for s in lists:
            print(f"| limit {s['limit']} | {s['items']} | {s['pages']} | {s['total_s']:.1f} | {s['p50_ms']:.0f} | {s['p95_ms']:.0f} | {s['max_ms']:.0f} |")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("kubeconfig")
    r.add_argument("--count", type=int, required=True)
    r.add_argument("--photos", nargs="+", required=True, help="source keys in the operator's bucket")
    r.add_argument("--width", type=int, default=256)
    r.add_argument("--clients", type=int, default=8)
    r.add_argument("--timeout", type=float, default=3600)
    r.add_argument("--operator-pid", type=int, required=True)
    r.add_argument("--apiserver-pid", type=int)
    r.add_argument("--etcd-pid", type=int)
    r.add_argument("--metrics", required=True, help="the operator's /metrics URL")
    r.add_argument("--batch-size", type=int, required=True)
    r.add_argument("--out", required=True)
    lst = sub.add_parser("list")
    lst.add_argument("base")
    lst.add_argument("--limit", type=int, required=True)
    lst.add_argument("--expect", type=int, required=True)
    lst.add_argument("--out", required=True)
    t = sub.add_parser("table")
    t.add_argument("summaries", nargs="+")
    a = ap.parse_args()
    return {"run": run, "list": list_pages, "table": table}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
