//! Fuzz the remoting frame decoder (spec §1) on arbitrary bytes: it must never panic, never
//! allocate from an unchecked length, and whatever it decodes must re-encode and decode again.
//! Decoded commands are also fed to the typed headers and JSON bodies a name server parses.
//!
//! Shared by the libFuzzer target `fuzz_targets/frame_decode.rs` and the CI replay test
//! `common/tests/fuzz_replay.rs` (seeds plus bounded mutations on every test run).

use bytes::BytesMut;
use mq_common::protocol::body::{RegisterBrokerBody, TopicRouteData};
use mq_common::protocol::frame::{decode, encode};
use mq_common::protocol::header::{
    GetRouteInfoRequestHeader, RegisterBrokerRequestHeader, SendMessageRequestHeader,
};
use mq_common::protocol::lenient_json;

/// Small enough that libFuzzer's inputs can hit the limit.
const MAX_FRAME: usize = 64 * 1024;

/// One input: must not panic (asserts state the properties).
pub fn check(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    // Several frames may be back to back; stop at the first incomplete or invalid one.
    while let Ok(Some(cmd)) = decode(&mut buf, MAX_FRAME) {
        let _ = cmd.decode_header::<RegisterBrokerRequestHeader>();
        let _ = cmd.decode_header::<GetRouteInfoRequestHeader>();
        let _ = SendMessageRequestHeader::read_any(cmd.code, &cmd.ext_fields);
        let _ = lenient_json::from_slice::<RegisterBrokerBody>(&cmd.body);
        let _ = lenient_json::from_slice::<TopicRouteData>(&cmd.body);
        let _ = RegisterBrokerBody::decode_compressed(&cmd.body);

        // Our own output of what we accepted must decode to the same fields.
        let mut out = BytesMut::new();
        encode(&cmd, &mut out);
        let again =
            decode(&mut out, usize::MAX).expect("re-encoded frame decodes").expect("complete");
        assert_eq!(again.code, cmd.code);
        assert_eq!(again.opaque, cmd.opaque);
        assert_eq!(again.ext_fields, cmd.ext_fields);
        assert_eq!(again.body, cmd.body);
    }
}
