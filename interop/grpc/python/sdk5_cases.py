"""RocketMQ 5.x Python SDK (PyPI rocketmq-python-client 5.1.2) against rmq's gRPC endpoint.

Usage: sdk5_cases.py ENDPOINT PREFIX [CASE...]; topics PREFIX_Normal, _Fifo, _Delay, _Tx,
_Push and the orderly group PREFIX_GFifo must exist (scripts/interop-grpc.sh creates them).
Every case raises on failure; exit 0 means all passed. Waits are bounded (polls with a
deadline).
"""
import sys
import threading
import time

from rocketmq import (ClientConfiguration, ConsumeResult, Credentials, FilterExpression,
                      Message, MessageListener, Producer, PushConsumer, SimpleConsumer,
                      TransactionChecker, TransactionResolution)

EP, PREFIX = sys.argv[1], sys.argv[2]
ONLY = set(sys.argv[3:])


def conf():
    return ClientConfiguration(EP, Credentials(), request_timeout=5)


def msg(topic, body, tag="TagA", keys=None, group=None, deliver_at_s=None):
    m = Message()
    m.topic = topic
    m.body = body.encode()
    m.tag = tag
    if keys:
        m.keys = keys
    if group:
        m.message_group = group
    if deliver_at_s:
        m.delivery_timestamp = deliver_at_s  # 5.1.2 writes it into Timestamp.seconds
    m.add_property("case", "py")
    return m


def drain(topic, group, want, timeout=40, nack_first=False, expr="*", arrivals=None):
    """Simple consumer: receive until `want` distinct bodies were acked; returns them with
    their delivery attempts. With nack_first the first message is nacked once (1 s). With an
    `arrivals` dict, each body's first receipt time (epoch s) is recorded there."""
    c = SimpleConsumer(conf(), group, {topic: FilterExpression(expr)}, await_duration=5)
    c.startup()
    got, nacked = {}, False
    try:
        until = time.time() + timeout
        while len(got) < want and time.time() < until:
            for m in c.receive(16, 15):
                body = m.body.decode()
                # The SDK verified the body digest the broker chose for it (CRC32 or MD5).
                assert not m.corrupted, f"{topic}: {body}: the SDK rejected its body digest"
                if arrivals is not None:
                    arrivals.setdefault(body, time.time())
                if nack_first and not nacked:
                    c.change_invisible_duration(m, 1)
                    nacked = True
                    continue
                c.ack(m)
                got[body] = m.delivery_attempt
    finally:
        c.shutdown()
    if len(got) < want:
        raise AssertionError(f"{topic}/{group}: got {len(got)} of {want}: {got}")
    return got


def case_normal():
    t = f"{PREFIX}_Normal"
    p = Producer(conf(), (t,))
    p.startup()
    ids = [p.send(msg(t, f"n{i}", keys=f"k{i}")).message_id for i in range(10)]
    p.shutdown()
    assert len(set(ids)) == 10, ids
    got = drain(t, f"{PREFIX}_GNormal", 10)
    assert set(got) == {f"n{i}" for i in range(10)}, got


def case_simple_nack():
    t = f"{PREFIX}_Normal"
    p = Producer(conf(), (t,))
    p.startup()
    p.send(msg(t, "nack-me", tag="Nack"))
    p.shutdown()
    got = drain(t, f"{PREFIX}_GNack", 1, nack_first=True, expr="Nack")
    assert got == {"nack-me": 2}, got


def case_fifo_push():
    t = f"{PREFIX}_Fifo"
    p = Producer(conf(), (t,))
    p.startup()
    for g in ("a", "b"):
        for i in range(10):
            p.send(msg(t, f"{g}{i}", group=f"order-{g}"))
    p.shutdown()
    seen, lock, failed_once = {"a": [], "b": []}, threading.Lock(), set()

    class L(MessageListener):
        def consume(self, m):
            body = m.body.decode()
            with lock:
                # One local failure on a3: the SDK retries it in place; order must still hold.
                if body == "a3" and body not in failed_once:
                    failed_once.add(body)
                    return ConsumeResult.FAILURE
                seen[body[0]].append(int(body[1:]))
            return ConsumeResult.SUCCESS

    c = PushConsumer(conf(), f"{PREFIX}_GFifo", L(), {t: FilterExpression("*")})
    c.startup()
    try:
        until = time.time() + 40
        while time.time() < until:
            with lock:
                if all(len(v) >= 10 for v in seen.values()):
                    break
            time.sleep(0.2)
    finally:
        c.shutdown()
    for g, v in seen.items():
        assert v[:10] == list(range(10)), f"group {g} out of order: {v}"


def case_push_retry():
    t = f"{PREFIX}_Push"
    p = Producer(conf(), (t,))
    p.startup()
    p.send(msg(t, "retry-me"))
    p.shutdown()
    attempts, lock = [], threading.Lock()

    class L(MessageListener):
        def consume(self, m):
            with lock:
                attempts.append(m.delivery_attempt)
                return ConsumeResult.FAILURE if len(attempts) == 1 else ConsumeResult.SUCCESS

    c = PushConsumer(conf(), f"{PREFIX}_GPush", L(), {t: FilterExpression("*")})
    c.startup()
    try:
        until = time.time() + 40
        while time.time() < until:
            with lock:
                if len(attempts) >= 2:
                    break
            time.sleep(0.2)
    finally:
        c.shutdown()
    assert attempts[:2] == [1, 2], attempts


def case_delay():
    t = f"{PREFIX}_Delay"
    p = Producer(conf(), (t,))
    p.startup()
    due = int(time.time()) + 3
    p.send(msg(t, "later", deliver_at_s=due))
    p.shutdown()
    arrivals = {}
    got = drain(t, f"{PREFIX}_GDelay", 1, timeout=60, arrivals=arrivals)
    # Not delivered before its timestamp, less the timer's precision (timerPrecisionMs, 1 s:
    # a slot's messages are due at the slot's start, as Apache's wheel).
    early = due - arrivals["later"]
    assert got == {"later": 1} and early <= 1.0, (got, f"delivered {early:.3f} s early")


class Commit(TransactionChecker):
    def check(self, message):
        return TransactionResolution.COMMIT


def case_transactions():
    t = f"{PREFIX}_Tx"
    p = Producer(conf(), (t,), checker=Commit())
    p.startup()
    tx = p.begin_transaction()
    p.send(msg(t, "commit"), tx)
    tx.commit()
    tx = p.begin_transaction()
    p.send(msg(t, "rollback"), tx)
    tx.rollback()
    tx = p.begin_transaction()
    p.send(msg(t, "checked"), tx)  # left open: the broker's check asks the checker above
    try:
        got = drain(t, f"{PREFIX}_GTx", 2, timeout=60)
    finally:
        p.shutdown()
    assert set(got) == {"commit", "checked"}, got


CASES = [case_normal, case_simple_nack, case_fifo_push, case_push_retry, case_delay,
         case_transactions]

if __name__ == "__main__":
    failures = 0
    for case in CASES:
        if ONLY and case.__name__ not in ONLY:
            continue
        t0 = time.time()
        try:
            case()
            print(f"ok   python {case.__name__} ({time.time() - t0:.1f} s)", flush=True)
        except Exception as e:  # report every case, then fail
            failures += 1
            print(f"FAIL python {case.__name__}: {e!r}", flush=True)
    sys.exit(1 if failures else 0)
