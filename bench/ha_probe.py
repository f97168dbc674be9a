#!/usr/bin/env python3
"""Replication probe for bench/ha.sh: asks a master for GET_BROKER_RUNTIME_INFO (code 28) over
one kept-open remoting connection and reads its commit-log end and its slaves' acknowledged
offsets from the same answer.

    ha_probe.py info ADDR KEY...             print the KEYs' values, one a line
    ha_probe.py wait-info ADDR KEY REGEX SECS
                                             until the value of KEY fully matches REGEX
                                             (exit 1 after SECS)
    ha_probe.py wait-slave ADDR SECS         until the master has a connected slave that has
                                             acknowledged its whole log (exit 1 after SECS)
    ha_probe.py sample ADDR MS SECS OUT [SLAVE]
                                             every MS ms for SECS s, append a line to OUT:
                                             t_mid_s rtt_us master_max slave_acked (-1: none)
                                             and, with SLAVE, the slave's own log end (asked
                                             right after the master; -1 without SLAVE);
                                             every HIST_EVERY_S also the master's
                                             cumulative per-slave lag histogram
                                             (haSlaveAckLagHistogram) to OUT.hist
    ha_probe.py lag OUT T0 T1                summary of the samples with T0 <= t < T1 (JSON)
    ha_probe.py catchup ADDR MS SECS         poll every MS ms until a slave's acknowledged
                                             offset reaches the master's end (a log no longer
                                             written); print JSON with the wall-clock times
                                             (s) of its connection, its first progress and the
                                             catch-up; exit 1 after SECS

Lag, as `lag` computes it: a sample taken at t in which the slave has acknowledged offset A is
t - tau behind, where tau is when the master's log end first reached A (linearly interpolated
between the two samples around it). That is the age of the newest byte the slave is known to
hold, measured on the master's own timeline, without assuming a constant rate; its resolution
is the sample period. The byte lag (end - acked) is reported next to it. With SLAVE, the
same is computed for the slave's own log end ("appended" lag: the bytes it holds, acknowledged
or not), which tells a delay before the slave's append from one in its acknowledgement.

Broker-side lag (`lag` also reports it, as broker_lag_*): the master times each report itself
(broker/src/ha/lag.rs: the time since its log first reached the acknowledged offset, per
report, in an HDR histogram per slave, cumulative since the connection). `lag` diffs the
histogram readings of OUT.hist taken nearest T0 and T1 (within HIST_EVERY_S), so the figures
cover the window with the histogram's resolution (16 µs below 4 ms, 1 % above) instead of
the sample period.
"""
import json
import re
import socket
import struct
import sys
import time

RUNTIME_INFO = 28
# How often `sample` saves the master's lag histogram (a few KB a reading).
HIST_EVERY_S = 0.05


