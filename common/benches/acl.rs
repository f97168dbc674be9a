//! Cost of ACL per request: the signature check over a 1 KiB body (HMAC-SHA1 of the header
//! values and body) and the whole `AclValidator::check` of a signed SEND_MESSAGE_V2, against
//! a decoded frame as the broker sees it. `cargo bench -p mq-common --bench acl`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use mq_common::acl::{verify, AclValidator, Credentials, PlainAcl, Role};
use mq_common::protocol::{frame, RemotingCommand};

fn signed_send() -> RemotingCommand {
    let mut cmd = RemotingCommand::request(310);
    for (k, v) in [
        ("a", "PG"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "8"),
        ("e", "3"),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", "UNIQ_KEY\u{1}7F0000012A3B4C5D6E7F8091A2B3\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}"),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
    ] {
        cmd.ext_fields.insert_str(k, v);
    }
    cmd.body = vec![b'x'; 1024].into();
    Credentials::new("RocketMQ", "12345678").sign(&mut cmd);
    // Through the wire codec, as the broker receives it.
    let mut buf = bytes::BytesMut::new();
    frame::encode(&cmd, &mut buf);
    frame::decode(&mut buf, 1 << 24).unwrap().unwrap()
}

fn bench(c: &mut Criterion) {
    let cmd = signed_send();
    c.bench_function("verify signature, 12 fields + 1 KiB body", |b| {
        b.iter(|| assert!(verify(b"12345678", &cmd.ext_fields, &cmd.body)))
    });
    let acl = PlainAcl::parse(
        "accounts:\n  - {accessKey: RocketMQ, secretKey: '12345678', topicPerms: [TopicTest=PUB]}\n",
    )
    .unwrap();
    let v = AclValidator::new(
        Role::Broker,
        Arc::new(arc_swap::ArcSwap::from_pointee(acl)),
        "RMQ_SYS_TRACE_TOPIC",
    );
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    c.bench_function("AclValidator::check, signed SEND_MESSAGE_V2 1 KiB", |b| {
        b.iter(|| v.check(&cmd, ip).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
