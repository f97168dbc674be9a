"""RocketMQ 5.x Python SDK (PyPI rocketmq-python-client 5.1.2) against rmq's gRPC endpoint with
aclEnable=true: the `authorization` header (MQv2-HMAC-SHA1) is accepted and refused exactly as
plain_acl.yml says.

Usage: sdk5_acl.py ENDPOINT TOPIC DENY_TOPIC AK SK [CA_PEM] (scripts/interop-acl.sh sets it
up: the account may PUB|SUB TOPIC, is DENY on DENY_TOPIC, SUB on groups). With CA_PEM every
client uses TLS (`tls_enable=True`; the SDK trusts only grpcio's roots, so the caller points
GRPC_DEFAULT_SSL_ROOTS_FILE_PATH at the same CA). Every case raises on failure; exit 0 means
all passed.
"""
import sys
import time
import uuid

import grpc
from rocketmq import ClientConfiguration, Credentials, FilterExpression, Message, Producer, SimpleConsumer
from rocketmq.grpc_protocol import definition_pb2 as pb, service_pb2 as spb
from rocketmq.grpc_protocol import MessagingServiceStub
from rocketmq.v5.util.signature import Signature

EP, TOPIC, DENY, AK, SK = sys.argv[1:6]
CA = sys.argv[6] if len(sys.argv) > 6 else None
TLS = CA is not None
MODE = "TLS" if TLS else "plaintext"


def conf(ak, sk):
    return ClientConfiguration(EP, Credentials(ak, sk), request_timeout=5)


def msg(topic, body):
    m = Message()
    m.topic = topic
    m.body = body.encode()
    m.tag = "acl"
    return m


def send(ak, sk, topic, body):
    p = Producer(conf(ak, sk), tls_enable=TLS)
    p.startup()
    try:
        return p.send(msg(topic, body))
    finally:
        p.shutdown()


def raw(ak, sk, topic):
    """QueryRoute and SendMessage with the SDK's own headers (its Signature.metadata) over the
    SDK's generated stub: the statuses, which the SDK itself only logs."""
    md = Signature.metadata(conf(ak, sk), "acl-raw-" + uuid.uuid4().hex)
    if TLS:
        with open(CA, "rb") as f:
            ch = grpc.secure_channel(EP, grpc.ssl_channel_credentials(f.read()))
    else:
        ch = grpc.insecure_channel(EP)
    with ch:
        stub = MessagingServiceStub(ch)
        r = stub.QueryRoute(spb.QueryRouteRequest(topic=pb.Resource(name=topic)), metadata=md, timeout=10)
        m = pb.Message(topic=pb.Resource(name=topic), body=b"raw")
        s = stub.SendMessage(spb.SendMessageRequest(messages=[m]), metadata=md, timeout=10)
    return (r.status.code, r.status.message), (s.status.code, s.status.message)


def refused(name, ak, sk, topic, reason):
    for rpc, (code, text) in zip(("QueryRoute", "SendMessage"), raw(ak, sk, topic)):
        if code != pb.Code.UNAUTHORIZED or reason not in text:
            raise AssertionError(f"{name}: {rpc} answered {code} {text!r}, want 40100 with {reason!r}")
    try:
        r = send(ak, sk, topic, "refused-" + name)
    except Exception as e:  # the SDK raises once its route query is refused
        print(f"PASS python {MODE} {name} refused: 40100 {reason!r}; SDK send raised ({str(e)[:80]})")
        return
    raise AssertionError(f"{name}: SDK send was accepted: {r}")


body = "acl-" + uuid.uuid4().hex
r = send(AK, SK, TOPIC, body)
print(f"PASS python {MODE} signed send ({r.message_id})")

group = "AclPyGroup"
c = SimpleConsumer(conf(AK, SK), group, {TOPIC: FilterExpression("*")}, await_duration=5, tls_enable=TLS)
c.startup()
try:
    until, seen = time.time() + 40, False
    while not seen and time.time() < until:
        for m in c.receive(16, 15):
            c.ack(m)
            seen = seen or m.body.decode() == body
finally:
    c.shutdown()
if not seen:
    raise AssertionError("signed simple consumer did not receive the message")
print(f"PASS python {MODE} signed receive + ack")

refused("wrong secret", AK, SK + "x", TOPIC, f"Check signature failed for accessKey={AK}")
refused("unknown key", "NoSuchKey1", SK, TOPIC, "No acl config for NoSuchKey1")
refused("unsigned", "", "", TOPIC, "No acl config for")
refused("DENY topic", AK, SK, DENY, f"No default permission for topic:{DENY}")
print(f"sdk5_acl ok ({MODE})")
