//! Building SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE requests and reading their answers (§2.3, §3.6).
//!
//! Pure functions, so the frame layout is testable without a broker.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use mq_common::message::property::{MAX_RECONSUME_TIMES, RECONSUME_TIME, UNIQ_KEY, WAIT};
use mq_common::message::util::zlib_compress;
use mq_common::message::{sysflag, Message, UniqIdGenerator};
use mq_common::protocol::body::system_topics::{self, TBW102};
use mq_common::protocol::body::{validate_topic, MessageQueue};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::{SendMessageRequestHeaderV2, SendMessageResponseHeader};
use mq_common::protocol::{CommandHeader, RemotingCommand};

use crate::error::{ClientError, Result};

/// How a sent message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendStatus {
    /// Stored (and flushed/replicated as configured).
    SendOk,
    /// Stored, but the synchronous disk flush timed out.
    FlushDiskTimeout,
    /// Stored, but replication to the slave timed out.
    FlushSlaveTimeout,
    /// Stored, but no slave is available for synchronous replication.
    SlaveNotAvailable,
}

impl SendStatus {
    /// Java's `SendStatus` name (`SEND_OK`, `FLUSH_DISK_TIMEOUT`, ...).
    pub fn java_name(self) -> &'static str {
        match self {
            SendStatus::SendOk => "SEND_OK",
            SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
        }
    }
}

/// The outcome of a successful send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// Storage status.
    pub status: SendStatus,
    /// The client-side id (UNIQ_KEY); for a batch, the ids joined with `,`.
    pub msg_id: String,
    /// The broker's offsetMsgId (store address + commit-log offset); for a batch, joined with `,`.
    pub offset_msg_id: String,
    /// The queue the message went to.
    pub message_queue: MessageQueue,
    /// Logical offset of the (first) message in its queue.
    pub queue_offset: i64,
}

/// Settings that shape a send request.
#[derive(Debug, Clone)]
pub(crate) struct SendShape {
    pub group: String,
    pub compress_threshold: usize,
    pub max_message_size: usize,
    pub default_topic_queue_nums: i32,
}

/// A request ready to go to any queue of its topic: only the queue id changes between retries.
#[derive(Debug, Clone)]
pub(crate) struct PreparedSend {
    pub code: i32,
    pub header: SendMessageRequestHeaderV2,
    pub body: Bytes,
    pub msg_id: String,
}

impl PreparedSend {
    /// The command for queue `queue_id`.
    pub fn command(&self, queue_id: i32, broker_name: &str) -> RemotingCommand {
        // Written field by field over the prepared header (no clone of its strings): `e` and
        // `n` are the only per-attempt fields, and later inserts replace earlier ones.
        let mut cmd = RemotingCommand::request_with_header(self.code, &self.header);
        cmd.ext_fields
            .insert_with("e", |o| mq_common::protocol::ext_fields::push_int(o, queue_id as i64));
        cmd.ext_fields.insert_str("n", broker_name);
        cmd.with_body(self.body.clone())
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.header.b
    }
}

pub(crate) fn check_topic(topic: &str) -> Result<()> {
    validate_topic(topic).map_err(ClientError::InvalidArgument)?;
    if system_topics::is_not_allowed_to_send(topic) {
        return Err(ClientError::InvalidArgument(format!(
            "sending to system topic '{topic}' is not allowed"
        )));
    }
    Ok(())
}

fn base_header(topic: &str, shape: &SendShape) -> SendMessageRequestHeaderV2 {
    SendMessageRequestHeaderV2 {
        a: shape.group.clone(),
        b: topic.to_string(),
        c: TBW102.to_string(),
        d: shape.default_topic_queue_nums,
        e: -1,
        f: 0,
        g: mq_common::protocol::now_millis(),
        h: 0,
        ..Default::default()
    }
}

