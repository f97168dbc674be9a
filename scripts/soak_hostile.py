#!/usr/bin/env python3
"""Hostile RocketMQ-protocol and HTTP clients for scripts/soak.sh (one mode per process).

    soak_hostile.py MODE HOST:PORT SECONDS

Each mode repeats its abuse in rounds until SECONDS have passed, then exits 0; it prints one
line per round (`mode round N: ...`) so the soak log shows what happened. Every round closes
its own sockets. Modes (issue 16's rows):
  stalled-headers  200 connections announce a 16 MiB frame and send nothing more (B3)
  never-read       pipeline 300 GET_ALL_TOPIC_CONFIG, never read the answers (B5)
  conn-flood       open idle connections until refused, hold them, close (R3)
  parked-pulls     20,000 long-polling pulls on one connection (R4)
  group-heartbeat  one HEART_BEAT naming the same 5,000 groups every round (B2)
  garbage          malformed frames: huge/negative lengths, bad header, random bytes
  http-slow        300 half-sent HTTP requests (B11)
"""
import json
import os
import random
import socket
import struct
import sys
import time


def frame(code, ext=None, body=b"", opaque=1, flag=0):
    header = json.dumps(
        {
            "code": code,
            "language": "JAVA",
            "version": 397,
            "opaque": opaque,
            "flag": flag,
            "extFields": {k: str(v) for k, v in (ext or {}).items()},
        }
    ).encode()
    return struct.pack(">ii", 4 + len(header) + len(body), len(header)) + header + body


def connect(addr, rcvbuf=None):
    host, port = addr.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect((host, int(port)))
    return s


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def stalled_headers(addr, rnd):
    socks = []
    for _ in range(200):
        s = connect(addr)
        s.sendall(struct.pack(">i", 16 * 1024 * 1024))
        socks.append(s)
    time.sleep(5)
    close_all(socks)
    return "200 connections held 5 s after a 16 MiB length"


def never_read(addr, rnd):
    s = connect(addr, rcvbuf=4096)
    s.settimeout(30)
    wire = b"".join(frame(21, opaque=i + 1) for i in range(300))  # GET_ALL_TOPIC_CONFIG
    s.sendall(wire)
    time.sleep(10)
    closed = False
    try:
        s.setblocking(False)
        s.recv(1)
    except BlockingIOError:
        pass
    except OSError:
        closed = True
    s.close()
    return "300 pipelined requests never read" + (" (closed by the server)" if closed else "")


def conn_flood(addr, rnd):
    socks, refused = [], 0
    for _ in range(3000):
        try:
            socks.append(connect(addr))
        except OSError:
            refused += 1
            break
    # The server accepts (and closes) the ones past its cap at its own pace: look after 5 s.
    time.sleep(5)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    close_all(socks)
    return f"{len(socks)} idle connections opened, {closed} closed by the server within 5 s"


def parked_pulls(addr, rnd):
    s = connect(addr)
    s.settimeout(10)
    ext = {
        "consumerGroup": "SoakParkG",
        "topic": "SoakEmpty",
        "queueId": 0,
        "queueOffset": 0,
        "maxMsgNums": 32,
        "sysFlag": 2 | 4,  # suspend + subscription
        "commitOffset": 0,
        "suspendTimeoutMillis": 20000,
        "subscription": "*",
        "subVersion": 0,
        "expressionType": "TAG",
    }
    wire = b"".join(frame(11, ext, opaque=i + 1) for i in range(20000))
    s.sendall(wire)
    got, buf = 0, b""
    deadline = time.time() + 8
    while time.time() < deadline:
        try:
            chunk = s.recv(1 << 16)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 4:
            n = struct.unpack(">i", buf[:4])[0]
            if len(buf) < 4 + n:
                break
            buf = buf[4 + n :]
            got += 1
    s.close()
    return f"20000 long-polling pulls, {got} answered at once"


def group_heartbeat(addr, rnd):
    body = json.dumps(
        {
            "clientID": "soak-hostile",
            "producerDataSet": [],
            "consumerDataSet": [
                {
                    "groupName": f"SoakG-{i}",
                    "consumeType": "CONSUME_PASSIVELY",
                    "messageModel": "CLUSTERING",
                    "consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET",
                    "subscriptionDataSet": [],
                    "unitMode": False,
                }
                for i in range(5000)
            ],
        }
    ).encode()
    s = connect(addr)
    s.settimeout(60)
    t0 = time.time()
    s.sendall(frame(34, body=body))
    ok = False
    try:
        ok = len(s.recv(8)) > 0
    except OSError:
        pass
    s.close()
    return f"5,000-group heartbeat answered={ok} in {time.time() - t0:.2f} s"


def garbage(addr, rnd):
    samples = [
        struct.pack(">i", 0x7FFFFFFF) + b"xxxx",
        struct.pack(">i", -5),
        struct.pack(">ii", 20, 0x7F000000) + os.urandom(16),
        struct.pack(">ii", 12, 100) + b"{not-json",
        os.urandom(4096),
    ]
    closed = 0
    for data in samples:
        s = connect(addr)
        try:
            s.sendall(data)
            if s.recv(1) == b"":
                closed += 1
        except OSError:
            closed += 1
        s.close()
    return f"{len(samples)} malformed streams, {closed} closed by the server"


def http_slow(addr, rnd):
    socks = []
    for _ in range(300):
        try:
            s = connect(addr)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        except OSError:
            break
    time.sleep(12)
    still = 0
    for s in socks:
        s.setblocking(False)
        try:
            s.recv(1)
        except BlockingIOError:
            still += 1
        except OSError:
            pass
    close_all(socks)
    return f"{len(socks)} half-sent HTTP requests, {still} still open after 12 s"


MODES = {
    "stalled-headers": stalled_headers,
    "never-read": never_read,
    "conn-flood": conn_flood,
    "parked-pulls": parked_pulls,
    "group-heartbeat": group_heartbeat,
    "garbage": garbage,
    "http-slow": http_slow,
}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    mode, addr, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    end = time.time() + secs
    rnd = 0
    while time.time() < end:
        rnd += 1
        try:
            what = MODES[mode](addr, rnd)
        except OSError as e:
            what = f"error: {e}"
        print(f"{mode} round {rnd}: {what}", flush=True)
        time.sleep(random.uniform(0.5, 2.0))


if __name__ == "__main__":
    main()
