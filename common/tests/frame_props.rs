//! Property tests of the frame codec: random commands (JSON and binary headers, any strings,
//! any bodies) round-trip, split streams reassemble, and arbitrary or mutated bytes never
//! panic. (The stored-record codec has its own property tests in `message_codec_props.rs`.)

use bytes::{Bytes, BytesMut};
use mq_common::protocol::frame::{decode, encode, encode_binary, DEFAULT_MAX_FRAME};
use mq_common::protocol::json_header::LANGUAGES;
use mq_common::protocol::{ExtFields, RemotingCommand, SerializeType};
use proptest::prelude::*;

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_%|-]{0,16}",
        any::<String>().prop_map(|s| s.chars().take(24).collect()),
        "[\"\\\\\\n\\t\\u{0}-\\u{1f}é中😀 ]{0,12}",
    ]
}

fn ext_fields() -> impl Strategy<Value = ExtFields> {
    proptest::collection::btree_map(any_string(), any_string(), 0..8).prop_map(ExtFields::from)
}

/// A command whose fields are representable in both header encodings.
fn command() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i16>(),
        proptest::sample::select(LANGUAGES.to_vec()),
        any::<i16>(),
        any::<i32>(),
        0i32..4,
        proptest::option::of(
            any_string().prop_filter("binary header: empty remark is null", |s| !s.is_empty()),
        ),
        ext_fields(),
        proptest::collection::vec(any::<u8>(), 0..512),
    )
        .prop_map(|(code, lang, version, opaque, flag, remark, ext, body)| RemotingCommand {
            code: code as i32,
            language: lang.to_string(),
            version: version as i32,
            opaque,
            flag,
            remark,
            ext_fields: ext,
            body: Bytes::from(body),
            serialize_type: SerializeType::Json,
        })
}

fn round_trip(cmd: &RemotingCommand, binary: bool) -> RemotingCommand {
    let mut buf = BytesMut::new();
    if binary {
        encode_binary(cmd, &mut buf);
    } else {
        encode(cmd, &mut buf);
    }
    let got = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap().expect("complete frame");
    assert!(buf.is_empty());
    got
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_frames_round_trip(cmd in command()) {
        let got = round_trip(&cmd, false);
        prop_assert_eq!(got, cmd);
    }

    #[test]
    fn binary_frames_round_trip(cmd in command()) {
        let got = round_trip(&cmd, true);
        let want = RemotingCommand { serialize_type: SerializeType::RocketMq, ..cmd };
        prop_assert_eq!(got, want);
    }

    #[test]
    fn split_streams_reassemble(cmds in proptest::collection::vec((command(), any::<bool>()), 1..5),
                                cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let mut stream = BytesMut::new();
        for (c, bin) in &cmds {
            if *bin { encode_binary(c, &mut stream) } else { encode(c, &mut stream) }
        }
        let stream = stream.freeze();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.push(stream.len());
        points.sort_unstable();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut at = 0;
        for p in points {
            buf.extend_from_slice(&stream[at..p]);
            at = p;
            while let Some(c) = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap() {
                got.push(c);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got.len(), cmds.len());
        for (g, (c, _)) in got.iter().zip(&cmds) {
            prop_assert_eq!(g.opaque, c.opaque);
            prop_assert_eq!(&g.body, &c.body);
            prop_assert_eq!(&g.ext_fields, &c.ext_fields);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut buf = BytesMut::from(&bytes[..]);
        // Decode until incomplete or error; must terminate without panicking.
        for _ in 0..64 {
            match decode(&mut buf, 4096) {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn mutated_frames_never_panic(cmd in command(), binary in any::<bool>(),
                                  flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut buf = BytesMut::new();
        if binary { encode_binary(&cmd, &mut buf) } else { encode(&cmd, &mut buf) }
        let n = buf.len();
        for (i, v) in flips {
            buf[i.index(n)] = v;
        }
        let _ = decode(&mut buf, DEFAULT_MAX_FRAME);
    }
}