/// The properties of `props` plus `extras` (sorted, keys absent from `props`) in key order,
/// minus keys in `skip` and empty keys: the order a map holding all of them would iterate in,
/// so the encoded string is byte-identical to cloning the message and inserting the extras.
fn merged_properties<'a>(
    props: &'a BTreeMap<String, String>,
    extras: &'a [(&'a str, &'a str)],
    skip: &'a [&'a str],
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    let mut extras = extras.iter().copied().peekable();
    let mut own = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(move |(k, _)| !k.is_empty() && !skip.contains(k))
        .peekable();
    std::iter::from_fn(move || match (own.peek(), extras.peek()) {
        (Some(a), Some(b)) if b.0 < a.0 => extras.next(),
        (Some(_), _) => own.next(),
        (None, _) => extras.next(),
    })
}

/// Prepare a single message: validate, stamp UNIQ_KEY, compress a large body (sysFlag bit 0, zlib
/// level 5 as Java), check the size limit on the original body before any I/O.
pub(crate) fn prepare_single(
    msg: &Message,
    shape: &SendShape,
    ids: &UniqIdGenerator,
) -> Result<PreparedSend> {
    check_topic(&msg.topic)?;
    if msg.body.is_empty() {
        return Err(ClientError::InvalidArgument("message body is empty".into()));
    }
    if msg.body.len() > shape.max_message_size {
        return Err(ClientError::InvalidArgument(format!(
            "message body is {} bytes, more than the maximum {}",
            msg.body.len(),
            shape.max_message_size
        )));
    }
    // No clone of the message: the properties string is written from its map plus the
    // stamped UNIQ_KEY / WAIT (hot: one call per send).
    let (msg_id, fresh_id) = match msg.property(UNIQ_KEY) {
        Some(id) => (id.to_string(), false),
        None => (ids.next_id(), true),
    };
    // At most UNIQ_KEY and WAIT, already in key order ("UNIQ_KEY" < "WAIT"); no Vec.
    let mut extra = [("", ""); 2];
    let mut n = 0;
    if fresh_id {
        extra[n] = (UNIQ_KEY, msg_id.as_str());
        n += 1;
    }
    if msg.property(WAIT).is_none() {
        extra[n] = (WAIT, "true");
        n += 1;
    }
    let extras = &extra[..n];
    debug_assert!(extras.windows(2).all(|w| w[0].0 < w[1].0));
    let mut h = base_header(&msg.topic, shape);
    h.h = msg.flag;
    let mut body = msg.body.clone();
    if body.len() > shape.compress_threshold {
        let c = zlib_compress(&body, 5);
        if c.len() < body.len() {
            body = Bytes::from(c);
            h.f |= sysflag::COMPRESSED_FLAG;
        }
    }
    let mut skip: &[&str] = &[];
    if msg.topic.starts_with(system_topics::RETRY_PREFIX) {
        h.j = msg.property(RECONSUME_TIME).and_then(|v| v.parse().ok());
        h.l = msg.property(MAX_RECONSUME_TIMES).and_then(|v| v.parse().ok());
        skip = &[RECONSUME_TIME, MAX_RECONSUME_TIMES];
    }
    let mut props = String::with_capacity(
        64 + msg.properties.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>(),
    );
    for (k, v) in merged_properties(&msg.properties, extras, skip) {
        props.push_str(k);
        props.push(mq_common::message::property::NAME_VALUE_SEPARATOR);
        props.push_str(v);
        props.push(mq_common::message::property::PROPERTY_SEPARATOR);
    }
    h.i = Some(props);
    Ok(PreparedSend { code: request::SEND_MESSAGE_V2, header: h, body, msg_id })
}

