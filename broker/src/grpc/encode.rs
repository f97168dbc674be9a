//! A delivered message's protobuf (`apache.rocketmq.v2.Message`, spec §9.7) written straight
//! from its stored record. Building the generated `Message` struct took a dozen owned strings,
//! a map and a vector per message, which prost then walked twice (lengths, then bytes); here
//! the fields borrow from the record and the one description of them ([`Fields::put`]) is run
//! to count a nested message's length and then to write it. `convert::to_message` decodes
//! what this writes, so there is one conversion.
//!
//! Field presence follows prost's (and protobuf's) proto3 rules: a plain scalar or string at
//! its default value is left out, an `optional` one or a message field that is set is written.

use std::borrow::Cow;
use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use mq_common::message::property::{
    self, CHECK_IMMUNITY_TIME_IN_SECONDS, DELAY, KEYS, RETRY_TOPIC, SHARDING_KEY, TAGS,
    TIMER_DELIVER_MS, TRAN_MSG, UNIQ_KEY,
};
use mq_common::message::{encode_offset_msg_id, sysflag, RecordView};
use mq_common::protocol::body::system_topics;
use mq_grpc_proto::v2::{DigestType, Encoding, MessageType};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use smallvec::SmallVec;

use super::convert::{dur, is_system_property, ts, DLQ_ORIGIN_TOPIC, TRACE_CONTEXT};
use super::digest::{DigestCache, DigestStyle, DigestText};
use crate::pop::receipt::HandleText;
use crate::pop::Popped;

/// Where fields go: counted (a nested message's length) or written.
trait Out: Sized {
    fn key(&mut self, tag: u32, wire_type: WireType);
    fn varint(&mut self, v: u64);
    fn raw(&mut self, b: &[u8]);

    /// A message field: its length (counted), then its fields.
    fn message(&mut self, tag: u32, f: &impl Fields) {
        let mut n = Count(0);
        f.put(&mut n);
        self.sized(tag, n.0, f);
    }

    /// A message field whose length `len` is known: key, length, fields.
    fn sized(&mut self, tag: u32, len: usize, f: &impl Fields) {
        self.key(tag, WireType::LengthDelimited);
        self.varint(len as u64);
        f.put(self);
    }
}

/// Counts bytes.
struct Count(usize);

impl Out for Count {
    fn key(&mut self, tag: u32, _: WireType) {
        self.0 += key_len(tag);
    }
    fn varint(&mut self, v: u64) {
        self.0 += encoded_len_varint(v);
    }
    fn raw(&mut self, b: &[u8]) {
        self.0 += b.len();
    }

    /// Counted once, not once for the length and once more for the fields.
    fn message(&mut self, tag: u32, f: &impl Fields) {
        let mut n = Count(0);
        f.put(&mut n);
        self.0 += key_len(tag) + encoded_len_varint(n.0 as u64) + n.0;
    }

    /// Not walked at all.
    fn sized(&mut self, tag: u32, len: usize, _: &impl Fields) {
        self.0 += key_len(tag) + encoded_len_varint(len as u64) + len;
    }
}

impl Out for BytesMut {
    fn key(&mut self, tag: u32, wire_type: WireType) {
        encode_key(tag, wire_type, self);
    }
    fn varint(&mut self, v: u64) {
        encode_varint(v, self);
    }
    fn raw(&mut self, b: &[u8]) {
        self.put_slice(b);
    }
}

/// A message's fields, put to an [`Out`].
trait Fields {
    fn put(&self, o: &mut impl Out);
}

/// A string or bytes field.
fn bytes(o: &mut impl Out, tag: u32, b: &[u8]) {
    o.key(tag, WireType::LengthDelimited);
    o.varint(b.len() as u64);
    o.raw(b);
}

/// A plain (not `optional`) string field: left out when empty.
fn plain_str(o: &mut impl Out, tag: u32, s: &str) {
    if !s.is_empty() {
        bytes(o, tag, s.as_bytes());
    }
}

/// An int32 / int64 / enum field (an int32 is sign-extended, as protobuf has it).
fn int(o: &mut impl Out, tag: u32, v: i64) {
    o.key(tag, WireType::Varint);
    o.varint(v as u64);
}

