//! The JSON header decoder (zero-copy `ExtFields` spans into the frame) against a model of the
//! semantics of the original `BTreeMap<String, String>` decoder: scalar values coerced to
//! strings, `null` values skipped (an earlier value of the key stays), a later duplicate key
//! wins, keys iterated alphabetically. Inputs are rendered with the variety real clients
//! produce: any key order, whitespace, `\uXXXX` and short escapes, numbers and booleans as
//! JSON values (ali-ons, rocketmq-client-cpp), unknown members.

use std::collections::BTreeMap;

use bytes::BytesMut;
use mq_common::protocol::frame::{decode, encode, DEFAULT_MAX_FRAME};
use mq_common::protocol::header::{
    SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use mq_common::protocol::{json_header, CommandHeader, ExtFields, RemotingCommand};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_%|.-]{0,12}",
        "[\"\\\\/\\n\\t\\u{0}-\\u{1f}é中😀 a]{0,10}",
        any::<String>().prop_map(|s| s.chars().take(16).collect()),
    ]
}

fn any_val() -> impl Strategy<Value = Val> {
    prop_oneof![
        4 => any_text().prop_map(Val::Str),
        2 => any::<i64>().prop_map(Val::Int),
        1 => any::<bool>().prop_map(Val::Bool),
        1 => Just(Val::Null),
    ]
}

/// JSON string literal with randomly chosen (all valid) escape styles.
fn json_str(s: &str, style: u8) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if style & 1 == 1 => out.push_str("\\/"),
            '\n' if style & 2 == 2 => out.push_str("\\n"),
            '\t' if style & 2 == 2 => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if style & 4 == 4 && c.is_ascii_alphabetic() && c < 'c' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c if style & 8 == 8 && (c as u32) > 0x7f && (c as u32) < 0x10000 => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render_val(v: &Val, style: u8) -> String {
    match v {
        Val::Str(s) => json_str(s, style),
        Val::Int(n) => n.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::Null => "null".into(),
    }
}

