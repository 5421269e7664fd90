#!/usr/bin/env python3
"""weft's benchmark report: runs the suites in `benches/` and writes `docs/bench/`.

Usage (from the repository root):

    python3 benches/report/run.py            # every suite, 2 rounds of the network ones
    python3 benches/report/run.py --quick    # short points, 1 round: a check, not a report
    python3 benches/report/run.py --only tcp_echo,http_hello
    python3 benches/report/run.py --plots    # no runs: redraw from docs/bench/raw/

It writes `docs/bench/REPORT.md` (the tables, the machine, the date, the crate versions) and
one SVG per figure beside it (weft against each peer: bars are medians, whiskers span the
minimum and maximum of criterion's samples or of the rounds). Raw results stay in
`docs/bench/raw/` (`results.jsonl`, from the benches' `WEFT_BENCH_OUT` rows, and criterion's
per-sample times), so `--plots` redraws without running anything. matplotlib is installed with
pip if missing; wrk, h2load and liburing-dev are installed with apt-get if missing and possible
(the suites that need them are left out otherwise, and the report says so).

A scaling table (1 to 16 workers) is drawn when `docs/bench/raw/scaling.jsonl` exists: rows of
`{"workload", "runtime", "workers", "ns_per_op"}`, written by a run on a machine with that many
cores. None is faked on a smaller machine.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "docs", "bench")
RAW = os.path.join(OUT, "raw")
RESULTS = os.path.join(RAW, "results.jsonl")
CRITERION_RAW = os.path.join(RAW, "criterion.jsonl")

CRITERION_SUITES = ["rt", "channel", "sync", "time"]
TEXT_SUITES = ["task_memory", "timer_lateness", "tcp_echo", "io_rates", "http_hello",
               "http_hello_h2", "http_client", "http_client_json"]
ALL_SUITES = CRITERION_SUITES + TEXT_SUITES

# weft's colours first, then the peers'; the same runtime has the same colour in every figure.
COLOURS = {
    "weft": "#1f6fb4", "weft-uring": "#1f6fb4", "weft-epoll": "#6baed6",
    "weft-unconstrained": "#9ecae1",
    "tokio": "#d95f02", "hyper": "#d95f02", "reqwest": "#d95f02",
    "smol": "#1b9e77", "flume": "#7570b3", "kanal": "#e7298a", "async-channel": "#66a61e",
    "c-uring": "#555555", "c-epoll": "#999999",
}


def log(msg):
    print(f"[report] {msg}", flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, text=True, capture_output=True, **kw)


def ensure_tools():
    """matplotlib (pip), and the load generators and headers the suites use (apt), if missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log("installing matplotlib with pip")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"], check=True)
    missing = [p for p, probe in [("wrk", "wrk"), ("nghttp2-client", "h2load")] if not shutil.which(probe)]
    if not os.path.exists("/usr/include/liburing.h"):
        missing.append("liburing-dev")
    if missing and shutil.which("apt-get") and os.geteuid() == 0:
        log(f"installing {' '.join(missing)} with apt-get")
        sh("apt-get update -qq && apt-get install -y -qq " + " ".join(missing))


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def cargo_bench(bench, env, args=""):
    """Runs one bench target; returns its stdout (also kept in raw/<name>.log)."""
    cmd = f"cargo bench -q -p weft-benches --bench {bench} -- {args}"
    log(f"running {bench} {' '.join(f'{k}={v}' for k, v in env.items())}")
    full_env = dict(os.environ, WEFT_BENCH_OUT=RESULTS, **env)
    p = subprocess.run(cmd, shell=True, text=True, capture_output=True, cwd=ROOT, env=full_env)
    with open(os.path.join(RAW, f"{bench}.log"), "a") as f:
        f.write(f"$ {cmd}  ({env})\n{p.stdout}\n{p.stderr}\n")
    if p.returncode != 0:
        log(f"{bench} failed (exit {p.returncode}); see docs/bench/raw/{bench}.log")
    return p.stdout


def collect_criterion(since):
    """Per benchmark written after `since`: group, function and per-iteration sample times (ns)."""
    root = os.path.join(target_dir(), "criterion")
    rows = []
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "sample.json" not in files:
            continue
        if os.path.getmtime(os.path.join(dirpath, "sample.json")) < since:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            b = json.load(f)
        with open(os.path.join(dirpath, "sample.json")) as f:
            s = json.load(f)
        per_iter = [t / i for t, i in zip(s["times"], s["iters"]) if i]
        rows.append({"group": b["group_id"], "function": b.get("function_id") or b.get("value_str"),
                     "samples_ns": per_iter})
    return rows


