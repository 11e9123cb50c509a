#!/usr/bin/env python3
"""Turns bench/run.sh's results into build/bench/report.md (the tables and the goals of the
performance issue, checked) and a chart of read latency against the number of referrals
(gnuplot, SVG). Usage: bench/report.py OUT_DIR CHART.svg"""
import csv
import json
import os
import subprocess
import sys
from collections import defaultdict

out_dir, chart = sys.argv[1], sys.argv[2]

rows = list(csv.DictReader(open(os.path.join(out_dir, "results.tsv")), delimiter="\t"))
meta = defaultdict(dict)
for m in csv.DictReader(open(os.path.join(out_dir, "meta.tsv")), delimiter="\t"):
    meta[(m["backend"], m["size"])][m["key"]] = m["value"]

READS = ["stats", "leaderboard all", "leaderboard month", "leaderboard week", "analytics all",
         "analytics month", "trends 30 days"]
WRITES = ["generate-code", "track", "subscription"]
# GET /r/{code} (no token): every request a new visitor (counted), or one visitor (repeats).
LINKS = {"click new": "GET /r/{code}, new visitor", "click repeat": "GET /r/{code}, repeat visitor"}
# The figures for referrald on SQLite at 1,000,000 referrals, one client (p50, ms).
BEFORE = {"leaderboard all": 4592, "leaderboard month": 3488, "leaderboard week": 2609,
          "analytics all": 3112, "analytics month": 975, "trends 30 days": 274, "stats": 0.47}

by = {(r["backend"], int(r["size"]), r["scenario"], r["mode"]): r for r in rows}
backends = sorted({r["backend"] for r in rows}, key=lambda b: b != "sqlite")
sizes = sorted({int(r["size"]) for r in rows})


def get(backend, size, scenario, mode, field):
    r = by.get((backend, size, scenario, mode))
    return float(r[field]) if r else None


def fmt(v, digits=2):
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


lines = []
w = lines.append
machine = meta[("machine", "-")]
w(f"Machine: {machine.get('cpu', '?')}, {machine.get('cpus', '?')} cores, "
  f"{int(machine.get('memory_kb', 0)) // 1024 // 1024} GiB; wrk and the server share the cores.")
w("")
for backend in backends:
    w(f"### {backend}")
    w("")
    header = "| route | " + " | ".join(f"{s:,} p50 ms (1 client)" for s in sizes) + " | " + \
        " | ".join(f"{s:,} req/s (32 clients)" for s in sizes) + " |"
    w(header)
    w("|" + "---|" * (1 + 2 * len(sizes)))
    for scenario in ["livez"] + READS:
        cells = [fmt(get(backend, s, scenario, "latency", "p50_ms"), 3) for s in sizes]
        cells += [fmt(get(backend, s, scenario, "throughput", "rps"), 0) for s in sizes]
        w(f"| {scenario} | " + " | ".join(cells) + " |")
    for scenario in WRITES:
        cells = ["" for _ in sizes]
        cells += [fmt(get(backend, s, scenario, "throughput", "rps"), 0) +
                  f" (p99 {fmt(get(backend, s, scenario, 'throughput', 'p99_ms'), 1)} ms)"
                  for s in sizes]
        w(f"| POST {scenario} | " + " | ".join(cells) + " |")
    for scenario, title in LINKS.items():
        cells = ["" for _ in sizes]
        cells += [fmt(get(backend, s, scenario, "throughput", "rps"), 0) +
                  f" (p99 {fmt(get(backend, s, scenario, 'throughput', 'p99_ms'), 1)} ms)"
                  for s in sizes]
        w(f"| {title} | " + " | ".join(cells) + " |")
    w("")
    seeds = []
    for s in sizes:
        info = meta[(backend, str(s))]
        seed = json.loads(info["seed"]) if "seed" in info else {}
        seeds.append(f"{s:,}: seeded in {seed.get('seconds', '?')} s "
                     f"({seed.get('conversions', '?')} conversions, {seed.get('badges', '?')} badges); "
                     f"server resident {int(info.get('rss_kb', 0)) // 1024} MB, "
                     f"peak {int(info.get('peak_rss_kb', 0)) // 1024} MB")
    w("- " + "\n- ".join(seeds))
    rate = meta[(backend, "-")].get("commit_rate")
    if rate:
        w(f"- raw single-row commit rate: {json.loads(rate)['commitsPerSecond']:,.0f}/s "
          f"({json.loads(rate)['threads']} connection(s))")
    for shards in ("1", "16"):
        c = meta[(backend, "-")].get(f"contention_{shards}")
        if c:
            w(f"- conversions of distinct referrers, 8 threads, program aggregates in {shards} "
              f"shard(s): {json.loads(c)['conversionsPerSecond']:,.0f}/s")
    w("")