/// Prepare a batch (§3.6): one topic, no delay, not a retry topic; bodies are not compressed.
///
/// The batch body is encoded in one pass straight from the messages (no per-message clone,
/// properties string or id string): per message this is a copy of the body and the encoded
/// properties into one buffer, plus a fresh UNIQ_KEY written into both the properties and the
/// joined id list. The bytes are those of `encode_batch` over the messages with UNIQ_KEY set.
pub(crate) fn prepare_batch(
    msgs: &[Message],
    shape: &SendShape,
    ids: &UniqIdGenerator,
) -> Result<PreparedSend> {
    let first = msgs.first().ok_or_else(|| ClientError::InvalidArgument("empty batch".into()))?;
    check_topic(&first.topic)?;
    if first.topic.starts_with(system_topics::RETRY_PREFIX) {
        return Err(ClientError::InvalidArgument("batches cannot go to retry topics".into()));
    }
    let estimate: usize = msgs
        .iter()
        .map(|m| {
            22 + m.body.len()
                + 64
                + m.properties.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>()
        })
        .sum();
    let mut out = BytesMut::with_capacity(estimate);
    let mut id_list = String::with_capacity(msgs.len() * 33);
    let mut id = String::with_capacity(64);
    for m in msgs {
        if m.topic != first.topic {
            return Err(ClientError::InvalidArgument(
                "all messages of a batch must have the same topic".into(),
            ));
        }
        if m.delay_level() > 0 {
            return Err(ClientError::InvalidArgument("batches do not support delay levels".into()));
        }
        if m.body.is_empty() {
            return Err(ClientError::InvalidArgument("message body is empty".into()));
        }
        id.clear();
        let have_id = match m.property(UNIQ_KEY) {
            Some(v) => {
                id.push_str(v);
                true
            }
            None => {
                ids.next_id_into(&mut id);
                false
            }
        };
        if !id_list.is_empty() {
            id_list.push(',');
        }
        id_list.push_str(&id);
        let start = out.len();
        out.put_i32(0); // total size, patched below
        out.put_i32(0); // magic code (unused in batch bodies)
        out.put_i32(0); // body CRC (computed by the broker)
        out.put_i32(m.flag);
        out.put_i32(m.body.len() as i32);
        out.put_slice(&m.body);
        let props_at = out.len();
        out.put_i16(0); // properties length, patched below
                        // Properties in key order with UNIQ_KEY in its sorted place, as the map would hold it.
        let extra = [(UNIQ_KEY, id.as_str())];
        let extras: &[(&str, &str)] = if have_id { &[] } else { &extra };
        for (k, v) in merged_properties(&m.properties, extras, &[]) {
            put_property(&mut out, k, v);
        }
        let props_len = out.len() - props_at - 2;
        let props_len = i16::try_from(props_len).map_err(|_| {
            ClientError::InvalidArgument(format!(
                "message properties are {props_len} bytes, more than 32767"
            ))
        })?;
        out[props_at..props_at + 2].copy_from_slice(&props_len.to_be_bytes());
        let total = (out.len() - start) as i32;
        out[start..start + 4].copy_from_slice(&total.to_be_bytes());
    }
    if out.len() > shape.max_message_size {
        return Err(ClientError::InvalidArgument(format!(
            "batch is {} bytes, more than the maximum {}",
            out.len(),
            shape.max_message_size
        )));
    }
    let mut h = base_header(&first.topic, shape);
    h.m = Some(true);
    h.i = Some(mq_common::message::encode_properties([(WAIT, "true")]));
    Ok(PreparedSend {
        code: request::SEND_BATCH_MESSAGE,
        header: h,
        body: out.freeze(),
        msg_id: id_list,
    })
}

fn put_property(out: &mut BytesMut, k: &str, v: &str) {
    out.put_slice(k.as_bytes());
    out.put_u8(mq_common::message::property::NAME_VALUE_SEPARATOR as u8);
    out.put_slice(v.as_bytes());
    out.put_u8(mq_common::message::property::PROPERTY_SEPARATOR as u8);
}

/// Whether a failed send is worth retrying on another broker (Java `retryResponseCodes`).
pub(crate) fn is_retriable(code: i32) -> bool {
    matches!(
        code,
        response::TOPIC_NOT_EXIST
            | response::SERVICE_NOT_AVAILABLE
            | response::SYSTEM_ERROR
            | response::SYSTEM_BUSY
            | response::NO_PERMISSION
            | response::NO_BUYER_ID
            | response::NOT_IN_CURRENT_UNIT
    )
}