def run_suites(suites, quick):
    os.makedirs(RAW, exist_ok=True)
    log("building the benches")
    subprocess.run("cargo bench -q -p weft-benches --no-run", shell=True, cwd=ROOT, check=True)
    rounds = 1 if quick else 2
    crit_args = "--warm-up-time 1 --measurement-time 2" if quick else ""
    for suite in suites:
        if suite in CRITERION_SUITES:
            start = time.time()
            cargo_bench(suite, {}, crit_args)
            crit = collect_criterion(start)
            with open(CRITERION_RAW, "a") as f:
                for r in crit:
                    f.write(json.dumps(dict(r, suite=suite)) + "\n")
            continue
        for _ in range(rounds):
            if suite == "tcp_echo":
                cargo_bench("tcp_echo", {"ECHO_SECS": "1" if quick else "2"})
            elif suite == "http_hello":
                cargo_bench("http_hello", {"HTTP_SECS": "2" if quick else "5"})
            elif suite == "http_hello_h2":
                cargo_bench("http_hello", {"HTTP_SECS": "2" if quick else "5", "HTTP_PROTO": "h2"})
            elif suite == "http_client":
                cargo_bench("http_client", {})
            elif suite == "http_client_json":
                cargo_bench("http_client", {"HTTP_BODY": "json"})
            elif suite == "io_rates":
                cargo_bench("io_rates", {"IO_SECS": "1" if quick else "2"})
            else:
                cargo_bench(suite, {})
            if suite in ("task_memory", "timer_lateness"):
                break  # one process already runs each point twice, or its figure is exact


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def fmt(v, digits=1):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


# ----------------------------------------------------------------------------- figures

def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as p
    p.rcParams.update({"svg.fonttype": "none", "font.size": 10, "axes.grid": True,
                       "grid.alpha": 0.3, "axes.axisbelow": True})
    return p


def save(fig, name):
    path = os.path.join(OUT, name)
    fig.tight_layout()
    fig.savefig(path, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as p
    p.close(fig)
    return name


def bars(ax, groups, series, values, ylabel, title, log_y=False):
    """Grouped bars: `values[(group, series)] = (median, lo, hi)`; whiskers lo..hi."""
    n = max(len(series), 1)
    width = 0.8 / n
    for i, s in enumerate(series):
        xs, ys, errs = [], [], [[], []]
        for g_i, g in enumerate(groups):
            v = values.get((g, s))
            if v is None:
                continue
            xs.append(g_i - 0.4 + width * (i + 0.5))
            ys.append(v[0])
            errs[0].append(v[0] - v[1])
            errs[1].append(v[2] - v[0])
        if xs:
            ax.bar(xs, ys, width * 0.95, yerr=errs, capsize=2, label=s,
                   color=COLOURS.get(s), error_kw={"elinewidth": 0.8})
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20 if max(map(len, groups), default=0) > 10 else 0,
                       ha="right" if max(map(len, groups), default=0) > 10 else "center")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log_y:
        ax.set_yscale("log")
    # Right of the axes, so it never covers a bar or a label.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def curves(ax, xs_by_series, ylabel, title, log_y=False):
    """Lines over connection counts: `xs_by_series[s] = {x: (median, lo, hi)}`."""
    for s, pts in xs_by_series.items():
        xs = sorted(pts)
        ys = [pts[x][0] for x in xs]
        lo = [pts[x][0] - pts[x][1] for x in xs]
        hi = [pts[x][2] - pts[x][0] for x in xs]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", ms=4, capsize=3, label=s,
                    color=COLOURS.get(s), linestyle="--" if s.startswith("c-") else "-")
    ax.set_xscale("log", base=2)
    ticks = sorted({x for pts in xs_by_series.values() for x in pts})
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("connections")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log_y:
        ax.set_yscale("log")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)


# ----------------------------------------------------------------------------- sections

def criterion_rows(suite):
    return [r for r in load_jsonl(CRITERION_RAW) if r["suite"] == suite]


def last_run(rows):
    """Criterion rows of the latest run only (a later run of a benchmark replaces it)."""
    latest = {}
    for r in rows:
        latest[(r["group"], r["function"])] = r
    return list(latest.values())


