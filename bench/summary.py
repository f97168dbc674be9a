#!/usr/bin/env python3
"""bench/summary.py — condense compare.sh / startup.sh records into markdown rows.

    python3 bench/summary.py bench/out/<run>/results.jsonl [bench/out/<run>/startup.jsonl]
    python3 bench/summary.py --table bench/out/<run>/results.jsonl   # rmq and every peer side by side

Per scenario and placement: each system's median msgs/s (min-max), p50/p99 ranges, broker CPU
µs per message, the median ours/peer ratio over rounds that have both, and the 1-minute load
range seen before/after the runs. Per startup metric: every value with its load. `--table`: one markdown row per scenario with
rmq and each peer (nats, redis, rabbitmq, ...), the ratio rmq / best peer at equal durability
(and of each variant of rmq in the run, e.g. rmq-alt: a variant is never the "best peer"),
issue 23's target, whether it is met, and the machine's limit (shared/docs/performance.md §2).
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


# Issue 23's targets per scenario: (minimum rmq / best-peer ratio, minimum rmq msgs/s, text).
TARGETS = {
    "async256": (2.0, 250_000, "≥ 2× best peer; ≥ 250k msgs/s"),
    "async256-ab": (2.0, 250_000, "≥ 2× best peer; ≥ 250k msgs/s (rmq with --auto-batch)"),
    "batch32": (2.0, 650_000, "≥ 2× best peer; ≥ 650k msgs/s (50 % of loopback)"),
    "sync1": (None, None, "—"),
    "syncflush64": (1.5, None, "≥ 1.5× best peer at equal durability"),
    "consume": (2.0, None, "≥ 2× best peer"),
    "e2e10k": (None, None, "p99 ≤ best peer's (and < 1 ms)"),
    "e2e10k-ab": (None, None, "p99 ≤ best peer's (and < 1 ms) (rmq with --auto-batch)"),
}
# This machine's limits beside each row (shared/docs/performance.md §2, 1 KiB messages).
LIMITS = {
    "async256": "1 KiB per write(): 215k writes/s; loopback bulk 1.75 GB/s ≈ 1.7M msgs/s",
    "async256-ab": "loopback bulk 1.75 GB/s ≈ 1.7M msgs/s",
    "batch32": "loopback bulk 1.27–1.75 GB/s ≈ 1.2–1.7M msgs/s",
    "sync1": "1 KiB ping-pong: 43.6k round trips/s, RTT p50 22 µs",
    "syncflush64": "fdatasync 910–3 239/s (p50 0.2–0.4 ms): ≤ 64 × that with 64 senders",
    "consume": "loopback bulk 1.75 GB/s; memcpy 10 GB/s",
    "e2e10k": "RTT p50 22 µs, p99 59 µs",
    "e2e10k-ab": "RTT p50 22 µs, p99 59 µs",
}
# rmq itself and the variants compare.sh runs of it (a changed setting, another build, ACL,
# TLS, metrics): never "the best peer". rocketmq-rust (`rmq-rust`) is a peer.
OURS = ("rmq", "rmq-alt", "rmq-base", "rmq-acl", "rmq-tls", "rmq-metrics")
ORDER = ["async256", "async256-ab", "batch32", "sync1", "syncflush64", "consume", "e2e10k", "e2e10k-ab"]


def table(rows):
    rows = [r for r in rows if "scenario" in r]
    systems = sorted({r["system"] for r in rows}, key=lambda s: (s != "rmq", s not in OURS, s))
    ours = [s for s in systems if s in OURS]
    peers = [s for s in systems if s not in OURS]
    scs = sorted({r["scenario"] for r in rows}, key=lambda s: ORDER.index(s) if s in ORDER else 99)
    print("| scenario | " + " | ".join(systems) + " | ours / best peer | target (issue 23) | met? | machine limit |")
    print("|---" * (len(systems) + 5) + "|")
    for sc in scs:
        rs = [r for r in rows if r["scenario"] == sc]
        e2e = sc.startswith("e2e10k")
        cells, med = [], {}
        for s in systems:
            ss = [r for r in rs if r["system"] == s and r.get("msgs_s", 0) > 0]
            if not ss:
                cells.append("–")
                continue
            rate = statistics.median(r["msgs_s"] for r in ss)
            p99 = statistics.median(r.get("p99_us", 0) for r in ss)
            med[s] = (rate, p99, all(r.get("equal_durability", True) for r in ss))
            cpu = [r["broker_cpu_s"] * 1e6 / r["msgs"] for r in ss if r.get("msgs")]
            cli = [r["client_cpu_s"] * 1e6 / r["msgs"] for r in ss if r.get("msgs") and r.get("client_cpu_s")]
            if e2e:
                c = f"p99 **{us(p99)}** ({k(rate)}/s)"
            else:
                # A drain's p99 is not a send latency (mqbench: store -> consume age; peers: none).
                c = f"**{k(rate)}**" + ("" if sc == "consume" else f" (p99 {us(p99)})")
            c += f"; srv {rng(cpu, lambda v: f'{v:.1f}')}"
            if cli:
                c += f", cli {rng(cli, lambda v: f'{v:.1f}')}"
            c += " µs/msg"
            if not med[s][2]:
                c += "; weaker durability"
            cells.append(c)
        # Best peer at equal durability; for e2e10k the lowest p99 among peers that kept the rate.
        eq = {s: v for s, v in med.items() if s not in OURS and v[2] and (not e2e or v[0] >= 9_500)}
        ratios, mets = [], []
        lo_ratio, lo_rate, _ = TARGETS.get(sc, (None, None, ""))
        by = {}
        for r in rs:
            by.setdefault(r["round"], {})[r["system"]] = r
        for o in [s for s in ours if s in med]:
            # Several rmq builds or settings in one run (rmq-alt, rmq-base, ...): each is
            # compared with the best peer, and named when it is not plain `rmq`.
            tag = "" if o == "rmq" and len(ours) == 1 else f"{o}: "
            if not eq:
                if peers:
                    ratios.append(f"{tag}no peer at equal durability")
                continue
            if e2e:
                best = min(eq, key=lambda s: eq[s][1])
                ratios.append(f"{tag}p99 {med[o][1] / eq[best][1]:.2f}× of {best}'s")
                yn = lambda b: "yes" if b else "no"
                mets.append(f"{tag}≤ best: {yn(med[o][1] <= eq[best][1])}; < 1 ms: {yn(med[o][1] < 1000)}")
            else:
                best = max(eq, key=lambda s: eq[s][0])
                # Median over rounds of ours / that peer in the same round.
                rr = [v[o]["msgs_s"] / v[best]["msgs_s"] for v in by.values() if o in v and best in v and v[best]["msgs_s"] > 0]
                x = statistics.median(rr)
                ratios.append(f"{tag}**{x:.2f}×** vs {best} ({rng(rr, lambda v: f'{v:.2f}')})")
                if lo_ratio is not None:
                    m = f"{tag}ratio: {'yes' if x >= lo_ratio else 'no'}"
                    if lo_rate is not None:
                        m += f"; rate: {'yes' if med[o][0] >= lo_rate else 'no'}"
                    mets.append(m)
        ratio, met = "<br>".join(ratios) or "–", "<br>".join(mets) or "–"
        print(f"| {sc} | " + " | ".join(cells) + f" | {ratio} | {TARGETS.get(sc, (0, 0, '–'))[2]} | {met} | {LIMITS.get(sc, '')} |")
    print()
    print(f"load (1-min) over the runs: {loads(rows)}; placement: {', '.join(sorted({r.get('placement', '') for r in rows}))}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--table":
        for path in args[1:]:
            table(load(path))
        sys.exit(0)
    for path in args:
        rows = load(path)
        if rows and "metric" in rows[0]:
            startup(rows)
        else:
            scenarios(rows)