/// Interpret a send response.
pub(crate) fn parse_response(
    addr: &str,
    resp: &RemotingCommand,
    mq: &MessageQueue,
    msg_id: &str,
) -> Result<SendResult> {
    let status = match resp.code {
        response::SUCCESS => SendStatus::SendOk,
        response::FLUSH_DISK_TIMEOUT => SendStatus::FlushDiskTimeout,
        response::FLUSH_SLAVE_TIMEOUT => SendStatus::FlushSlaveTimeout,
        response::SLAVE_NOT_AVAILABLE => SendStatus::SlaveNotAvailable,
        _ => return Err(ClientError::from_response(addr, resp)),
    };
    let h = SendMessageResponseHeader::read(&resp.ext_fields)
        .map_err(|e| ClientError::BadResponse(e.to_string()))?;
    let mut queue = mq.clone();
    queue.queue_id = h.queue_id;
    Ok(SendResult {
        status,
        msg_id: msg_id.to_string(),
        offset_msg_id: h.msg_id,
        message_queue: queue,
        queue_offset: h.queue_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::message::decode_batch;
    use mq_common::protocol::header::SendMessageRequestHeader;

    fn shape() -> SendShape {
        SendShape {
            group: "PG".into(),
            compress_threshold: 16,
            max_message_size: 1024,
            default_topic_queue_nums: 4,
        }
    }

    #[test]
    fn single_message_frame() {
        let ids = UniqIdGenerator::new("127.0.0.1".parse().unwrap());
        let mut m = Message::new("T", &b"hello"[..]);
        m.set_tags("tg");
        let p = prepare_single(&m, &shape(), &ids).unwrap();
        let cmd = p.command(3, "b");
        assert_eq!(cmd.code, 310);
        let h = SendMessageRequestHeader::read_any(cmd.code, &cmd.ext_fields).unwrap();
        assert_eq!(
            (h.topic.as_str(), h.queue_id, h.sys_flag, h.default_topic.as_str()),
            ("T", 3, 0, "TBW102")
        );
        let props = h.properties.unwrap();
        assert!(
            props.contains("TAGS\u{1}tg\u{2}")
                && props.contains(&format!("UNIQ_KEY\u{1}{}\u{2}", p.msg_id))
        );
        assert_eq!(&cmd.body[..], b"hello");
    }

    #[test]
    fn single_properties_match_clone_and_insert() {
        let ids = UniqIdGenerator::new("127.0.0.1".parse().unwrap());
        let mut m = Message::new("%RETRY%G", &b"x"[..]);
        m.set_tags("tg");
        m.put_property("A", "1");
        m.put_property("ZZ", "z");
        m.put_property(RECONSUME_TIME, "3");
        m.put_property(MAX_RECONSUME_TIMES, "16");
        let p = prepare_single(&m, &shape(), &ids).unwrap();
        let mut want = m.clone();
        want.put_property(UNIQ_KEY, p.msg_id.clone());
        want.put_property(WAIT, "true");
        want.remove_property(RECONSUME_TIME);
        want.remove_property(MAX_RECONSUME_TIMES);
        assert_eq!(p.header.i.as_deref(), Some(want.encoded_properties().as_str()));
        assert_eq!((p.header.j, p.header.l), (Some(3), Some(16)));
        m.put_property(UNIQ_KEY, "MINE");
        m.put_property(WAIT, "false");
        let p = prepare_single(&m, &shape(), &ids).unwrap();
        assert_eq!(p.msg_id, "MINE");
        let mut want = m.clone();
        want.remove_property(RECONSUME_TIME);
        want.remove_property(MAX_RECONSUME_TIMES);
        assert_eq!(p.header.i.as_deref(), Some(want.encoded_properties().as_str()));
    }

    #[test]
    fn large_body_is_compressed_and_limit_checked() {
        let ids = UniqIdGenerator::new("127.0.0.1".parse().unwrap());
        let p = prepare_single(&Message::new("T", vec![b'a'; 500]), &shape(), &ids).unwrap();
        assert_eq!(p.header.f & 1, 1);
        assert_eq!(
            mq_common::message::util::zlib_decompress(&p.body, 1000).unwrap(),
            vec![b'a'; 500]
        );
        assert!(prepare_single(&Message::new("T", vec![b'a'; 2000]), &shape(), &ids).is_err());
        assert!(prepare_single(&Message::new("bad topic", &b"x"[..]), &shape(), &ids).is_err());
        assert!(prepare_single(&Message::new("SCHEDULE_TOPIC_XXXX", &b"x"[..]), &shape(), &ids)
            .is_err());
        assert!(prepare_single(&Message::new("T", Bytes::new()), &shape(), &ids).is_err());
    }

    /// The batch body the reference encoder makes of `msgs` once each carries its UNIQ_KEY
    /// from `msg_ids` (comma-separated, as in the prepared send).
    fn reference_batch(msgs: &[Message], msg_ids: &str) -> Vec<u8> {
        let items: Vec<_> = msgs
            .iter()
            .zip(msg_ids.split(','))
            .map(|(m, id)| {
                let mut m = m.clone();
                m.put_property(UNIQ_KEY, id);
                mq_common::message::BatchItem {
                    flag: m.flag,
                    body: m.body.clone(),
                    properties: m.encoded_properties(),
                }
            })
            .collect();
        mq_common::message::encode_batch(&items)
    }

    #[test]
    fn batch_frame() {
        let ids = UniqIdGenerator::new("127.0.0.1".parse().unwrap());
        let msgs: Vec<_> =
            (0..3).map(|i| Message::new("T", format!("m{i}").into_bytes())).collect();
        let p = prepare_batch(&msgs, &shape(), &ids).unwrap();
        assert_eq!(p.code, 320);
        assert_eq!(p.header.m, Some(true));
        let items = decode_batch(&p.body).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(&items[2].body[..], b"m2");
        assert_eq!(p.msg_id.split(',').count(), 3);
        // Byte-identical to the reference encoder over the messages with UNIQ_KEY set.
        assert_eq!(&p.body[..], &reference_batch(&msgs, &p.msg_id)[..]);
        let mut tagged = msgs.clone();
        tagged[0].set_tags("tg");
        tagged[1].put_property("ZZ", "z");
        tagged[2].put_property(UNIQ_KEY, "FIXED");
        let p = prepare_batch(&tagged, &shape(), &ids).unwrap();
        assert_eq!(p.msg_id.split(',').nth(2), Some("FIXED"));
        assert_eq!(&p.body[..], &reference_batch(&tagged, &p.msg_id)[..]);
        let mut mixed = msgs.clone();
        mixed.push(Message::new("U", &b"x"[..]));
        assert!(prepare_batch(&mixed, &shape(), &ids).is_err());
        assert!(prepare_batch(&[], &shape(), &ids).is_err());
    }

    #[test]
    fn response_parsing() {
        let mq = MessageQueue::new("T", "b", -1);
        let ok = RemotingCommand::success()
            .with_ext("msgId", "AB")
            .with_ext("queueId", 2)
            .with_ext("queueOffset", 7);
        let r = parse_response("x", &ok, &mq, "U").unwrap();
        assert_eq!(
            (r.queue_offset, r.message_queue.queue_id, r.offset_msg_id.as_str()),
            (7, 2, "AB")
        );
        let err = RemotingCommand::error(response::TOPIC_NOT_EXIST, "no");
        assert_eq!(parse_response("x", &err, &mq, "U").unwrap_err().code(), Some(17));
        assert!(is_retriable(response::SYSTEM_BUSY) && !is_retriable(response::MESSAGE_ILLEGAL));
    }
}