def section_rt(p):
    rows = last_run(criterion_rows("rt"))
    if not rows:
        return None
    order = ["spawn_many_local", "spawn_many_remote", "yield_many", "ping_pong", "chained_spawn"]
    vals, runtimes, workers = {}, [], set()
    for r in rows:
        m = re.fullmatch(r"(\w+)/ops=(\d+)/workers=(\d+)", r["group"])
        if not m:
            continue
        name, ops = m.group(1), int(m.group(2))
        workers.add(m.group(3))
        vals[(name, r["function"])] = spread([t / ops for t in r["samples_ns"]])
        if r["function"] not in runtimes:
            runtimes.append(r["function"])
    runtimes.sort(key=lambda s: (s != "weft", s))
    groups = [g for g in order if any((g, s) in vals for s in runtimes)]
    fig, ax = p.subplots(figsize=(9, 4.5))
    bars(ax, groups, runtimes, vals, "ns per operation (lower is better)",
         f"Scheduler: tokio's workloads, {'/'.join(sorted(workers))} workers", log_y=True)
    img = save(fig, "rt.svg")
    lines = ["| workload | " + " | ".join(runtimes) + " | " +
             " | ".join(f"weft/{s}" for s in runtimes if s != "weft") + " |",
             "|---|" + "---|" * (2 * len(runtimes) - 1)]
    for g in groups:
        w = vals.get((g, "weft"))
        cells = [fmt(vals[(g, s)][0]) if (g, s) in vals else "-" for s in runtimes]
        ratios = [f"{w[0] / vals[(g, s)][0]:.2f}" if w and (g, s) in vals else "-"
                  for s in runtimes if s != "weft"]
        lines.append(f"| {g} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return ("Scheduler", img, "Median ns per operation over criterion's samples (whiskers: "
            "fastest and slowest sample); a ratio below 1.00 means weft is faster.", lines)


def section_channel(p):
    rows = last_run(criterion_rows("channel"))
    if not rows:
        return None
    wl = ["spsc", "mpsc", "mpmc", "select_rx", "select_both"]
    caps = ["cap0", "cap1", "cap1024", "unbounded"]
    vals, crates = {}, []
    for r in rows:
        m = re.fullmatch(r"(\w+)/(\w+)/(weft-rt|tokio-rt)/msgs=(\d+)", r["group"])
        if not m:
            continue
        w, cap, rt, n = m.group(1), m.group(2), m.group(3), int(m.group(4))
        vals[(rt, w, cap, r["function"])] = spread([t / n for t in r["samples_ns"]])
        if r["function"] not in crates:
            crates.append(r["function"])
    crates.sort(key=lambda s: (not s.startswith("weft"), s))
    imgs, lines = [], []
    for rt in ["weft-rt", "tokio-rt"]:
        present = [w for w in wl if any(k[0] == rt and k[1] == w for k in vals)]
        if not present:
            continue
        fig, axes = p.subplots(1, len(present), figsize=(4 * len(present), 4.2), squeeze=False)
        for ax, w in zip(axes[0], present):
            sub = {(cap, c): v for (r_, w_, cap, c), v in vals.items() if r_ == rt and w_ == w}
            series = [c for c in crates if any(k[1] == c for k in sub)]
            bars(ax, caps, series, sub, "ns per message", f"{w} on {rt}", log_y=True)
        imgs.append(save(fig, f"channel_{rt}.svg"))
    lines.append("| runtime | workload | capacity | " + " | ".join(crates) + " | weft/best peer |")
    lines.append("|---|---|---|" + "---|" * (len(crates) + 1))
    for rt in ["weft-rt", "tokio-rt"]:
        for w in wl:
            for cap in caps:
                row = {c: vals.get((rt, w, cap, c)) for c in crates}
                if not any(row.values()):
                    continue
                peers = {c: v[0] for c, v in row.items() if v and not c.startswith("weft")}
                best = min(peers.values()) if peers else None
                wv = row.get("weft")
                ratio = f"{wv[0] / best:.2f}" if wv and best else "-"
                lines.append(f"| {rt} | {w} | {cap} | " +
                             " | ".join(fmt(v[0], 0) if v else "-" for v in row.values()) +
                             f" | {ratio} |")
    return ("Channels", imgs, "ns per message (100,000 `u64` per iteration), median of "
            "criterion's samples, whiskers at the fastest and slowest sample. kanal's select "
            "rows lose messages (see the README); `weft-unconstrained` runs outside the "
            "cooperative budget, as the other crates always do.", lines)