/// A plain scalar field: left out when zero.
fn plain_int(o: &mut impl Out, tag: u32, v: i64) {
    if v != 0 {
        int(o, tag, v);
    }
}

/// `google.protobuf.Timestamp` or `Duration` (the same two fields).
struct SecondsNanos(i64, i32);

impl Fields for SecondsNanos {
    fn put(&self, o: &mut impl Out) {
        plain_int(o, 1, self.0);
        plain_int(o, 2, self.1 as i64);
    }
}

fn timestamp(ms: i64) -> SecondsNanos {
    let t = ts(ms);
    SecondsNanos(t.seconds, t.nanos)
}

fn duration(ms: i64) -> SecondsNanos {
    let d = dur(ms);
    SecondsNanos(d.seconds, d.nanos)
}

/// Two plain string fields 1 and 2: `Resource` (namespace, name), a map entry (key,
/// value), `DeadLetterQueue` (topic, message id).
struct TwoStrings<'a>(&'a str, &'a str);

impl Fields for TwoStrings<'_> {
    fn put(&self, o: &mut impl Out) {
        plain_str(o, 1, self.0);
        plain_str(o, 2, self.1);
    }
}

struct DigestField<'a>(DigestType, &'a str);

impl Fields for DigestField<'_> {
    fn put(&self, o: &mut impl Out) {
        plain_int(o, 1, self.0 as i64);
        plain_str(o, 2, self.1);
    }
}

/// A host as text (`ip:port`, as `SocketAddr`'s Display writes it); IPv4 by hand (itoa) on
/// the stack: two per delivered message.
enum HostText {
    V4([u8; 21], u8),
    Other(String),
}

impl HostText {
    fn of(a: SocketAddr) -> HostText {
        let SocketAddr::V4(v4) = a else { return HostText::Other(a.to_string()) };
        let mut buf = [0u8; 21];
        let mut len = 0;
        let mut push = |s: &[u8]| {
            buf[len..len + s.len()].copy_from_slice(s);
            len += s.len();
        };
        let mut n = itoa::Buffer::new();
        for (i, o) in v4.ip().octets().iter().enumerate() {
            if i > 0 {
                push(b".");
            }
            push(n.format(*o).as_bytes());
        }
        push(b":");
        push(n.format(v4.port()).as_bytes());
        HostText::V4(buf, len as u8)
    }

    fn as_str(&self) -> &str {
        match self {
            // Digits, dots and a colon.
            HostText::V4(b, n) => std::str::from_utf8(&b[..*n as usize]).unwrap_or_default(),
            HostText::Other(s) => s,
        }
    }
}

/// What a POP delivery adds to a message.
struct PopDelivery {
    receipt_handle: HandleText,
    invisible_ms: i64,
    attempt: i32,
}

/// What a stored record shows as a gRPC message: its fields, borrowed where they can be.
struct Delivered<'a> {
    v: RecordView<'a>,
    topic: &'a str,
    tag: Option<&'a str>,
    keys: Option<&'a str>,
    message_id: Cow<'a, str>,
    group: Option<&'a str>,
    trace: Option<&'a str>,
    timer_ms: Option<i64>,
    immunity_s: Option<i64>,
    /// The original topic of a DLQ record.
    dlq_topic: Option<&'a str>,
    message_type: MessageType,
    digest: (DigestType, DigestText),
    born_host: HostText,
    store_host: HostText,
    /// The POP delivery, if any.
    pop: Option<PopDelivery>,
    /// User properties: every one that is not the broker's.
    user: SmallVec<[(&'a str, &'a str); 8]>,
}

/// The message type a stored message was sent as, from its TRAN_MSG, SHARDING_KEY,
/// TIMER_DELIVER_MS and DELAY properties.
fn type_of(
    sys_flag: i32,
    tran: Option<&str>,
    group: Option<&str>,
    timer: Option<&str>,
    delay: Option<&str>,
) -> MessageType {
    if tran == Some("true")
        || sysflag::transaction_value(sys_flag) == sysflag::TRANSACTION_PREPARED_TYPE
    {
        MessageType::Transaction
    } else if group.is_some() {
        MessageType::Fifo
    } else if timer.is_some() || delay.is_some_and(|d| d != "0") {
        MessageType::Delay
    } else {
        MessageType::Normal
    }
}

