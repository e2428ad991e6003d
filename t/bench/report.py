#!/usr/bin/env python3
"""t/bench/report.py RAW.tsv - the Markdown table of t/bench/run.

Medians over the rounds with the spread (min-max), wrk's errors summed over
the rounds, and lbd's ratios to the peers (ratios of the medians) at the
same mode, workers and point.  pen (TCP only) is one process: its points
at more than 1 worker, and its ratio cells for HTTP, are n/a.  BENCH_MACHINE
and BENCH_METHOD (environment) head the table."""
import csv
import os
import statistics
import sys
from collections import defaultdict

NAMES = {
    "direct": "direct (one origin)",
    "lbd-http": "lbd http", "haproxy-http": "HAProxy http", "nginx-http": "nginx http",
    "lbd-tcp": "lbd tcp", "haproxy-tcp": "HAProxy tcp", "nginx-tcp": "nginx stream",
    "pen-tcp": "pen tcp",
}
# Peers that run as one process only (t/bench/run starts them at 1 worker).
SINGLE = {"pen-tcp"}
ORDER = list(NAMES)
BODIES = {"small": "100-byte body", "big": "64 KiB body"}
ERRS = [("non2xx", "non-2xx"), ("connect_err", "connect"), ("read_err", "read"),
        ("write_err", "write"), ("timeout_err", "timeout")]

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
groups = defaultdict(list)
for r in rows:
    groups[(r["body"], int(r["conns"]), r["target"], r["workers"])].append(r)


def stat(rs, key):
    """(median, min, max) of column key over rounds rs, or None."""
    v = [float(r[key]) for r in rs if r[key] not in ("-", "")]
    return (statistics.median(v), min(v), max(v)) if v else None


def fmt(s, scale=1.0, digits=0):
    if s is None:
        return "-"
    m, lo, hi = (x * scale for x in s)
    f = f"{{:,.{digits}f}}"
    if lo == hi:
        return f.format(m)
    return f"{f.format(m)} ({f.format(lo)}-{f.format(hi)})"


def errors(rs):
    parts = []
    for key, name in ERRS:
        n = sum(int(r[key]) for r in rs)
        if n:
            parts.append(f"{name} {n:,}")
    if any(r["procs_changed"] != "no" for r in rs):
        parts.append("processes changed")
    return ", ".join(parts) or "0"


def med(key, body, conns, target, workers):
    rs = groups.get((body, conns, target, workers))
    s = stat(rs, key) if rs else None
    return s[0] if s else None


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


# pen's columns only when it ran (its ratios are n/a for HTTP, no pen there).
has_pen = any(k[2] == "pen-tcp" for k in groups)
peer_names = ["HAProxy", "nginx"] + (["pen"] if has_pen else [])
print(f"### lbd, {', '.join(peer_names[:-1])} and {peer_names[-1]} side by side "
      "(`make bench`, t/bench/run)\n")
print(f"Machine: {os.environ.get('BENCH_MACHINE', '?')}  ")
print(f"Method: {os.environ.get('BENCH_METHOD', '?')}; three nginx origins on "
      "loopback, round robin; keepalive to the origins; access logs off everywhere; "
      "CPU is the balancer's (every process) per request, utime+stime.  "
      + ("pen (TCP only) is one process: at 2 workers it is n/a.  " if has_pen else "")
      + "Settings: t/bench/*.conf, *.cfg, *.args.\n")

points = sorted({(b, c) for b, c, _, _ in groups}, key=lambda p: (p[0] != "small", p[1]))
for body, conns in points:
    print(f"#### {BODIES.get(body, body)}, {conns:,} connections\n")
    print("| balancer | workers | req/s | p50 ms | p99 ms | CPU us/req | errors |")
    print("|---|---|---|---|---|---|---|")
    keys = {k for k in groups if k[:2] == (body, conns)}
    # A single-process peer that ran at this point: n/a rows at the workers
    # lbd ran at and it did not.
    for t in SINGLE:
        if any(k[2] == t for k in keys):
            mode = t.rsplit("-", 1)[1]
            keys |= {(body, conns, t, k[3]) for k in keys if k[2] == f"lbd-{mode}"}
    keys = sorted(keys, key=lambda k: (ORDER.index(k[2]) if k[2] in ORDER else 99, k[3]))
    for k in keys:
        rs = groups.get(k)
        if rs is None:
            print(f"| {NAMES.get(k[2], k[2])} | {k[3]} | n/a (one process) | | | | |")
            continue
        print(f"| {NAMES.get(k[2], k[2])} | {k[3]} | {fmt(stat(rs, 'req_s'))} "
              f"| {fmt(stat(rs, 'p50_us'), 1e-3, 2)} | {fmt(stat(rs, 'p99_us'), 1e-3, 2)} "
              f"| {fmt(stat(rs, 'cpu_us_req'), 1, 1)} | {errors(rs)} |")
    print()

print("#### lbd's ratios (of the medians; req/s above 1 is better, p99 and CPU below 1)\n")
pen_col = " vs pen |" if has_pen else ""
print(f"| point | mode | workers | req/s vs HAProxy | vs nginx |{pen_col} vs direct "
      f"| p99 vs HAProxy | vs nginx |{pen_col} vs direct | CPU/req vs HAProxy | vs nginx |{pen_col}")
print("|---" * (11 + 3 * has_pen) + "|")
for body, conns in points:
    for mode in ("http", "tcp"):
        for w in sorted({k[3] for k in groups if k[2] == f"lbd-{mode}"}):
            if (body, conns, f"lbd-{mode}", w) not in groups:
                continue
            cells = []
            for key in ("req_s", "p99_us", "cpu_us_req"):
                lbd = med(key, body, conns, f"lbd-{mode}", w)
                peers = [f"haproxy-{mode}", f"nginx-{mode}"] + (["pen-tcp"] if has_pen else []) \
                    + (["direct"] if key != "cpu_us_req" else [])
                for p in peers:
                    if p == "pen-tcp" and (mode != "tcp" or w != "1"):
                        cells.append("n/a")   # no pen http; pen is one process
                        continue
                    cells.append(ratio(lbd, med(key, body, conns, p, "-" if p == "direct" else w)))
            print(f"| {body} c{conns} | {mode} | {w} | " + " | ".join(cells) + " |")
print()