def section_criterion_pairs(p, suite, title, img_name, unit_div):
    rows = last_run(criterion_rows(suite))
    if not rows:
        return None
    vals, groups, series = {}, [], []
    for r in rows:
        g = r["group"]
        div = unit_div(g)
        vals[(g, r["function"])] = spread([t / div[0] for t in r["samples_ns"]])
        if g not in groups:
            groups.append(g)
        if r["function"] not in series:
            series.append(r["function"])
    series.sort(key=lambda s: (s != "weft", s))
    groups.sort()
    # One panel per benchmark: each has its own unit.
    fig, axes = p.subplots(1, len(groups), figsize=(3.6 * len(groups) + 1.2, 4), squeeze=False)
    for ax, g in zip(axes[0], groups):
        present = [s for s in series if (g, s) in vals]
        xs = range(len(present))
        ys = [vals[(g, s)][0] for s in present]
        err = [[vals[(g, s)][0] - vals[(g, s)][1] for s in present],
               [vals[(g, s)][2] - vals[(g, s)][0] for s in present]]
        ax.bar(xs, ys, 0.7, yerr=err, capsize=3, color=[COLOURS.get(s) for s in present])
        ax.set_xticks(list(xs))
        ax.set_xticklabels(present)
        ax.set_ylabel(f"{unit_div(g)[1]} (lower is better)")
        ax.set_title(g.split("/")[0].replace("_", " "), fontsize=10)
    fig.suptitle(title)
    img = save(fig, img_name)
    lines = ["| benchmark | " + " | ".join(series) + " |", "|---|" + "---|" * len(series)]
    for g in groups:
        lines.append(f"| {g} ({unit_div(g)[1]}) | " +
                     " | ".join(fmt(vals[(g, s)][0], 2) if (g, s) in vals else "-" for s in series) + " |")
    return (title, img, "Median over criterion's samples; whiskers at the fastest and slowest.", lines)


def section_memory(p):
    rows = load_jsonl(RESULTS)
    task = [r for r in rows if r["bench"] == "task_memory"]
    sleep = [r for r in rows if r["bench"] == "sleep_memory"]
    if not task and not sleep:
        return None
    vals, runtimes = {}, []
    for r in task:
        vals[("task alone", r["runtime"])] = (r["task"],) * 3
        vals[("task + JoinHandle", r["runtime"])] = (r["with_handle"],) * 3
        runtimes.append(r["runtime"])
    for r in sleep:
        vals[("task in a 1-hour sleep", r["runtime"])] = (r["bytes_per_task"],) * 3
        runtimes.append(r["runtime"])
    runtimes = sorted(set(runtimes), key=lambda s: (s != "weft", s))
    groups = [g for g in ["task alone", "task + JoinHandle", "task in a 1-hour sleep"]
              if any((g, s) in vals for s in runtimes)]
    fig, ax = p.subplots(figsize=(7, 4))
    bars(ax, groups, runtimes, vals, "bytes per task (lower is better)",
         "Memory per pending task (1,000,000 tasks)")
    img = save(fig, "memory.svg")
    lines = ["| figure | " + " | ".join(runtimes) + " |", "|---|" + "---|" * len(runtimes)]
    for g in groups:
        lines.append(f"| {g} | " + " | ".join(fmt(vals[(g, s)][0]) + " B" if (g, s) in vals else "-"
                                              for s in runtimes) + " |")
    return ("Memory per task", img, "Growth of live heap bytes (a counting allocator) per "
            "task; one run (the figure is exact up to the allocator's rounding).", lines)