impl<'a> Delivered<'a> {
    /// One pass over the properties; later duplicates win, as everywhere properties are read.
    fn of(
        rec: &'a Bytes,
        pop: Option<&Popped>,
        invisible_ms: i64,
        digests: &DigestCache,
        style: DigestStyle,
    ) -> Option<Delivered<'a>> {
        let v = RecordView::parse(rec, false).ok()?;
        let (mut tag, mut keys, mut uniq, mut group, mut trace) = (None, None, None, None, None);
        let (mut timer, mut retry_topic, mut dlq_origin) = (None, None, None);
        let (mut tran, mut delay, mut immunity) = (None, None, None);
        let mut user = SmallVec::new();
        for (k, val) in property::iter_properties(v.properties) {
            match k {
                TAGS => tag = Some(val),
                KEYS => keys = Some(val),
                UNIQ_KEY => uniq = Some(val),
                SHARDING_KEY => group = Some(val),
                TRACE_CONTEXT => trace = Some(val),
                TIMER_DELIVER_MS => timer = Some(val),
                RETRY_TOPIC => retry_topic = Some(val),
                DLQ_ORIGIN_TOPIC => dlq_origin = Some(val),
                TRAN_MSG => tran = Some(val),
                DELAY => delay = Some(val),
                CHECK_IMMUNITY_TIME_IN_SECONDS => immunity = Some(val),
                k if !is_system_property(k) => user.push((k, val)),
                _ => {}
            }
        }
        // A redelivery copy in a retry topic is shown under its original topic.
        let topic = match retry_topic {
            Some(t) if v.topic.starts_with(system_topics::RETRY_PREFIX) => t,
            _ => v.topic,
        };
        let dlq_topic = v
            .topic
            .starts_with(system_topics::DLQ_PREFIX)
            .then(|| dlq_origin.or(retry_topic).unwrap_or_default());
        Some(Delivered {
            topic,
            tag,
            keys,
            message_id: match uniq {
                Some(u) => Cow::Borrowed(u),
                None => Cow::Owned(encode_offset_msg_id(v.store_host, v.physical_offset)),
            },
            group,
            trace,
            timer_ms: timer.and_then(|t| t.parse().ok()),
            immunity_s: immunity.and_then(|s| s.parse().ok()),
            dlq_topic,
            message_type: type_of(v.sys_flag, tran, group, timer, delay),
            digest: digests.text(&v, style),
            born_host: HostText::of(v.born_host),
            store_host: HostText::of(v.store_host),
            pop: pop.map(|p| PopDelivery {
                receipt_handle: p.handle.text(),
                invisible_ms,
                attempt: p.attempt,
            }),
            user,
            v,
        })
    }
}

/// `SystemProperties`.
struct System<'d, 'a>(&'d Delivered<'a>);

impl Fields for System<'_, '_> {
    fn put(&self, o: &mut impl Out) {
        let d = self.0;
        let v = &d.v;
        if let Some(t) = d.tag {
            bytes(o, 1, t.as_bytes());
        }
        for k in d.keys.into_iter().flat_map(|k| k.split(' ')).filter(|s| !s.is_empty()) {
            bytes(o, 2, k.as_bytes());
        }
        plain_str(o, 3, &d.message_id);
        o.message(4, &DigestField(d.digest.0, d.digest.1.as_str()));
        let compressed = v.sys_flag & sysflag::COMPRESSED_FLAG != 0;
        let encoding = if compressed { Encoding::Gzip } else { Encoding::Identity };
        plain_int(o, 5, encoding as i64);
        plain_int(o, 6, d.message_type as i64);
        o.message(7, &timestamp(v.born_timestamp));
        plain_str(o, 8, d.born_host.as_str());
        o.message(9, &timestamp(v.store_timestamp));
        plain_str(o, 10, d.store_host.as_str());
        if let Some(t) = d.timer_ms {
            o.message(11, &timestamp(t));
        }
        if let Some(p) = &d.pop {
            bytes(o, 12, p.receipt_handle.as_str().as_bytes());
        }
        plain_int(o, 13, v.queue_id as i64);
        int(o, 14, v.queue_offset);
        if let Some(p) = &d.pop {
            o.message(15, &duration(p.invisible_ms));
        }
        let attempt = d.pop.as_ref().map(|p| p.attempt).unwrap_or(v.reconsume_times + 1);
        int(o, 16, attempt as i64);
        if let Some(g) = d.group {
            bytes(o, 17, g.as_bytes());
        }
        if let Some(t) = d.trace {
            bytes(o, 18, t.as_bytes());
        }
        if let Some(s) = d.immunity_s {
            o.message(19, &duration(s.saturating_mul(1000)));
        }
        if let Some(t) = d.dlq_topic {
            o.message(20, &TwoStrings(t, &d.message_id));
        }
    }
}

