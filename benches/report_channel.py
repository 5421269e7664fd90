#!/usr/bin/env python3
"""Prints criterion's results for the `channel` bench: ns per message and weft's ratios.

Usage: python3 benches/report_channel.py [target/criterion]
Groups are named `<workload>/<capacity>/<runtime>/msgs=<n>`; each crate's median is divided
by n. A ratio below 1.00 means weft is faster than that peer. `weft-unc` (weft's runtime only) is
weft with its operations outside the cooperative budget; `unc/best` is its ratio.
"""
import json
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
peers = ["tokio", "flume", "kanal", "async-channel"]
rows = {}
for group in sorted(os.listdir(root)):
    m = re.fullmatch(r"(spsc|mpsc|mpmc|select_rx|select_both)_(cap0|cap1|cap1024|unbounded)_(weft-rt|tokio-rt)_msgs=(\d+)", group)
    if not m:
        continue
    workload, cap, rt, n = m.group(1), m.group(2), m.group(3), int(m.group(4))
    for crate in os.listdir(os.path.join(root, group)):
        est = os.path.join(root, group, crate, "new", "estimates.json")
        if os.path.exists(est):
            with open(est) as f:
                rows.setdefault((rt, workload, cap), {})[crate] = json.load(f)["median"]["point_estimate"] / n

order_w = ["spsc", "mpsc", "mpmc", "select_rx", "select_both"]
order_c = ["cap0", "cap1", "cap1024", "unbounded"]
fmt = lambda v: f"{v:,.0f}" if v is not None else "-"
print("| runtime | workload | capacity | weft | weft-unc | " + " | ".join(peers) + " | best peer | weft/best | unc/best |")
print("|---|---|---|---|---|" + "---|" * len(peers) + "---|---|---|")
for key in sorted(rows, key=lambda k: (k[0] != "weft-rt", order_w.index(k[1]), order_c.index(k[2]))):
    r = rows[key]
    w = r.get("weft")
    vals = {p: r.get(p) for p in peers}
    present = {p: v for p, v in vals.items() if v is not None}
    best = min(present, key=present.get) if present else None
    u = r.get("weft-unconstrained")
    ratio = f"{w / present[best]:.2f}" if w and best else "-"
    uratio = f"{u / present[best]:.2f}" if u and best else "-"
    print(f"| {key[0]} | {key[1]} | {key[2]} | {fmt(w)} | {fmt(u)} | " + " | ".join(fmt(vals[p]) for p in peers)
          + f" | {best or '-'} | {ratio} | {uratio} |")
