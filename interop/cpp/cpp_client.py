#!/usr/bin/env python3
"""Interop test: rocketmq-client-cpp 1.x (through PyPI `rocketmq` 0.4.4, which bundles
librocketmq.so) against our mqnamesrv + mqbroker.

This is a second, independent real client (C++ core, not JavaScript like ali-ons). It sends
enums as ordinals in HEART_BEAT, `"subVersion"` as a string, codeSet as atoi(tag) and
booleans as "0"/"1" in SEND_MESSAGE: the broker must accept all of that, as Java does.

Usage: cpp_client.py NAMESRV TOPIC   (the topic must exist; scripts/interop-cpp.sh creates it)
Prints one PASS/FAIL line per case and exits non-zero if any case failed. Every wait is
bounded (TIMEOUT_S, default 60 s).
"""
import os
import sys
import threading
import time

from rocketmq.client import Message, Producer, PullConsumer, PushConsumer, SendStatus

NS, TOPIC = sys.argv[1], sys.argv[2]
TIMEOUT_S = float(os.environ.get("TIMEOUT_S", "60"))
RUN = str(os.getpid())
results = []


def case(name, ok, detail=""):
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name + (": " + detail if detail else ""), flush=True)


def message(body, tag, key, delay=None):
    m = Message(TOPIC)
    m.set_tags(tag)
    m.set_keys(key)
    m.set_body(body)
    m.set_property("run", RUN)
    if delay:
        m.set_delay_time_level(delay)
    return m


def prop(msg, key):
    """A user property as str (the binding returns bytes or None)."""
    v = msg.get_property(key)
    return v.decode() if isinstance(v, bytes) else v


def push_consume(group, expression, want, on_message=None):
    """Start a push consumer, collect bodies until `want(bodies)` is true or the timeout."""
    got = {}
    lock = threading.Lock()
    done = threading.Event()

    def callback(msg):
        if on_message:
            on_message(msg)  # may raise: the client then asks for redelivery
        # The binding's message handle is only valid inside the callback: copy what we check.
        snap = {
            "body": msg.body.decode(), "tags": msg.tags.decode(), "keys": msg.keys.decode(),
            "run": prop(msg, "run"), "queue_id": msg.queue_id, "queue_offset": msg.queue_offset,
            "reconsume_times": msg.reconsume_times, "born": msg.born_timestamp, "stored": msg.store_timestamp,
        }
        if snap["run"] != RUN:
            if os.environ.get("DEBUG_MISSING"):
                print("    other run: %r" % snap, flush=True)
            return
        with lock:
            got.setdefault(snap["body"], []).append(snap)
            if want(got):
                done.set()

    c = PushConsumer(group)
    c.set_namesrv_addr(NS)
    c.subscribe(TOPIC, callback, expression)
    c.start()
    done.wait(TIMEOUT_S)
    c.shutdown()
    return got