/// `Message`, with the length of its `SystemProperties` counted once: counting the whole
/// message for the frame's length and then writing it would otherwise walk them three times.
struct MessageFields<'d, 'a> {
    d: &'d Delivered<'a>,
    system_len: usize,
}

impl<'d, 'a> MessageFields<'d, 'a> {
    fn of(d: &'d Delivered<'a>) -> Self {
        let mut n = Count(0);
        System(d).put(&mut n);
        MessageFields { d, system_len: n.0 }
    }
}

impl Fields for MessageFields<'_, '_> {
    fn put(&self, o: &mut impl Out) {
        let d = self.d;
        o.message(1, &TwoStrings("", d.topic));
        for (k, v) in &d.user {
            o.message(2, &TwoStrings(k, v));
        }
        o.sized(3, self.system_len, &System(d));
        if !d.v.body.is_empty() {
            bytes(o, 4, d.v.body);
        }
    }
}

/// Append the protobuf of the gRPC `Message` a stored record shows as (with its POP delivery
/// data if any; the body digest from `digests`, in the receiving client's `style`) to `out`.
/// `None` (nothing appended) when the record does not parse.
pub fn encode_message(
    rec: &Bytes,
    pop: Option<&Popped>,
    invisible_ms: i64,
    digests: &DigestCache,
    style: DigestStyle,
    out: &mut BytesMut,
) -> Option<()> {
    let d = Delivered::of(rec, pop, invisible_ms, digests, style)?;
    MessageFields::of(&d).put(out);
    Some(())
}