def section_timers(p):
    rows = [r for r in load_jsonl(RESULTS) if r["bench"] == "timer_lateness"]
    if not rows:
        return None
    qs = [("p10_ms", 10), ("p25_ms", 25), ("p50_ms", 50), ("p75_ms", 75), ("p90_ms", 90),
          ("p99_ms", 99), ("p999_ms", 99.9)]
    sizes = sorted({r["sleeps"] for r in rows})
    fig, axes = p.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.2), squeeze=False)
    lines = ["| sleeps | runtime | wall ms | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    for ax, n in zip(axes[0], sizes):
        by_rt = {}
        for r in rows:
            if r["sleeps"] == n:
                by_rt.setdefault(r["runtime"], []).append(r)
        for rt, rs in sorted(by_rt.items(), key=lambda kv: (kv[0] != "weft", kv[0])):
            for i, r in enumerate(rs):
                ys = [max(r[k], 1e-4) for k, _ in qs]
                ax.plot(range(len(qs)), ys, marker="o", ms=3, color=COLOURS.get(rt),
                        linestyle="-" if i == 0 else ":", label=f"{rt}" + ("" if i == 0 else f" (round {i + 1})"))
                lines.append(f"| {n:,} | {rt} (round {i + 1}) | {fmt(r['wall_ms'])} | {r['p50_ms']:.3f} | "
                             f"{r['p99_ms']:.3f} | {r['max_ms']:.3f} |")
        ax.set_yscale("log")
        ax.set_xlabel("percentile of sleeps")
        ax.set_ylabel("lateness past the deadline, ms (log)")
        ax.set_title(f"{n:,} sleeps of 1-50 ms")
        ax.set_xticks(range(len(qs)))
        ax.set_xticklabels(["p10", "p25", "p50", "p75", "p90", "p99", "p99.9"])
        ax.legend(fontsize=8)
    img = save(fig, "timer_lateness.svg")
    return ("Timer lateness", img, "How late each sleep woke past its deadline, by percentile "
            "(lower is better); two rounds in one process.", lines)


def network_points(bench, key_fields, series_field, x_field, y_field, **match):
    pts = {}
    for r in load_jsonl(RESULTS):
        if r["bench"] != bench or any(r.get(k) != v for k, v in match.items()):
            continue
        pts.setdefault(r[series_field], {}).setdefault(r[x_field], []).append(r[y_field])
    return {s: {x: spread(v) for x, v in d.items()} for s, d in pts.items()}


def section_network(p, bench, title, img, figures, note, **match):
    if not any(r["bench"] == bench and all(r.get(k) == v for k, v in match.items())
               for r in load_jsonl(RESULTS)):
        return None
    fig, axes = p.subplots(1, len(figures), figsize=(5.2 * len(figures), 4.2), squeeze=False)
    tables = []
    for ax, (field, label, log_y) in zip(axes[0], figures):
        pts = network_points(bench, None, "server", "conns", field, **match)
        pts = dict(sorted(pts.items(), key=lambda kv: (not kv[0].startswith("weft"), kv[0])))
        curves(ax, pts, label, label.split(",")[0].split(" (")[0], log_y=log_y)
        tables.append((field, label, pts))
    name = save(fig, img)
    servers = list(tables[0][2])
    conns = sorted({c for _, _, pts in tables for d in pts.values() for c in d})
    weft = [s for s in servers if s.startswith("weft")]
    peer = next((s for s in ("tokio", "hyper") if s in servers), None)
    lines = ["| conns | figure | " + " | ".join(servers) + " | " +
             " | ".join(f"{w}/{peer}" for w in weft) + " |",
             "|---|---|" + "---|" * (len(servers) + len(weft))]
    for c in conns:
        for field, label, pts in tables:
            def cell(s):
                v = pts.get(s, {}).get(c)
                if not v:
                    return "-"
                return fmt(v[0]) if v[1] == v[2] else f"{fmt(v[0])} ({fmt(v[1])}-{fmt(v[2])})"

            ratios = []
            for w in weft:
                a, b = pts.get(w, {}).get(c), pts.get(peer, {}).get(c)
                ratios.append(f"{a[0] / b[0]:.2f}" if a and b and b[0] else "-")
            lines.append(f"| {c} | {label} | " + " | ".join(cell(s) for s in servers) + " | "
                         + " | ".join(ratios) + " |")
    return (title, name, note, lines)


def section_simple_bars(p, bench, title, img, key, fields, note, **match):
    rows = [r for r in load_jsonl(RESULTS) if r["bench"] == bench
            and all(r.get(k) == v for k, v in match.items())]
    if not rows:
        return None
    series = sorted({r[key] for r in rows}, key=lambda s: (not s.startswith("weft"), s))
    fig, axes = p.subplots(1, len(fields), figsize=(4.5 * len(fields), 4), squeeze=False)
    lines = [f"| figure | " + " | ".join(series) + " |", "|---|" + "---|" * len(series)]
    for ax, (field, label) in zip(axes[0], fields):
        vals = {s: spread([r[field] for r in rows if r[key] == s]) for s in series}
        xs = range(len(series))
        ys = [vals[s][0] for s in series]
        err = [[vals[s][0] - vals[s][1] for s in series], [vals[s][2] - vals[s][0] for s in series]]
        ax.bar(xs, ys, 0.7, yerr=err, capsize=3, color=[COLOURS.get(s) for s in series])
        ax.set_xticks(list(xs))
        ax.set_xticklabels(series)
        ax.set_ylabel(label)
        ax.set_title(label.split(",")[0])
        lines.append(f"| {label} | " + " | ".join(fmt(vals[s][0]) for s in series) + " |")
    name = save(fig, img)
    return (title, name, note, lines)


def section_scaling(p):
    rows = load_jsonl(os.path.join(RAW, "scaling.jsonl"))
    if not rows:
        return ("Scaling from 1 to 16 workers", None, "Not measured yet: it needs a machine with "
                "16 cores, and none was at hand for this report. It is not simulated on fewer cores.", [])
    workloads = sorted({r["workload"] for r in rows})
    fig, axes = p.subplots(1, len(workloads), figsize=(4.5 * len(workloads), 4), squeeze=False)
    lines = ["| workload | runtime | " + " | ".join(str(w) for w in sorted({r['workers'] for r in rows})) + " |"]
    lines.append("|---|---|" + "---|" * len({r["workers"] for r in rows}))
    for ax, w in zip(axes[0], workloads):
        for rt in sorted({r["runtime"] for r in rows if r["workload"] == w}):
            pts = sorted((r["workers"], r["ns_per_op"]) for r in rows if r["workload"] == w and r["runtime"] == rt)
            ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=rt, color=COLOURS.get(rt))
            lines.append(f"| {w} | {rt} | " + " | ".join(fmt(y) for _, y in pts) + " |")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("workers")
        ax.set_ylabel("ns per operation")
        ax.set_title(w)
        ax.legend(fontsize=8)
    return ("Scaling from 1 to 16 workers", save(fig, "scaling.svg"), "", lines)


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / (1 << 20):.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    rustc = sh("rustc --version").stdout.strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} cores ({cpu}), {mem} memory, Linux {platform.release()}, {rustc}; "
            f"load average {load:.2f} when the report was written")


