#!/usr/bin/env python3
"""Prints criterion's results for the `rt` bench as a table of ns per operation and ratios.

Usage: python3 benches/report.py [target/criterion]
Each group is named `<workload>/ops=<n>/workers=<w>`; the median of each runtime's samples is
divided by n. A ratio below 1.00 means weft is faster than that peer.
"""
import json
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
rows = {}
for group in sorted(os.listdir(root)):
    m = re.fullmatch(r"(\w+)_ops=(\d+)_workers=(\d+)", group)
    if not m:
        continue
    name, ops, workers = m.group(1), int(m.group(2)), int(m.group(3))
    for rt in os.listdir(os.path.join(root, group)):
        est = os.path.join(root, group, rt, "new", "estimates.json")
        if not os.path.exists(est):
            continue
        with open(est) as f:
            median = json.load(f)["median"]["point_estimate"]
        rows.setdefault((workers, name), {})[rt] = median / ops

order = ["spawn_many_local", "spawn_many_remote", "yield_many", "ping_pong", "chained_spawn"]
print("| workers | workload | weft ns/op | tokio ns/op | smol ns/op | weft/tokio | weft/smol |")
print("|---|---|---|---|---|---|---|")
for (workers, name) in sorted(rows, key=lambda k: (k[0], order.index(k[1]) if k[1] in order else 99)):
    r = rows[(workers, name)]
    w, t, s = r.get("weft"), r.get("tokio"), r.get("smol")
    fmt = lambda v: f"{v:,.1f}" if v is not None else "-"
    ratio = lambda a, b: f"{a / b:.2f}" if a and b else "-"
    print(f"| {workers} | {name} | {fmt(w)} | {fmt(t)} | {fmt(s)} | {ratio(w, t)} | {ratio(w, s)} |")
