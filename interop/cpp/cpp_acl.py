#!/usr/bin/env python3
"""ACL interop: rocketmq-client-cpp 1.x (PyPI `rocketmq` 0.4.4) signing with
`set_session_credentials(ak, sk, "ALIYUN")` against our name server and broker started with
aclEnable=true (scripts/interop-acl.sh writes the plain_acl.yml).

Usage: cpp_acl.py NAMESRV TOPIC DENY_TOPIC USER_AK USER_SK
Cases: signed sync send and push consume allowed; a DENY topic, a wrong secret, and no
credentials at all (this wheel then still signs, with AccessKey "") refused with Java's
AclException text. Prints PASS/FAIL per case; exits non-zero if any failed.
"""
import os
import sys
import threading
import time

from rocketmq.client import Message, Producer, PushConsumer, SendStatus

NS, TOPIC, DENY, AK, SK = sys.argv[1:6]
TIMEOUT_S = float(os.environ.get("TIMEOUT_S", "60"))
RUN = str(os.getpid())
results = []


def case(name, ok, detail=""):
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name + (": " + detail if detail else ""), flush=True)


def producer(name, creds):
    p = Producer("cpp_acl_%s_%s" % (name, RUN))
    p.set_namesrv_addr(NS)
    if creds:
        p.set_session_credentials(creds[0], creds[1], "ALIYUN")
    p.start()
    return p


def msg(topic, body):
    m = Message(topic)
    m.set_tags("TagA")
    m.set_keys("k-" + body)
    m.set_body(body)
    return m


def client_log():
    """Everything the C++ client logged so far (it writes under $HOME/logs/rocketmq-cpp)."""
    root = os.path.join(os.environ.get("HOME", "."), "logs", "rocketmq-cpp")
    text = ""
    for dirpath, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(dirpath, f), errors="replace") as fh:
                text += fh.read()
    return text


def refused(p, topic, want):
    """Send one message that must fail; True when the broker's refusal `want` reached the
    client. The client retries a SYSTEM_ERROR and then raises a generic "No route info"
    error, but logs each response's remark: look for `want` there (bounded wait, the log is
    written asynchronously)."""
    try:
        r = p.send_sync(msg(topic, "refused"))
        return False, "not refused: %s" % r.status
    except Exception as e:  # the binding raises on a non-OK response
        raised = str(e)
    deadline = time.time() + 10
    while time.time() < deadline:
        if "AclException: " + want in client_log():
            return True, want
        time.sleep(0.2)
    return False, "raised %r; %r not in the client log" % (raised[:200], want)


def main():
    p = producer("user", (AK, SK))
    n = 10
    ok = [p.send_sync(msg(TOPIC, "acl-%d" % i)).status == SendStatus.OK for i in range(n)]
    case("signed send_sync x%d allowed" % n, all(ok))
    case("DENY topic refused", *refused(p, DENY, "No default permission for topic:" + DENY))
    p.shutdown()

    got = set()
    lock = threading.Lock()

    def callback(m):
        with lock:
            got.add(m.body.decode())
        # returning normally acknowledges the message

    c = PushConsumer("cpp_acl_cg_" + RUN)
    c.set_namesrv_addr(NS)
    c.set_session_credentials(AK, SK, "ALIYUN")
    c.subscribe(TOPIC, callback, "*")
    c.start()
    want = {"acl-%d" % i for i in range(n)}
    deadline = time.time() + TIMEOUT_S
    while time.time() < deadline:
        with lock:
            if want <= got:
                break
        time.sleep(0.2)
    c.shutdown()
    case("signed push consumer receives all %d" % n, want <= got, "missing %s" % sorted(want - got)[:5])

    wrong = producer("wrong", (AK, "not-the-secret"))
    case("wrong secret refused", *refused(wrong, TOPIC, "Check signature failed for accessKey=" + AK))
    wrong.shutdown()

    none = producer("none", None)
    # The 0.4.4 wheel always signs; without credentials it sends AccessKey "" (spec §2.8).
    case("no credentials refused", *refused(none, TOPIC, "No acl config for ,"))
    none.shutdown()
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