def versions():
    lock = os.path.join(ROOT, "Cargo.lock")
    wanted = ["tokio", "smol", "async-executor", "async-io", "hyper", "reqwest", "kanal", "flume",
              "async-channel", "criterion", "io-uring", "rustls"]
    found = {}
    if os.path.exists(lock):
        text = open(lock).read()
        for m in re.finditer(r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"', text):
            if m.group(1) in wanted:
                found.setdefault(m.group(1), []).append(m.group(2))
    return ", ".join(f"{k} {'/'.join(v)}" for k, v in sorted(found.items()))


def write_report(quick, suites_run):
    p = plt()
    sections = [
        section_rt(p),
        section_memory(p),
        section_timers(p),
        section_criterion_pairs(p, "time", "Timer costs", "time.svg",
                                lambda g: (1, "ns per call") if g.startswith("timeout_ready")
                                else (1000, "us per 1,000 timers")),
        section_channel(p),
        section_criterion_pairs(p, "sync", "Locks and task sets", "sync.svg",
                                lambda g: (1000, "us per run")),
        section_network(p, "tcp_echo", "TCP echo", "tcp_echo.svg",
                        [("rate", "round trips per second (higher is better)", False),
                         ("cpu_us_per_rt", "server CPU, us per round trip (lower is better)", False),
                         ("p99_us", "p99 latency, us (log; lower is better)", True)],
                        "1 KiB messages over loopback, one load generator for every server "
                        "(sharing the cores), 2 server workers; the median of the rounds, "
                        "min-max in brackets and as whiskers."),
        section_network(p, "http_hello", "HTTP/1.1 hello world (wrk)", "http_hello.svg",
                        [("rate", "requests per second (higher is better)", False),
                         ("cpu_us_per_req", "server CPU, us per request (lower is better)", False),
                         ("p99_ms", "p99 latency, ms (log; lower is better)", True)],
                        "`GET /` answered with `Hello, World!`, wrk -t2 on the same cores; "
                        "hyper runs on tokio. Median of the rounds, min-max as whiskers.",
                        proto="h1"),
        section_network(p, "http_hello", "HTTP/2 hello world (h2load)", "http_hello_h2.svg",
                        [("rate", "requests per second (higher is better)", False),
                         ("cpu_us_per_req", "server CPU, us per request (lower is better)", False)],
                        "Prior-knowledge h2c, 10 streams per connection, h2load on the same cores.",
                        proto="h2"),
        section_simple_bars(p, "http_client", "HTTP client", "http_client.svg", "client",
                            [("best", "requests per second, best round")],
                            "10,000 keep-alive GETs from 64 tasks against a local hyper server "
                            "(13-byte bodies).", body="text"),
        section_simple_bars(p, "http_client", "HTTP client, JSON (the guide's Example 5)",
                            "http_client_json.svg", "client",
                            [("best", "requests per second, best round")],
                            "The same with 1 KiB JSON bodies, each parsed into a "
                            "`serde_json::Value`.", body="json"),
        section_simple_bars(p, "io_rates", "Accepts and files", "io_rates.svg", "runtime",
                            [("accepts_per_s", "accepts per second"),
                             ("read_mib_s", "file read, MiB/s"),
                             ("write_mib_s", "file write + sync, MiB/s")],
                            "Accept-and-close from 4 client threads; a 64 MiB file in 64 KiB "
                            "chunks (page cache warm)."),
        section_scaling(p),
    ]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# weft benchmark report", "",
           f"Written {now} by `python3 benches/report/run.py{' --quick' if quick else ''}`."
           + (" A quick run (short points, one round): a check of the pipeline, not figures "
              "to quote." if quick else ""), "",
           f"Machine: {machine()}.", "", f"Peers: {versions()}.", "",
           "Every figure compares runtimes measured side by side in the same run on this "
           "machine. Shared machines are noisy (a 30 % spread between runs is common), so "
           "whiskers show the spread and ratios near 1.0 are a tie.", ""]
    for s in sections:
        if s is None:
            continue
        title, imgs, note, lines = s
        out += [f"## {title}", ""]
        for img in ([imgs] if isinstance(imgs, str) else imgs or []):
            out += [f"![{title}]({img})", ""]
        if note:
            out += [note, ""]
        out += lines + [""]
    missing = [s for s in ALL_SUITES if suites_run is not None and s not in suites_run]
    if missing:
        out += ["## Not in this run", "", ", ".join(missing) + " (earlier rows in raw/ are "
                "drawn if present).", ""]
    with open(os.path.join(OUT, "REPORT.md"), "w") as f:
        f.write("\n".join(out))
    log(f"wrote {os.path.relpath(os.path.join(OUT, 'REPORT.md'), ROOT)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short points and one round")
    ap.add_argument("--only", default="", help="comma-separated suites: " + ",".join(ALL_SUITES))
    ap.add_argument("--plots", action="store_true", help="no runs: redraw from docs/bench/raw/")
    a = ap.parse_args()
    suites = [s for s in a.only.split(",") if s] or ALL_SUITES
    unknown = [s for s in suites if s not in ALL_SUITES]
    if unknown:
        sys.exit(f"unknown suites: {', '.join(unknown)}")
    ensure_tools()
    os.makedirs(RAW, exist_ok=True)
    if not a.plots:
        # A fresh run replaces the rows of the suites it runs; others keep their last rows.
        for path in [RESULTS, CRITERION_RAW]:
            keep = [r for r in load_jsonl(path) if not owned_by(r, suites)]
            with open(path, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in keep)
        for s in suites:
            log_path = os.path.join(RAW, f"{s}.log")
            if os.path.exists(log_path):
                os.remove(log_path)
        run_suites(suites, a.quick)
    write_report(a.quick, None if a.plots else suites)


def owned_by(row, suites):
    """Whether a raw row comes from one of `suites` (so a rerun of those replaces it)."""
    bench = row.get("bench") or row.get("suite")
    if bench == "http_hello":
        bench = "http_hello_h2" if row.get("proto") == "h2" else "http_hello"
    elif bench == "http_client":
        bench = "http_client_json" if row.get("body") == "json" else "http_client"
    elif bench == "sleep_memory":
        bench = "timer_lateness"
    return bench in suites


if __name__ == "__main__":
    main()