class Broker:
    """One remoting connection; requests are sent one at a time, so answers come in order."""

    def __init__(self, addr, timeout=5.0):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.opaque = 0

    def _read(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return bytes(buf)

    def runtime_info(self):
        """The master's KvTable as a dict (a JSON header, serialize type 0)."""
        self.opaque += 1
        header = json.dumps({"code": RUNTIME_INFO, "language": "PYTHON", "version": 0,
                             "opaque": self.opaque, "flag": 0, "extFields": {}}).encode()
        self.sock.sendall(struct.pack(">ii", 4 + len(header), len(header)) + header)
        total, hlen = struct.unpack(">ii", self._read(8))
        hlen &= 0xFFFFFF
        head = json.loads(self._read(hlen))
        body = self._read(total - 4 - hlen)
        if head.get("code") != 0:
            raise RuntimeError(f"runtime info refused: {head.get('code')} {head.get('remark')}")
        return json.loads(body)["table"]


def offsets(table):
    """(master max offset, best acknowledged offset of its slaves or -1, connected slaves)."""
    end = int(table.get("commitLogMaxOffset", "0"))
    acked = [int(s.rsplit(":", 2)[1]) for s in table.get("haSlaves", "").split(";") if s]
    return end, max(acked, default=-1), len(acked)


def cmd_info(addr, *keys):
    t = Broker(addr).runtime_info()
    for k in keys:
        print(t.get(k, ""))


def cmd_wait_info(addr, key, regex, secs):
    deadline, seen = time.monotonic() + float(secs), None
    while time.monotonic() < deadline:
        try:
            seen = Broker(addr).runtime_info().get(key, "")
            if re.fullmatch(regex, seen):
                return 0
        except (OSError, RuntimeError) as e:
            seen = f"({e})"
        time.sleep(0.05)
    print(f"{addr}: {key} = {seen!r}, not {regex!r} within {secs} s", file=sys.stderr)
    return 1


def cmd_wait_slave(addr, secs):
    b, deadline = Broker(addr), time.monotonic() + float(secs)
    while time.monotonic() < deadline:
        end, acked, n = offsets(b.runtime_info())
        if n and acked >= end:
            return 0
        time.sleep(0.02)
    print(f"no caught-up slave on {addr} within {secs} s", file=sys.stderr)
    return 1


def cmd_sample(addr, ms, secs, out, slave_addr=None):
    b, period = Broker(addr), float(ms) / 1000
    s = Broker(slave_addr) if slave_addr else None
    deadline = time.monotonic() + float(secs)
    nxt = time.monotonic()
    hist_next = 0.0
    with open(out, "a") as f, open(out + ".hist", "a") as fh:
        while nxt < deadline:
            t0 = time.time()
            table = b.runtime_info()
            t1 = time.time()
            end, acked, _ = offsets(table)
            held = offsets(s.runtime_info())[0] if s else -1
            f.write(f"{(t0 + t1) / 2:.6f} {int((t1 - t0) * 1e6)} {end} {acked} {held}\n")
            if t1 >= hist_next and table.get("haSlaveAckLagHistogram"):
                fh.write(f"{(t0 + t1) / 2:.6f} {table['haSlaveAckLagHistogram']}\n")
                hist_next = t1 + HIST_EVERY_S
            # A late sample moves the schedule instead of being followed by a burst.
            nxt = max(nxt + period, time.monotonic())
            time.sleep(max(0.0, nxt - time.monotonic()))
    return 0


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None


def lag_ms(rows, i, held):
    """How long before sample i the master's end first reached `held` (0 when it holds all)."""
    t, end = rows[i][0], rows[i][2]
    if held >= end:
        return 0.0
    # Walk back to the last sample whose end was below `held`: tau lies after it.
    j = i
    while j > 0 and rows[j - 1][2] >= held:
        j -= 1
    if j == 0:
        return None  # before the first sample: cannot be timed
    (ta, ea), (tb, eb) = (rows[j - 1][0], rows[j - 1][2]), (rows[j][0], rows[j][2])
    return (t - (ta + (tb - ta) * (held - ea) / (eb - ea))) * 1000


def parse_hist(listing):
    """{bucket value µs: count} of the best-served slave (most acknowledgements) of a
    `peer=v:c,...;peer=...` listing."""
    best = {}
    for part in listing.split(";"):
        _, _, buckets = part.rpartition("=")
        h = {int(v): int(c) for v, c in (b.split(":") for b in buckets.split(",") if b)}
        if sum(h.values()) > sum(best.values()):
            best = h
    return best


def broker_lag(path, t0, t1):
    """Broker-side lag over [t0, t1): the difference of the histogram readings nearest the
    window's ends (the first at or after t0, the last before t1)."""
    try:
        lines = [l.split(" ", 1) for l in open(path) if l.strip()]
    except FileNotFoundError:
        return {}
    start = next((h for t, h in lines if float(t) >= t0), None)
    end = next((h for t, h in reversed(lines) if float(t) < t1), None)
    if start is None or end is None:
        return {}
    a, b = parse_hist(start), parse_hist(end)
    d = sorted((v, c - a.get(v, 0)) for v, c in b.items() if c > a.get(v, 0))
    n = sum(c for _, c in d)
    if not n:
        return {"broker_lag_count": 0}

    def q(x):
        rank, seen = max(1, int(x * n + 0.999999)), 0
        for v, c in d:
            seen += c
            if seen >= rank:
                return round(v / 1000, 3)
    return {"broker_lag_count": n, "broker_lag_ms_p50": q(0.5), "broker_lag_ms_p99": q(0.99),
            "broker_lag_ms_max": round(d[-1][0] / 1000, 3)}


def cmd_lag(path, t0, t1):
    rows = [tuple(float(x) for x in line.split()) for line in open(path) if line.strip()]
    t0, t1 = float(t0), float(t1)
    lags_ms, lag_bytes, appended_ms, rtts, missing = [], [], [], [], 0
    for i, (t, rtt, end, acked, *rest) in enumerate(rows):
        if not t0 <= t < t1:
            continue
        rtts.append(rtt)
        if rest and rest[0] >= 0:
            a = lag_ms(rows, i, rest[0])
            if a is not None:
                appended_ms.append(a)
        if acked < 0:
            missing += 1  # no slave connected at that moment: not a lag we can time
            continue
        lag_bytes.append(max(0, end - acked))
        lag = lag_ms(rows, i, acked)
        if lag is not None:
            lags_ms.append(lag)
    inside = [r for r in rows if t0 <= r[0] < t1]
    span = inside[-1][0] - inside[0][0] if len(inside) > 1 else 0
    rate = (inside[-1][2] - inside[0][2]) / span if span else 0
    rec = {
        "samples": len(lags_ms), "no_slave_samples": missing,
        "period_ms": round(span * 1000 / max(1, len(inside) - 1), 2),
        "lag_ms_p50": pct(lags_ms, 0.5), "lag_ms_p99": pct(lags_ms, 0.99),
        "lag_ms_max": max(lags_ms, default=None),
        "lag_bytes_p50": pct(lag_bytes, 0.5), "lag_bytes_p99": pct(lag_bytes, 0.99),
        "lag_bytes_max": max(lag_bytes, default=None),
        "appended_ms_p50": pct(appended_ms, 0.5), "appended_ms_p99": pct(appended_ms, 0.99),
        "appended_ms_max": max(appended_ms, default=None),
        "log_mb_s": round(rate / 1e6, 1),
        "probe_rtt_us_p50": pct(rtts, 0.5), "probe_rtt_us_p99": pct(rtts, 0.99),
    }
    rec.update(broker_lag(path + ".hist", t0, t1))
    for k in ("lag_ms_p50", "lag_ms_p99", "lag_ms_max", "appended_ms_p50", "appended_ms_p99",
              "appended_ms_max"):
        if rec[k] is not None:
            rec[k] = round(rec[k], 3)
    print(json.dumps(rec))
    return 0


def cmd_catchup(addr, ms, secs):
    b, period = Broker(addr), float(ms) / 1000
    deadline = time.monotonic() + float(secs)
    connected = progress = acked0 = None
    while time.monotonic() < deadline:
        end, acked, n = offsets(b.runtime_info())
        now = time.time()
        if n and connected is None:
            connected, acked0 = now, acked
        if n and progress is None and acked > acked0:
            progress = now
        if n and acked >= end:
            print(json.dumps({"end": end, "connected_t": connected, "progress_t": progress,
                              "done_t": now, "acked_at_connect": acked0}))
            return 0
        time.sleep(period)
    print(f"slave of {addr} not caught up within {secs} s", file=sys.stderr)
    return 1


def main(argv):
    cmds = {"info": cmd_info, "wait-info": cmd_wait_info, "wait-slave": cmd_wait_slave,
            "sample": cmd_sample,
            "lag": cmd_lag, "catchup": cmd_catchup}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.exit(__doc__)
    try:
        return cmds[argv[1]](*argv[2:]) or 0
    except TypeError:
        sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
