#!/usr/bin/env python3
"""bench/summary.py — condense compare.sh / startup.sh records into markdown rows.

    python3 bench/summary.py bench/out/<run>/results.jsonl [bench/out/<run>/startup.jsonl]

Per scenario and placement: each system's median msgs/s (min-max), p50/p99 ranges, broker CPU
µs per message, the median ours/peer ratio over rounds that have both, and the 1-minute load
range seen before/after the runs. Per startup metric: every value with its load.
"""
import json
import statistics
import sys


def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def rng(xs, fmt):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    lo, hi = min(xs), max(xs)
    return fmt(lo) if lo == hi else f"{fmt(lo)}–{fmt(hi)}"


def k(x):
    return f"{x / 1000:.1f}k" if x >= 1000 else f"{x:.0f}"


def us(x):
    return f"{x / 1000:.1f} ms" if x >= 1000 else f"{x:.0f} µs"


def loads(rs):
    vals = []
    for r in rs:
        for key in ("load_before", "load_after"):
            if r.get(key):
                vals.append(float(r[key].split()[0]))
    return rng(vals, lambda v: f"{v:.1f}")


def scenarios(rows):
    groups = {}
    for r in rows:
        if "scenario" not in r:
            continue
        groups.setdefault((r["scenario"], r.get("placement", "")), []).append(r)
    for (sc, pl), rs in groups.items():
        print(f"### {sc} ({pl})")
        systems = sorted({r["system"] for r in rs}, key=lambda s: (s != "rmq", s))
        for s in systems:
            ss = [r for r in rs if r["system"] == s]
            rates = [r["msgs_s"] for r in ss]
            cpu = [r["broker_cpu_s"] * 1e6 / r["msgs"] for r in ss if r.get("msgs") and r.get("broker_cpu_s")]
            print(
                f"- {s}: median **{k(statistics.median(rates))} msgs/s** ({rng(rates, k)}), n={len(ss)}, "
                f"p50 {rng([r.get('p50_us') for r in ss], us)}, p99 {rng([r.get('p99_us') for r in ss], us)}, "
                f"broker {rng(cpu, lambda v: f'{v:.1f}')} µs CPU/msg, load {loads(ss)}"
            )
        by_round = {}
        for r in rs:
            by_round.setdefault(r["round"], {})[r["system"]] = r
        ratios = [
            v["rmq"]["msgs_s"] / o["msgs_s"]
            for v in by_round.values()
            if "rmq" in v
            for s, o in v.items()
            if s != "rmq" and o["msgs_s"] > 0
        ]
        if ratios:
            print(f"- ratio ours/peer: median **{statistics.median(ratios):.2f}×** ({rng(ratios, lambda v: f'{v:.2f}')}), {len(ratios)} rounds")
        print()


def startup(rows):
    by = {}
    for r in rows:
        by.setdefault((r["system"], r["metric"]), []).append(r)
    print("### startup / memory")
    for (s, m), rs in by.items():
        vals = ", ".join(f"{r['value']:g}" for r in rs)
        print(f"- {s} {m}: {vals} ({rs[-1]['note']}; load {rng([float(r['load'].split()[0]) for r in rs], lambda v: f'{v:.1f}')})")


if __name__ == "__main__":
    for path in sys.argv[1:]:
        rows = load(path)
        if rows and "metric" in rows[0]:
            startup(rows)
        else:
            scenarios(rows)