/// The original decoder's semantics, applied to the generated field list.
fn model(fields: &[(String, Val)]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in fields {
        let s = match v {
            Val::Str(s) => s.clone(),
            Val::Int(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Null => continue,
        };
        m.insert(k.clone(), s);
    }
    m
}

fn as_pairs(f: &ExtFields) -> Vec<(String, String)> {
    f.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoder_matches_model(
        code in any::<i16>(), opaque in any::<i32>(), flag in 0i32..4,
        fields in proptest::collection::vec((prop_oneof!["[a-n]", any_text()], any_val()), 0..16),
        style in any::<u8>(), ws in proptest::sample::select(vec!["", " ", "\n  "]),
        extra in any::<bool>(), order in any::<u8>(),
    ) {
        let ext = fields.iter().map(|(k, v)| format!("{ws}{}{ws}:{ws}{}", json_str(k, style), render_val(v, style))).collect::<Vec<_>>().join(",");
        let mut members = vec![
            format!("\"code\":{ws}{code}"),
            format!("\"extFields\":{ws}{{{ext}{ws}}}"),
            format!("\"flag\":{flag}"),
            "\"language\":\"JAVA\"".to_string(),
            format!("\"opaque\":{opaque}"),
            "\"serializeTypeCurrentRPC\":\"JSON\"".to_string(),
            "\"version\":401".to_string(),
        ];
        if extra {
            members.push("\"unknownMember\":\"x\"".into());
        }
        let n = members.len();
        members.rotate_left(order as usize % n);
        let text = format!("{{{ws}{}{ws}}}", members.join(&format!(",{ws}")));

        let want: Vec<(String, String)> = model(&fields).into_iter().collect();
        let cmd = json_header::decode(text.as_bytes()).unwrap();
        prop_assert_eq!((cmd.code, cmd.opaque, cmd.flag, cmd.version), (code as i32, opaque, flag, 401));
        prop_assert_eq!(&as_pairs(&cmd.ext_fields), &want);
        for (k, v) in &want {
            prop_assert_eq!(cmd.ext(k), Some(v.as_str()));
        }

        // Same through the frame decoder (shared header bytes), and re-encoding round-trips.
        let mut frame = BytesMut::new();
        let header = text.as_bytes();
        frame.extend_from_slice(&((4 + header.len()) as i32).to_be_bytes());
        frame.extend_from_slice(&(header.len() as u32).to_be_bytes());
        frame.extend_from_slice(header);
        let framed = decode(&mut frame, DEFAULT_MAX_FRAME).unwrap().unwrap();
        prop_assert_eq!(&as_pairs(&framed.ext_fields), &want);
        let mut again = BytesMut::new();
        encode(&framed, &mut again);
        let back = decode(&mut again, DEFAULT_MAX_FRAME).unwrap().unwrap();
        prop_assert_eq!(&back.ext_fields, &framed.ext_fields);
    }

    /// Typed headers read the same from a decoded frame as from a map built field by field,
    /// and the typed encoder's output decodes back to the same header.
    #[test]
    fn typed_send_header_round_trips(topic in "[a-zA-Z0-9_%-]{1,20}", props in any_text(), queue in -1i32..64,
                                     born in any::<i64>(), flag in any::<i32>(), batch in proptest::option::of(any::<bool>())) {
        let h = SendMessageRequestHeaderV2 {
            a: "PG".into(), b: topic, c: "TBW102".into(), d: 4, e: queue, f: 0, g: born, h: flag,
            i: Some(props), j: None, k: Some(false), l: None, m: batch, n: Some("broker-a".into()),
        };
        let cmd = RemotingCommand::request_with_header(320, &h).with_opaque(1);
        let mut buf = BytesMut::new();
        encode(&cmd, &mut buf);
        let got = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
        let by_map: ExtFields = cmd.ext_fields.iter().collect();
        prop_assert_eq!(SendMessageRequestHeaderV2::read(&got.ext_fields).unwrap(), h.clone());
        prop_assert_eq!(SendMessageRequestHeader::read_any(320, &got.ext_fields).unwrap(), SendMessageRequestHeader::read_any(320, &by_map).unwrap());
    }
}

/// Headers as real clients send them (fixture shapes of spec §12), decoded field by field.
#[test]
fn client_shapes() {
    // ali-ons: numbers and booleans as JSON values, a null, a nested value.
    let ons = br#"{"code":310,"language":"JAVA","version":121,"opaque":7,"flag":0,"extFields":{"a":"PG","b":"T","c":"TBW102","d":4,"e":0,"f":0,"g":1700000000000,"h":0,"i":"UNIQ_KEY\u0001AB\u0002WAIT\u0001true\u0002","j":0,"k":false,"m":false,"x":null}}"#;
    let cmd = json_header::decode(ons).unwrap();
    let h = SendMessageRequestHeader::read_any(cmd.code, &cmd.ext_fields).unwrap();
    assert_eq!(
        (h.topic.as_str(), h.queue_id, h.born_timestamp, h.unit_mode),
        ("T", 0, 1_700_000_000_000, Some(false))
    );
    assert_eq!(h.properties.as_deref(), Some("UNIQ_KEY\u{1}AB\u{2}WAIT\u{1}true\u{2}"));
    assert_eq!(cmd.ext("x"), None);
    // Response header as we send it, as Java's fastjson parses it.
    let resp = RemotingCommand::success_with_header(&SendMessageResponseHeader {
        msg_id: "7F00000100002A9F0000000000000000".into(),
        queue_id: 3,
        queue_offset: -1,
        transaction_id: None,
        batch_uniq_id: None,
        msg_region: Some("DefaultRegion".into()),
        trace_on: Some("true".into()),
    })
    .with_opaque(9);
    let mut out = Vec::new();
    json_header::encode(&resp, &mut out);
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"code":0,"extFields":{"MSG_REGION":"DefaultRegion","TRACE_ON":"true","msgId":"7F00000100002A9F0000000000000000","queueId":"3","queueOffset":"-1"},"flag":1,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":401}"#
    );
}
