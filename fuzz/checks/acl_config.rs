//! Fuzz the access-control inputs: `plain_acl.yml` text (read from disk on every reload),
//! address patterns, the gRPC `authorization` header, and the per-request check over a
//! decoded frame (signature, resources, heartbeat body). None may panic; a file that parses
//! must give accounts that pass the file's own length rules.
//!
//! Shared by the libFuzzer target `fuzz_targets/acl_config.rs` and the CI replay test
//! `common/tests/fuzz_replay.rs` (seeds plus bounded mutations on every test run).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use mq_common::acl::{
    parse_grpc_authorization, AclValidator, AddressPattern, Credentials, PlainAcl, Role,
};
use mq_common::protocol::frame;

const ACCOUNTS: &str = "globalWhiteRemoteAddresses: [10.0.0.*]\naccounts:\n  - {accessKey: RocketMQ, secretKey: '12345678', defaultTopicPerm: PUB, topicPerms: [T=SUB]}\n  - {accessKey: rmqAdmin01, secretKey: '12345678', admin: true}\n";

/// One input: must not panic (asserts state the properties).
pub fn check(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(acl) = PlainAcl::parse(text) {
            for a in acl.accounts.values() {
                assert!(a.access_key.chars().count() > 6 && a.secret_key.chars().count() > 6);
            }
        }
        if let Ok(p) = AddressPattern::parse(text) {
            let _ = p.matches(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let _ = parse_grpc_authorization(text);
    }
    // The bytes as a frame: check it signed and unsigned, as broker and name server.
    let acl = Arc::new(arc_swap::ArcSwap::from_pointee(PlainAcl::parse(ACCOUNTS).unwrap()));
    let mut buf = bytes::BytesMut::from(data);
    if let Ok(Some(mut cmd)) = frame::decode(&mut buf, 1 << 20) {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for role in [Role::Broker, Role::namesrv(true)] {
            let v = AclValidator::new(role, acl.clone(), "RMQ_SYS_TRACE_TOPIC");
            let _ = v.check(&cmd, ip);
            let mut signed = cmd.clone();
            Credentials::new("RocketMQ", "12345678").sign(&mut signed);
            let _ = v.check(&signed, ip);
        }
        cmd.ext_fields.clear();
    }
}
