#!/usr/bin/env python3
"""Where a replication round trip's time goes: joins a master's and its slave's `ha_trace`
lines (broker/src/ha/trace.rs; brokers started with RUST_LOG=info,ha_trace=debug) by offset.

    ha_trace.py MASTER_LOG SLAVE_LOG [STALL_MS] [T0_S T1_S]

For every write of the master's transfer half that ends at offset E, the slave's first report
of >= E and the master's first acknowledgement of >= E give the chain's steps (ms):

    transfer_wake  first SYNC_MASTER put's wake-up of the transfer half -> the half runs
    transfer_write the half runs -> its write returned (read of the log, gather, send)
    slave_wake     master's write returned -> the slave's read returned
    slave_append   slave's read -> its frames appended (CRC, commit log, dispatch)
    slave_report   appended -> report written
    master_reader  slave's report written -> the master's report reader has it
    complete       report read -> the waiting sends it covers completed
    total          put's wake-up (or the half's run) -> waits completed

Prints JSON: p50/p99/max of each step over all chains, and for the chains whose total is at
least STALL_MS (default 5) the sum of each step over them (where the stalls' time went) and
the worst ten chains. T0_S/T1_S (wall-clock seconds) keep only writes in that window.
"""
import bisect
import json
import re
import sys

LINE = re.compile(r"ha_trace: (tw|ack|sr) ([-\d ]+)")
STEPS = ["transfer_wake", "transfer_write", "slave_wake", "slave_append", "slave_report",
         "master_reader", "complete", "total"]


def lines(path):
    out = {"tw": [], "ack": [], "sr": []}
    with open(path, errors="replace") as f:
        for l in f:
            m = LINE.search(l)
            if m:
                out[m.group(1)].append([int(x) for x in m.group(2).split()])
    return out


def first_at_least(rows, key_idx, value, keys):
    """The first row (in log order) whose key_idx field is >= value (keys: running max)."""
    i = bisect.bisect_left(keys, value)
    return rows[i] if i < len(rows) else None


def running_max(rows, idx):
    out, m = [], -1
    for r in rows:
        m = max(m, r[idx])
        out.append(m)
    return out


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))], 3) if xs else None


def main():
    m, s = lines(sys.argv[1]), lines(sys.argv[2])
    stall_ms = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    t0 = float(sys.argv[4]) * 1e6 if len(sys.argv) > 5 else None
    t1 = float(sys.argv[5]) * 1e6 if len(sys.argv) > 5 else None
    acks, srs = m["ack"], s["sr"]
    ack_keys, sr_keys = running_max(acks, 0), running_max(srs, 0)
    chains = []
    for frm, to, notified, woke, written in m["tw"]:
        if t0 is not None and not t0 <= woke < t1:
            continue
        sr = first_at_least(srs, 0, to, sr_keys)
        ack = first_at_least(acks, 0, to, ack_keys)
        if sr is None or ack is None:
            continue
        _, read, appended, sent = sr
        _, received, done, waiters = ack
        start = notified if notified > 0 else woke
        c = {
            "to": to, "bytes": to - frm, "waiters": waiters,
            "transfer_wake": (woke - notified) / 1e3 if notified > 0 else 0.0,
            "transfer_write": (written - woke) / 1e3,
            "slave_wake": max(0, read - written) / 1e3,
            "slave_append": (appended - read) / 1e3,
            "slave_report": (sent - appended) / 1e3,
            "master_reader": max(0, received - sent) / 1e3,
            "complete": (done - received) / 1e3,
            "total": (done - start) / 1e3,
            "at_s": start / 1e6,
        }
        chains.append(c)
    stalls = [c for c in chains if c["total"] >= stall_ms]
    res = {
        "chains": len(chains),
        "steps_ms": {k: {"p50": pct([c[k] for c in chains], 50), "p99": pct([c[k] for c in chains], 99),
                         "max": pct([c[k] for c in chains], 100)} for k in STEPS},
        "stall_ms": stall_ms,
        "stalls": len(stalls),
        "stall_time_ms": {k: round(sum(c[k] for c in stalls), 1) for k in STEPS},
        "worst": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in c.items()}
                  for c in sorted(chains, key=lambda c: -c["total"])[:10]],
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