# The goals.
w("### Goals")
w("")
small, large = sizes[0], sizes[-1]
w(f"| goal | {' | '.join(backends)} |")
w("|---|" + "---|" * len(backends))
def goal_row(title, fn):
    w(f"| {title} | " + " | ".join(fn(b) for b in backends) + " |")

def worst_ratio(b):
    ratios = []
    for s in READS:
        a, z = get(b, small, s, "latency", "p50_ms"), get(b, large, s, "latency", "p50_ms")
        if a and z:
            ratios.append((z / a, s))
    if not ratios:
        return "—"
    r, s = max(ratios)
    return f"worst {r:.2f}× ({s}) {'✓' if r <= 2 else '✗'}"
goal_row(f"read p50 at {large:,} within 2× of {small:,}", worst_ratio)

def speedup(b):
    factors = []
    for s, before in BEFORE.items():
        if s == "stats":
            continue
        z = get(b, large, s, "latency", "p50_ms")
        if z:
            factors.append((before / z, s))
    if not factors or large < 1000000:
        return "—"
    f, s = min(factors)
    return f"least {f:,.0f}× ({s}) {'✓' if f >= 100 else '✗'}"
goal_row(f"≥100× faster than the issue's SQLite figures at 1,000,000", speedup)

def read_share(b):
    shares = []
    for size in sizes:
        ceiling = get(b, size, "livez", "throughput", "rps")
        for s in READS:
            v = get(b, size, s, "throughput", "rps")
            if ceiling and v:
                shares.append((v / ceiling, s, size))
    if not shares:
        return "—"
    r, s, size = min(shares)
    return f"lowest {r * 100:.0f}% ({s}, {size:,}) {'✓' if r >= 0.5 else '✗'}"
goal_row("read routes ≥ 50% of /livez req/s", read_share)

def write_share(b):
    rate = meta[(b, "-")].get("commit_rate")
    if not rate:
        return "—"
    raw = json.loads(rate)["commitsPerSecond"]
    shares = []
    for size in sizes:
        for s in WRITES:
            v = get(b, size, s, "throughput", "rps")
            if v:
                shares.append((v / raw, s, size))
    if not shares:
        return "—"
    r, s, size = min(shares)
    return f"lowest {r * 100:.0f}% of {raw:,.0f}/s ({s}, {size:,}) {'✓' if r >= 0.5 else '✗'}"
goal_row("write routes within 2× of the raw commit rate", write_share)

def memory(b):
    info = meta[(b, str(large))]
    if "peak_rss_kb" not in info:
        return "—"
    mb = int(info["peak_rss_kb"]) / 1024
    ok = "✓" if mb < 64 else "✗"
    return f"{mb:.0f} MB peak at {large:,}" + (f" {ok}" if b == "sqlite" else "")
goal_row("resident memory < 64 MB at 1,000,000 (SQLite)", memory)
w("")

open(os.path.join(out_dir, "report.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
if chart == "-":  # a partial run (BENCH_ONLY): the chart of the full run stays as it is
    sys.exit(0)

# The chart: p50 of each read route (one client) against the number of referrals.
data = os.path.join(out_dir, "latency.dat")
with open(data, "w") as f:
    for b in backends:
        for s in READS:
            f.write(f"# {b} {s}\n")
            for size in sizes:
                v = get(b, size, s, "latency", "p50_ms")
                if v:
                    f.write(f"{size} {v}\n")
            f.write("\n\n")
# One panel per backend, the same y scale in both.
top = max((get(b, size, s, "latency", "p50_ms") or 0) for b in backends for s in READS
          for size in sizes)
panels = []
index = 0
for b in backends:
    plots = []
    for s in READS:
        plots.append(f"'{data}' index {index} with linespoints lw 2 pt 7 ps 0.6 title '{s}'")
        index += 1
    panels.append(f"set title '{b}'\nplot " + ", ".join(plots))
terminal = os.environ.get("BENCH_CHART_TERMINAL",
                          "svg size 1100,480 dynamic font 'sans,12' background '#ffffff'")
script = f"""
set terminal {terminal}
set output '{chart}'
set multiplot layout 1,{len(backends)} title 'referrald: p50 latency of each read route (one client) against the number of referrals'
set logscale x 10
set xrange [{sizes[0] * 0.7}:{sizes[-1] * 1.4}]
set xlabel 'referrals in the database'
set ylabel 'p50 latency (ms)'
set yrange [0:{top * 1.15:.3f}]
set xtics ({', '.join(f'"{s:,}" {s}' for s in sizes)})
set key top right font ',10'
set grid
{chr(10).join(panels)}
unset multiplot
"""
subprocess.run(["gnuplot"], input=script, text=True, check=True)