/// Append the gRPC frame of a `ReceiveMessageResponse` whose content is that message (what
/// [`encode_message`] writes, as field 2): the 5-byte prefix, the field's key and length,
/// the message. `None` (nothing appended) when the record does not parse.
pub fn encode_framed_message(
    rec: &Bytes,
    pop: Option<&Popped>,
    invisible_ms: i64,
    digests: &DigestCache,
    style: DigestStyle,
    out: &mut BytesMut,
) -> Option<()> {
    let d = Delivered::of(rec, pop, invisible_ms, digests, style)?;
    let fields = MessageFields::of(&d);
    let mut n = Count(0);
    fields.put(&mut n);
    let inner = n.0;
    out.put_u8(0);
    out.put_u32((key_len(2) + encoded_len_varint(inner as u64) + inner) as u32);
    encode_key(2, WireType::LengthDelimited, out);
    encode_varint(inner as u64, out);
    fields.put(out);
    Some(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use mq_common::message::crc32_masked;
    use mq_common::message::record::{encode_record, RecordFields};
    use mq_grpc_proto::v2::receive_message_response::Content;
    use mq_grpc_proto::v2::{
        DeadLetterQueue, Message, ReceiveMessageResponse, Resource, SystemProperties,
    };
    use prost::Message as _;

    use super::*;
    use crate::grpc::convert::to_message;
    use crate::pop::{ReceiptHandle, TopicKind};

    /// The conversion as a struct, field by field (what the broker built before it encoded
    /// records directly): the oracle `to_message` (which decodes [`encode_message`]'s
    /// bytes) must equal.
    fn oracle(
        rec: &Bytes,
        pop: Option<&Popped>,
        invisible_ms: i64,
        digests: &DigestCache,
        style: DigestStyle,
    ) -> Message {
        let v = RecordView::parse(rec, false).unwrap();
        let mut user = HashMap::new();
        let mut props: HashMap<&str, &str> = HashMap::new();
        for (k, val) in property::iter_properties(v.properties) {
            if is_system_property(k) {
                props.insert(k, val);
            } else {
                user.insert(k.to_string(), val.to_string());
            }
        }
        let p = |k: &str| props.get(k).copied();
        let message_id = p(UNIQ_KEY)
            .map(str::to_string)
            .unwrap_or_else(|| encode_offset_msg_id(v.store_host, v.physical_offset));
        let topic = match p(RETRY_TOPIC) {
            Some(t) if v.topic.starts_with(system_topics::RETRY_PREFIX) => t,
            _ => v.topic,
        };
        let dead_letter_queue =
            v.topic.starts_with(system_topics::DLQ_PREFIX).then(|| DeadLetterQueue {
                topic: p(DLQ_ORIGIN_TOPIC).or(p(RETRY_TOPIC)).unwrap_or_default().to_string(),
                message_id: message_id.clone(),
            });
        let compressed = v.sys_flag & sysflag::COMPRESSED_FLAG != 0;
        let d = digests.digest(&v, style);
        let sp = SystemProperties {
            tag: p(TAGS).map(str::to_string),
            keys: p(KEYS)
                .map(|k| k.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect())
                .unwrap_or_default(),
            message_id,
            body_digest: Some(d),
            body_encoding: if compressed { Encoding::Gzip } else { Encoding::Identity } as i32,
            message_type: type_of(
                v.sys_flag,
                p(TRAN_MSG),
                p(SHARDING_KEY),
                p(TIMER_DELIVER_MS),
                p(DELAY),
            ) as i32,
            born_timestamp: Some(ts(v.born_timestamp)),
            born_host: v.born_host.to_string(),
            store_timestamp: Some(ts(v.store_timestamp)),
            store_host: v.store_host.to_string(),
            delivery_timestamp: p(TIMER_DELIVER_MS).and_then(|t| t.parse::<i64>().ok()).map(ts),
            receipt_handle: pop.map(|p| p.handle.encode()),
            queue_id: v.queue_id,
            queue_offset: Some(v.queue_offset),
            invisible_duration: pop.map(|_| dur(invisible_ms)),
            delivery_attempt: Some(pop.map(|p| p.attempt).unwrap_or(v.reconsume_times + 1)),
            message_group: p(SHARDING_KEY).map(str::to_string),
            trace_context: p(TRACE_CONTEXT).map(str::to_string),
            orphaned_transaction_recovery_duration: p(CHECK_IMMUNITY_TIME_IN_SECONDS)
                .and_then(|s| s.parse::<i64>().ok())
                .map(|s| dur(s * 1000)),
            dead_letter_queue,
            lite_topic: None,
            priority: None,
        };
        Message {
            topic: Some(Resource { resource_namespace: String::new(), name: topic.to_string() }),
            user_properties: user,
            system_properties: Some(sp),
            body: rec.slice_ref(v.body),
        }
    }

    fn record(topic: &str, props: &str, body: &[u8], v6: bool, queue_id: i32, flag: i32) -> Bytes {
        let (born, store): (SocketAddr, SocketAddr) = if v6 {
            ("[2001:db8::7]:40000".parse().unwrap(), "[::1]:10911".parse().unwrap())
        } else {
            ("10.1.2.3:40000".parse().unwrap(), "192.168.0.9:10911".parse().unwrap())
        };
        let f = RecordFields {
            queue_id,
            flag: 0,
            queue_offset: 77,
            physical_offset: 123_456,
            // (The encoder sets the hosts' IPv6 flags.)
            sys_flag: flag,
            born_timestamp: 1_700_000_000_123,
            born_host: born,
            store_timestamp: 1_700_000_000_456,
            store_host: store,
            reconsume_times: 2,
            prepared_transaction_offset: 0,
            body,
            body_crc: crc32_masked(body),
            topic,
            properties: props,
        };
        Bytes::from(encode_record(&f).unwrap())
    }

    fn props(kv: &[(&str, &str)]) -> String {
        kv.iter().map(|(k, v)| format!("{k}\u{1}{v}\u{2}")).collect()
    }

    #[test]
    fn decoding_the_encoded_message_gives_the_struct_conversion() {
        let digests = DigestCache::default();
        let records = [
            record(
                "T",
                &props(&[
                    ("TAGS", "TagA"),
                    ("KEYS", "k1  k2 "),
                    ("UNIQ_KEY", "ID1"),
                    ("a", "1"),
                    ("b", ""),
                    ("WAIT", "true"),
                    ("__RMQ.TRANSIENT.x", "y"),
                    ("a", "2"),
                ]),
                b"hello",
                false,
                3,
                0,
            ),
            record("T", "", b"", false, 0, 0),
            record(
                "T",
                &props(&[("__SHARDINGKEY", "g1"), ("TRACE_CONTEXT", "tc"), ("", "empty key")]),
                b"x",
                true,
                -1,
                sysflag::COMPRESSED_FLAG,
            ),
            record(
                "T",
                &props(&[("TIMER_DELIVER_MS", "1700000009999"), ("DELAY", "3")]),
                b"d",
                false,
                1,
                0,
            ),
            record("T", &props(&[("DELAY", "0"), ("TIMER_DELIVER_MS", "nope")]), b"d", false, 1, 0),
            record(
                "T",
                &props(&[("TRAN_MSG", "true"), ("CHECK_IMMUNITY_TIME_IN_SECONDS", "60")]),
                b"t",
                false,
                0,
                0,
            ),
            record(
                "%RETRY%G",
                &props(&[("RETRY_TOPIC", "Orig"), ("UNIQ_KEY", "R")]),
                b"r",
                false,
                0,
                0,
            ),
            record(
                "%DLQ%G",
                &props(&[("DLQ_ORIGIN_TOPIC", "Dl"), ("UNIQ_KEY", "D")]),
                b"q",
                false,
                0,
                0,
            ),
            record("%DLQ%G", &props(&[("RETRY_TOPIC", "Rt")]), b"q", false, 0, 0),
            record("%DLQ%G", "", b"q", false, 0, 0),
        ];
        let handle = ReceiptHandle {
            ck: 70,
            pop_time: 1_700_000_001_000,
            invisible_time: 30_000,
            kind: TopicKind::Normal,
            broker_name: "broker-a".into(),
            queue_id: 3,
            queue_offset: 77,
            commit_log_offset: 123_456,
        };
        let styles = [
            DigestStyle::Md5,
            DigestStyle::Crc32Hex,
            DigestStyle::Crc32Hex8,
            DigestStyle::Crc32Decimal,
        ];
        for (i, rec) in records.iter().enumerate() {
            let popped = Popped { record: rec.clone(), handle: handle.clone(), attempt: 4 };
            for pop in [None, Some(&popped)] {
                for style in styles {
                    let want = oracle(rec, pop, 30_000, &digests, style);
                    let got = to_message(rec, pop, 30_000, &digests, style).unwrap();
                    assert_eq!(got, want, "record {i}, pop {}, {style:?}", pop.is_some());
                    // The framed form: one gRPC frame of a response carrying the same message.
                    let mut f = BytesMut::from(&b"before"[..]);
                    encode_framed_message(rec, pop, 30_000, &digests, style, &mut f).unwrap();
                    let f = f.split_off(6);
                    assert_eq!(f[0], 0);
                    assert_eq!(u32::from_be_bytes([f[1], f[2], f[3], f[4]]) as usize, f.len() - 5);
                    let r = ReceiveMessageResponse::decode(&f[5..]).unwrap();
                    assert_eq!(r.content, Some(Content::Message(want)), "framed, record {i}");
                }
            }
        }
        // A record that does not parse: nothing written.
        let mut out = BytesMut::new();
        let bad = Bytes::from_static(b"not a record at all");
        assert!(encode_message(&bad, None, 0, &digests, DigestStyle::Md5, &mut out).is_none());
        assert!(
            encode_framed_message(&bad, None, 0, &digests, DigestStyle::Md5, &mut out).is_none()
        );
        assert!(out.is_empty());
    }

    #[test]
    fn host_text_is_socket_addr_display() {
        for a in
            ["0.0.0.0:0", "127.0.0.1:10911", "255.255.255.255:65535", "10.2.30.4:8", "[::1]:81"]
        {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(HostText::of(a).as_str(), a.to_string());
        }
    }
}
