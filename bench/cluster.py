#!/usr/bin/env python3
"""bench/cluster.py — the measuring half of bench/cluster.sh (a benchmark, not a test).

  cluster.py put ENDPOINT BUCKET KEY FILE      PUT FILE into the S3 store (SigV4; keys in
                                               AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
  cluster.py run --namespace NS --manifest M --count N --cap C --tsv T --summary S
                                               watch Thumbnails, Jobs and Pods of NS, apply M
                                               (N Thumbnails) at once, wait until all finish,
                                               write one TSV row per Thumbnail and a summary
  cluster.py table SUMMARY...                  the summaries as one table

Why the watcher times events itself: Kubernetes' timestamps (creationTimestamp,
startedAt, finishedAt, conditions' lastTransitionTime) have a resolution of one second,
and the steps measured here take tens to hundreds of milliseconds. Each stream is a
`kubectl get -w -o json --output-watch-events` whose objects are stamped with this
machine's clock when they arrive; every stream pays the same watch delay, so the splits
between them are fair, the absolute figures include ~tens of ms of kubectl and watch.
"""
import argparse
import datetime
import hashlib
import hmac
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

# -- put ---------------------------------------------------------------------------------


def sigv4_put(endpoint, bucket, key, body, access_key, secret_key, region="us-east-1"):
    """A path-style S3 PutObject signed with SigV4: the standard library only, so the
    benchmark needs no boto3 (and no pip) on the host."""
    url = urllib.parse.urlsplit(endpoint)
    path = "/" + urllib.parse.quote(f"{bucket}/{key}", safe="/-_.~")
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {
        "host": url.netloc,
        "x-amz-content-sha256": payload_hash,
        "x-amz-date": amz_date,
    }
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        ["PUT", path, ""]
        + [f"{k}:{headers[k]}" for k in sorted(headers)]
        + ["", signed, payload_hash]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    k = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    request = urllib.request.Request(
        f"{url.scheme}://{url.netloc}{path}", data=body, method="PUT", headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def cmd_put(args):
    with open(args.file, "rb") as f:
        body = f.read()
    last = None
    # The store's Service answers a few seconds after its pod is Ready (kube-proxy's rules).
    for _ in range(30):
        try:
            status = sigv4_put(
                args.endpoint,
                args.bucket,
                args.key,
                body,
                os.environ["AWS_ACCESS_KEY_ID"],
                os.environ["AWS_SECRET_ACCESS_KEY"],
            )
            print(f"  s3://{args.bucket}/{args.key} <- {args.file} ({len(body)} bytes, HTTP {status})")
            return
        except Exception as e:  # noqa: BLE001 - retried, the last one is reported
            last = e
            time.sleep(1)
    sys.exit(f"cannot PUT {args.file} to {args.endpoint}/{args.bucket}/{args.key}: {last}")


# -- run ---------------------------------------------------------------------------------


class Watch(threading.Thread):
    """One `kubectl get KIND -w -o json --output-watch-events` stream; `on_event(type,
    object, t)` is called with the arrival time of each event. kubectl prints indented
    JSON documents back to back, so they are split with raw_decode, not by line."""

    def __init__(self, kubectl, namespace, kind, on_event):
        super().__init__(daemon=True)
        self.on_event = on_event
        self.proc = subprocess.Popen(
            [kubectl, "get", kind, "-n", namespace, "-w", "-o", "json", "--output-watch-events"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.kind = kind

    def run(self):
        decoder = json.JSONDecoder()
        buf = ""
        for line in self.proc.stdout:
            t = time.time()
            buf += line
            while True:
                stripped = buf.lstrip()
                if not stripped:
                    buf = ""
                    break
                try:
                    event, end = decoder.raw_decode(stripped)
                except json.JSONDecodeError:
                    buf = stripped
                    break
                buf = stripped[end:]
                self.on_event(event.get("type"), event.get("object") or {}, t)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Recorder:
    """First arrival times of the moments measured, keyed by object name."""

    def __init__(self):
        self.lock = threading.Lock()
        self.thumb_created = {}
        self.thumb_done = {}  # name -> (time, phase)
        self.job_created = {}  # job -> time
        self.job_owners = {}  # job -> its Thumbnail owners (several for a batch)
        self.job_complete = {}  # job -> time its Complete condition was observed
        self.pod_job = {}  # pod -> job
        self.pod_scheduled = {}
        self.pod_running = {}
        self.pod_terminated = {}  # pod -> (time, exit code)
        self.pod_timings = {}  # pod -> the resizer's own timings (termination message)
        self.unschedulable = set()  # pods the scheduler could not place at first
        self.pods_seen = threading.Event()

    def thumbnail(self, kind, obj, t):
        name = obj.get("metadata", {}).get("name")
        if not name or kind == "DELETED":
            return
        phase = (obj.get("status") or {}).get("phase")
        with self.lock:
            self.thumb_created.setdefault(name, t)
            if phase in ("Succeeded", "Failed") and name not in self.thumb_done:
                self.thumb_done[name] = (t, phase)

    def job(self, kind, obj, t):
        meta = obj.get("metadata", {})
        name = meta.get("name")
        owners = [o["name"] for o in meta.get("ownerReferences", []) if o.get("kind") == "Thumbnail"]
        if not name or not owners or kind == "DELETED":
            return
        with self.lock:
            self.job_created.setdefault(name, t)
            self.job_owners[name] = owners
            for c in (obj.get("status") or {}).get("conditions") or []:
                if c.get("type") == "Complete" and c.get("status") == "True":
                    self.job_complete.setdefault(name, t)

    def pod(self, kind, obj, t):
        self.pods_seen.set()
        meta = obj.get("metadata", {})
        name = meta.get("name")
        job = (meta.get("labels") or {}).get("batch.kubernetes.io/job-name")
        if not name or not job or kind == "DELETED":
            return
        status = obj.get("status") or {}
        with self.lock:
            self.pod_job[name] = job
            for c in status.get("conditions") or []:
                if c.get("type") == "PodScheduled":
                    if c.get("status") == "True":
                        self.pod_scheduled.setdefault(name, t)
                    elif c.get("reason") == "Unschedulable":
                        self.unschedulable.add(name)
            for cs in status.get("containerStatuses") or []:
                state = cs.get("state") or {}
                if "running" in state:
                    self.pod_running.setdefault(name, t)
                if "terminated" in state and name not in self.pod_terminated:
                    self.pod_terminated[name] = (t, state["terminated"].get("exitCode"))
                    self.pod_timings[name] = resizer_timings(state["terminated"].get("message"))


def resizer_timings(message):
    """The resizer's own phase timings (ms) from its termination message (api's
    RunResult: {"status": "success", ..., "timings": {"downloadMs": ...}}), or None."""
    try:
        timings = json.loads(message or "").get("timings") or {}
    except (ValueError, AttributeError):
        return None
    keys = ("downloadMs", "decodeMs", "resizeMs", "encodeMs", "uploadMs")
    return {k: timings[k] for k in keys} if all(k in timings for k in keys) else None


def percentile(values, p):
    """Nearest-rank percentile (p99 of 40 values is the largest but none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


SPLITS = [
    ("controller", "Thumbnail created -> Job created (includes waiting for a slot under the cap)"),
    ("pod_start", "Job created -> container exit observed, minus the resizer's own time (of the whole batch): Job "
                  "controller, scheduling (waits for CPU requests), sandbox, container start and exit, kubelet status"),
    ("scheduling", "of pod_start: Job created -> PodScheduled observed"),
    ("resizer", "the resizer's own time from its termination message (download+decode+resize+encode+upload; "
                "of the whole batch for a batched run)"),
    ("status", "container exit observed -> Thumbnail Succeeded observed (Job controller, operator, status write)"),
    ("job_complete", "of status: container exit observed -> Job Complete observed (the Job controller)"),
    ("total", "Thumbnail created -> Succeeded observed"),
]


def cmd_run(args):
    # Stopped by bench/cluster.sh's trap: end through `finally`, which stops the watches.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rec = Recorder()
    loads = []
    watches = [
        Watch(args.kubectl, args.namespace, "thumbnails.thumbnails.dev", rec.thumbnail),
        Watch(args.kubectl, args.namespace, "jobs", rec.job),
        Watch(args.kubectl, args.namespace, "pods", rec.pod),
    ]
    try:
        for w in watches:
            w.start()
        # The namespace's own pods (operator, shim, store) arrive first on the pod watch:
        # then the watches are established. The other two streams start at the same time
        # and are equally quick; a short pause covers their list + watch.
        if not rec.pods_seen.wait(30):
            sys.exit("the pod watch delivered nothing in 30 s: " + watches[2].proc.stderr.read())
        time.sleep(2)
        load_start = open("/proc/loadavg").read().split()[0]
        t_apply = time.time()
        subprocess.run([args.kubectl, "apply", "-n", args.namespace, "-f", args.manifest],
                       check=True, stdout=subprocess.DEVNULL)
        deadline = t_apply + args.timeout
        while time.time() < deadline:
            loads.append(float(open("/proc/loadavg").read().split()[0]))
            with rec.lock:
                done = len(rec.thumb_done)
            if done >= args.count:
                break
            for w in watches:
                if w.proc.poll() is not None:
                    sys.exit(f"kubectl watch of {w.kind} exited: {w.proc.stderr.read()}")
            time.sleep(0.5)
    finally:
        for w in watches:
            w.stop()

    with rec.lock:
        thumbs = sorted(rec.thumb_created)
        job_of = {owner: job for job, owners in rec.job_owners.items() for owner in owners}
        pods_of = {}
        for pod, job in rec.pod_job.items():
            pods_of.setdefault(job, []).append(pod)
        rows = []
        for name in thumbs:
            job = job_of.get(name)
            pods = sorted(pods_of.get(job, []), key=lambda p: rec.pod_terminated.get(p, (float("inf"),))[0])
            # With retries the run's result is the Pod that exited 0 (else the last one).
            ok = [p for p in pods if rec.pod_terminated.get(p, (0, None))[1] == 0]
            pod = (ok or pods or [None])[-1]
            done_t, phase = rec.thumb_done.get(name, (None, "Unfinished"))
            term = rec.pod_terminated.get(pod, (None, None))[0]
            running = rec.pod_running.get(pod)
            # A container done within one kubelet status update is never reported as
            # running: then Running is taken as its termination (the resizer split is 0
            # and the `running_seen` column says so).
            running_seen = running is not None
            timings = rec.pod_timings.get(pod)
            rows.append({
                "thumbnail": name,
                "phase": phase,
                "job": job or "",
                "pods": len(pods),
                "unschedulable": int(any(p in rec.unschedulable for p in pods)),
                "running_seen": int(running_seen),
                "created": rec.thumb_created[name],
                "job_t": rec.job_created.get(job),
                "scheduled": rec.pod_scheduled.get(pod),
                "running": running,
                "terminated": term,
                "job_done": rec.job_complete.get(job),
                "succeeded": done_t if phase == "Succeeded" else None,
                "resizer_ms": "" if timings is None else "+".join(str(v) for v in timings.values()),
                "resizer": None if timings is None else sum(timings.values()) / 1000,
            })

    def between(a, b):
        return (b - a) if a is not None and b is not None else None

    for r in rows:
        r["controller"] = between(r["created"], r["job_t"])
        r["scheduling"] = between(r["job_t"], r["scheduled"])
        up_to_exit = between(r["job_t"], r["terminated"])
        r["pod_start"] = None if up_to_exit is None or r["resizer"] is None else up_to_exit - r["resizer"]
        r["status"] = between(r["terminated"], r["succeeded"])
        r["job_complete"] = between(r["terminated"], r["job_done"])
        r["total"] = between(r["created"], r["succeeded"])

    os.makedirs(os.path.dirname(os.path.abspath(args.tsv)), exist_ok=True)
    t0 = min((r["created"] for r in rows), default=t_apply)
    columns = ["thumbnail", "phase", "job", "pods", "unschedulable", "running_seen", "resizer_ms",
               "created", "job_t", "scheduled", "running", "terminated", "job_done", "succeeded"]
    with open(args.tsv, "w") as f:
        f.write("# cap=%d batch=%d; times: seconds since the first Thumbnail was observed (arrival of watch events); "
                "resizer_ms: download+decode+resize+encode+upload; splits in seconds\n" % (args.cap, args.batch))
        f.write("\t".join(columns + [s[0] for s in SPLITS]) + "\n")
        for r in rows:
            cells = [str(r[c]) for c in columns[:7]]
            cells += ["" if r[c] is None else f"{r[c] - t0:.3f}" for c in columns[7:]]
            cells += ["" if r[s[0]] is None else f"{r[s[0]]:.3f}" for s in SPLITS]
            f.write("\t".join(cells) + "\n")

    succeeded = [r for r in rows if r["phase"] == "Succeeded"]
    last = max((r["succeeded"] for r in succeeded), default=None)
    summary = {
        "cap": args.cap,
        "batch": args.batch,
        "count": args.count,
        "observed": len(rows),
        "succeeded": len(succeeded),
        "failed": sum(r["phase"] == "Failed" for r in rows),
        "unfinished": args.count - len(rec.thumb_done),
        "retried": sum(r["pods"] > 1 for r in rows),
        "unschedulable": sum(r["unschedulable"] for r in rows),
        "running_not_seen": sum(1 - r["running_seen"] for r in succeeded),
        "throughput": len(succeeded) / (last - t0) if last and last > t0 else float("nan"),
        "wall": (last - t0) if last else None,
        "load_start": float(load_start),
        "load_mean": statistics.fmean(loads) if loads else float("nan"),
        "load_max": max(loads) if loads else float("nan"),
        "splits": {},
        "tsv": args.tsv,
    }
    # Per Job (a batch counts once): its Pod's overhead and the resizer's work, spread over
    # the Thumbnails that succeeded. This is the figure batching changes: how much of each
    # thumbnail's cost is a Pod starting and stopping.
    jobs = {}
    for r in succeeded:
        if r["job"] and r["pod_start"] is not None:
            jobs[r["job"]] = (r["pod_start"], r["resizer"])
    summary["jobs"] = len({r["job"] for r in rows if r["job"]})
    summary["per_thumbnail"] = {
        "pod_start": sum(j[0] for j in jobs.values()) / len(succeeded) if succeeded else float("nan"),
        "resizer": sum(j[1] for j in jobs.values()) / len(succeeded) if succeeded else float("nan"),
    }
    for key, *_ in SPLITS:
        values = [r[key] for r in succeeded if r[key] is not None]
        summary["splits"][key] = {
            "p50": percentile(values, 50),
            "p99": percentile(values, 99),
            "mean": statistics.fmean(values) if values else float("nan"),
        }
    with open(args.summary, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"  cap {args.cap}, batch {args.batch}: {summary['succeeded']}/{args.count} Succeeded in {summary['wall'] or float('nan'):.1f} s, "
          f"{summary['throughput']:.2f} thumbnails/s; rows in {args.tsv}")
    if summary["succeeded"] != args.count:
        print(f"  warning: {summary['failed']} Failed, {summary['unfinished']} unfinished after {args.timeout} s", file=sys.stderr)


# -- table -------------------------------------------------------------------------------


def cmd_table(args):
    summaries = [json.load(open(p)) for p in args.summaries]
    w = 36

    def row(label, cell):
        print(f"| {label:<15} |" + "".join(f" {cell(s):<{w}} |" for s in summaries))

    row("seconds", lambda s: f"cap {s['cap']}, batch {s.get('batch', 1)}: p50 / p99")
    print("|" + "-" * 17 + "|" + ("-" * (w + 2) + "|") * len(summaries))
    for key, _ in SPLITS:
        row(key, lambda s: f"{s['splits'][key]['p50']:.2f} / {s['splits'][key]['p99']:.2f}")
    row("thumbnails/s", lambda s: f"{s['throughput']:.2f} ({s['succeeded']}/{s['count']} in {s['wall'] or 0:.1f} s)")
    base = summaries[0]["throughput"]
    row("vs the first", lambda s: f"{s['throughput'] / base:.2f}x the thumbnails/s")
    row("Jobs", lambda s: f"{s.get('jobs', 0)} ({s['succeeded'] / max(1, s.get('jobs', 0)):.1f} thumbnails each)")
    row("per thumbnail", lambda s: "Pod {:.3f} s, resizer {:.3f} s ({:.0f} % Pod)".format(
        s["per_thumbnail"]["pod_start"], s["per_thumbnail"]["resizer"],
        100 * s["per_thumbnail"]["pod_start"] / (s["per_thumbnail"]["pod_start"] + s["per_thumbnail"]["resizer"])))
    row("resizer share", lambda s: f"{100 * s['splits']['resizer']['mean'] / s['splits']['total']['mean']:.1f} % of the mean total")
    row("load avg (1 m)", lambda s: f"{s['load_start']:.2f} before, {s['load_mean']:.2f} mean, {s['load_max']:.2f} max")
    row("pods", lambda s: f"{s['unschedulable']} unschedulable first, {s['retried']} retried")
    row("Running unseen", lambda s: f"{s['running_not_seen']} of {s['succeeded']}")
    print()
    for key, what in SPLITS:
        print(f"  {key:<11} {what}")
    print("  per thumbnail: the Pod overhead (pod_start) and the resizer's time of each Job, summed over")
    print("                 the Jobs and divided by the Thumbnails that succeeded: a batch pays one Pod")
    print("  Running unseen: Pods the kubelet never reported as running (the container had")
    print("                  exited by its next status update): why the resizer's own timings are used")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("put")
    p.add_argument("endpoint")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("file")
    p.set_defaults(func=cmd_put)
    p = sub.add_parser("run")
    p.add_argument("--kubectl", default="kubectl")
    p.add_argument("--namespace", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--cap", type=int, required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--tsv", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--timeout", type=float, default=900)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("table")
    p.add_argument("summaries", nargs="+")
    p.set_defaults(func=cmd_table)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