def main():
    p = Producer("cpp_interop_pg_" + RUN)
    p.set_namesrv_addr(NS)
    p.start()

    # 1. Synchronous sends with tags, keys and a user property.
    n = 40
    statuses = [p.send_sync(message("sync-%d" % i, "TagA" if i % 2 == 0 else "TagB", "key-%s-%d" % (RUN, i))).status
                for i in range(n)]
    case("send_sync x%d" % n, all(s == SendStatus.OK for s in statuses), "statuses %s" % set(statuses))

    # 2. Oneway, batch and orderly sends.
    for i in range(5):
        p.send_oneway(message("oneway-%d" % i, "TagA", "ow-%d" % i))
    batch = p.send_batch([message("batch-%d" % i, "TagA", "b-%d" % i) for i in range(8)])
    case("send_batch x8", batch.status == SendStatus.OK, str(batch.status))
    orderly = [p.send_orderly(message("order-%d" % i, "TagA", "o-%d" % i), 7).status for i in range(5)]
    case("send_orderly x5", all(s == SendStatus.OK for s in orderly))

    # 3. A delayed message (level 2 = 5 s), and a RocketMQ 5 timer message (the property
    #    TIMER_DELIVER_MS, 3 s ahead) delivered while we wait for it.
    sent_delay = time.time()
    p.send_sync(message("delayed", "TagD", "d-" + RUN, delay=2))
    timer_due_ms = int(time.time() * 1000) + 3000
    t = message("timer", "TagD", "t-" + RUN)
    t.set_property("TIMER_DELIVER_MS", str(timer_due_ms))
    p.send_sync(t)
    p.shutdown()

    # 4. Push consumer, new group, tag filter "TagA": every TagA message arrives, no TagB one.
    want_a = {"sync-%d" % i for i in range(0, n, 2)} | {"oneway-%d" % i for i in range(5)} \
        | {"batch-%d" % i for i in range(8)} | {"order-%d" % i for i in range(5)}
    got = push_consume("cpp_interop_cg_" + RUN, "TagA", lambda g: want_a <= set(g))
    missing = want_a - set(got)
    stray = {b for b in got if b.startswith("sync-") and int(b[5:]) % 2 == 1}
    if missing and os.environ.get("DEBUG_MISSING"):
        print("    got: %s" % sorted(got)[:50], flush=True)
    case("push consumer TagA receives all %d TagA messages" % len(want_a), not missing, "missing %s" % sorted(missing)[:5])
    case("tag filter drops TagB", not stray, "got %s" % sorted(stray)[:5])
    sample = got.get("sync-0", [None])[0]
    case("keys/tags/properties round trip", sample is not None and sample["tags"] == "TagA"
         and sample["keys"] == "key-%s-0" % RUN and sample["run"] == RUN, repr(sample))
    orders = [got[b][0]["queue_offset"] for b in ("order-%d" % i for i in range(5)) if b in got]
    queues = {got[b][0]["queue_id"] for b in ("order-%d" % i for i in range(5)) if b in got}
    case("orderly sends share one queue in order", len(queues) == 1 and orders == sorted(orders), "queues %s" % queues)

    # 5. The delayed message arrives no earlier than its level (5 s).
    got_d = push_consume("cpp_interop_delay_" + RUN, "TagD", lambda g: "delayed" in g and "timer" in g)
    if "timer" in got_d:
        m = got_d["timer"][0]
        case("timer message stored in its topic at or after TIMER_DELIVER_MS", m["stored"] >= timer_due_ms,
             "%d ms after its time" % (m["stored"] - timer_due_ms))
    else:
        case("timer message delivered", False, "not received in %d s" % TIMEOUT_S)
    if "delayed" in got_d:
        m = got_d["delayed"][0]
        # The broker re-stores a due message in its topic: store time - born time = the delay.
        waited = (m["stored"] - m["born"]) / 1000.0
        case("delay level 2 delivered after >= 4.5 s", waited >= 4.5, "after %.2f s" % waited)
    else:
        case("delay level 2 delivered", False, "not received in %d s" % TIMEOUT_S)

    # 6. A failing handler gets the message again (retry through the broker).
    failures = {"n": 0}

    def fail_first(msg):
        if msg.body.decode() == "sync-1" and prop(msg, "run") == RUN and msg.reconsume_times == 0:
            failures["n"] += 1
            raise RuntimeError("fail the first delivery")

    got_r = push_consume("cpp_interop_retry_" + RUN, "TagB", lambda g: "sync-1" in g, on_message=fail_first)
    redelivered = got_r.get("sync-1", [])
    case("failed message is redelivered", failures["n"] >= 1 and any(m["reconsume_times"] >= 1 for m in redelivered),
         "failures %d, deliveries %d" % (failures["n"], len(redelivered)))

    # 7. Pull consumer reads the TagB messages back.
    pc = PullConsumer("cpp_interop_pull_" + RUN)
    pc.set_namesrv_addr(NS)
    pc.start()
    pulled = set()
    deadline = time.time() + TIMEOUT_S
    want_b = {"sync-%d" % i for i in range(1, n, 2)}
    for msg in pc.pull(TOPIC, "TagB"):
        if prop(msg, "run") == RUN:
            pulled.add(msg.body.decode())
        if want_b <= pulled or time.time() > deadline:
            break
    pc.shutdown()
    case("pull consumer reads the %d TagB messages" % len(want_b), want_b <= pulled, "missing %s" % sorted(want_b - pulled)[:5])

    failed = results.count(False)
    print("%d passed, %d failed" % (len(results) - failed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
