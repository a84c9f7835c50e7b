#!/usr/bin/env python3
"""The resizer with and without glibc's huge-page malloc tunable, alternated run by run
(issue 13; the operator sets it in every resizer Job, operator/src/invocation.rs).
Not a test: prints a Markdown table, median CPU ms (and the kernel's share) per file.

Usage: malloc_ab.py --resizer BIN --corpus DIR [--files a.jpg,b.png] [--sizes 256,1024] [--runs 5]
"""
import argparse, os, statistics, subprocess

TUNABLE = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}


def run(a, f, size, extra):
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    env.update(extra)
    cmd = [a.resizer, f"--input-file={os.path.join(a.corpus, f)}", "--output-file=/dev/null",
           f"--width={size}", f"--height={size}", "--fit=inside", "--format=jpeg", "--quality=80",
           "--result-path=/dev/null"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"resizer failed on {f}")
    return (ru.ru_utime + ru.ru_stime) * 1000, ru.ru_stime * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resizer", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--files", default="")
    ap.add_argument("--sizes", default="256,1024")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    files = a.files.split(",") if a.files else sorted(
        f for f in os.listdir(a.corpus) if not f.endswith(".tsv"))
    print("| size | file | without ms (sys) | with ms (sys) | with/without |")
    print("|---:|---|---:|---:|---:|")
    for size in a.sizes.split(","):
        for f in files:
            run(a, f, size, {})  # page cache
            off, on = [], []
            for _ in range(a.runs):
                off.append(run(a, f, size, {}))
                on.append(run(a, f, size, TUNABLE))
            med = lambda xs, i: statistics.median(x[i] for x in xs)
            print(f"| {size} | {f} | {med(off, 0):.0f} ({med(off, 1):.0f}) | {med(on, 0):.0f} ({med(on, 1):.0f}) | "
                  f"{med(on, 0) / med(off, 0):.2f} |", flush=True)


if __name__ == "__main__":
    main()
