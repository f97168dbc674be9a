//! Stored records → gRPC `Message` (spec §9.7) and the property names both directions share.

use std::net::SocketAddr;

use bytes::Bytes;
use mq_common::message::property::{
    self, CHECK_IMMUNITY_TIME_IN_SECONDS, DELAY, KEYS, RETRY_TOPIC, SHARDING_KEY, TAGS,
    TIMER_DELIVER_MS, TRAN_MSG, UNIQ_KEY,
};
use mq_common::message::{encode_offset_msg_id, sysflag, RecordView};
use mq_common::protocol::body::system_topics;
use mq_grpc_proto::v2::{
    DeadLetterQueue, Encoding, Message, MessageType, Resource, SystemProperties,
};
use mq_grpc_proto::{Duration, Timestamp};

use super::digest::{DigestCache, DigestStyle};
use crate::pop::Popped;

/// Apache's property for a message's trace context.
pub const TRACE_CONTEXT: &str = "TRACE_CONTEXT";
/// The DLQ's record of where a message came from.
pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";

/// Property names that are the broker's, not the application's: never shown as user
/// properties and refused as user property keys on send (ILLEGAL_MESSAGE_PROPERTY_KEY).
pub const SYSTEM_PROPERTIES: &[&str] = &[
    "KEYS",
    "TAGS",
    "UNIQ_KEY",
    "WAIT",
    "DELAY",
    "RETRY_TOPIC",
    "REAL_TOPIC",
    "REAL_QID",
    "TRAN_MSG",
    "PGROUP",
    "MIN_OFFSET",
    "MAX_OFFSET",
    "BUYER_ID",
    "ORIGIN_MESSAGE_ID",
    "TRANSFER_FLAG",
    "CORRECTION_FLAG",
    "MQ2_FLAG",
    "RECONSUME_TIME",
    "MAX_RECONSUME_TIMES",
    "MSG_REGION",
    "TRACE_ON",
    "CLUSTER",
    "CONSUME_START_TIME",
    "TRAN_PREPARED_QUEUE_OFFSET",
    "TRANSACTION_CHECK_TIMES",
    "CHECK_IMMUNITY_TIME_IN_SECONDS",
    "__transactionId__",
    "INSTANCE_ID",
    "CORRELATION_ID",
    "REPLY_TO_CLIENT",
    "TTL",
    "ARRIVE_TIME",
    "MSG_TYPE",
    "__SHARDINGKEY",
    "TIMER_DELAY_SEC",
    "TIMER_DELIVER_MS",
    "TIMER_DELAY_MS",
    "TIMER_ENQUEUE_MS",
    "TIMER_DEQUEUE_MS",
    "TIMER_ROLL_TIMES",
    "TIMER_OUT_MS",
    "__STARTDELIVERTIME",
    "DLQ_ORIGIN_TOPIC",
    "DLQ_ORIGIN_MESSAGE_ID",
    "TRACE_CONTEXT",
    "POP_CK",
    "POP_CK_OFFSET",
    "1ST_POP_TIME",
    "SHARDING_KEY",
    "bname",
    "INNER_NUM",
    "INNER_BASE",
];

/// True for a broker-owned property name.
pub fn is_system_property(k: &str) -> bool {
    SYSTEM_PROPERTIES.contains(&k) || k.starts_with(property::TRANSIENT_PREFIX)
}

/// A protobuf timestamp of epoch ms.
pub fn ts(ms: i64) -> Timestamp {
    Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

/// Epoch ms of a protobuf timestamp (saturating).
pub fn ms_of(t: &Timestamp) -> i64 {
    t.seconds.saturating_mul(1000).saturating_add((t.nanos / 1_000_000) as i64)
}

/// Milliseconds of a protobuf duration (saturating; negative stays negative).
pub fn dur_ms(d: &Duration) -> i64 {
    d.seconds.saturating_mul(1000).saturating_add((d.nanos / 1_000_000) as i64)
}

/// A protobuf duration of ms.
pub fn dur(ms: i64) -> Duration {
    Duration { seconds: ms / 1000, nanos: ((ms % 1000) * 1_000_000) as i32 }
}

/// `a` as text (`ip:port`, as `SocketAddr`'s Display writes it). By hand (itoa) for IPv4:
/// two per delivered message, and the formatting machinery was a visible part of a POP's cost.
fn host_of(a: SocketAddr) -> String {
    let SocketAddr::V4(v4) = a else { return a.to_string() };
    let mut s = String::with_capacity(21);
    let mut n = itoa::Buffer::new();
    for (i, o) in v4.ip().octets().iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push_str(n.format(*o));
    }
    s.push(':');
    s.push_str(n.format(v4.port()));
    s
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

/// Convert a stored record (optionally with its POP delivery data) to a gRPC message; the
/// body digest comes from `digests`, in the receiving client's `style`. One pass over the
/// properties, borrowing until the message's own strings are built.
pub fn to_message(
    rec: &Bytes,
    pop: Option<&Popped>,
    invisible_ms: i64,
    digests: &DigestCache,
    style: DigestStyle,
) -> Option<Message> {
    let v = RecordView::parse(rec, false).ok()?;
    let mut user = std::collections::HashMap::new();
    let (mut tag, mut keys, mut uniq, mut group, mut trace) = (None, None, None, None, None);
    let (mut timer, mut retry_topic, mut dlq_origin) = (None, None, None);
    let (mut tran, mut delay, mut immunity) = (None, None, None);
    // Later duplicates win, as everywhere properties are read.
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
            k if is_system_property(k) => {}
            k => {
                user.insert(k.to_string(), val.to_string());
            }
        }
    }
    let message_id = match uniq {
        Some(u) => u.to_string(),
        None => encode_offset_msg_id(v.store_host, v.physical_offset),
    };
    // A redelivery copy in a retry topic is shown under its original topic.
    let topic = match retry_topic {
        Some(t) if v.topic.starts_with(system_topics::RETRY_PREFIX) => t,
        _ => v.topic,
    };
    let dead_letter_queue =
        v.topic.starts_with(system_topics::DLQ_PREFIX).then(|| DeadLetterQueue {
            topic: dlq_origin.or(retry_topic).unwrap_or_default().to_string(),
            message_id: message_id.clone(),
        });
    let compressed = v.sys_flag & sysflag::COMPRESSED_FLAG != 0;
    let sp = SystemProperties {
        tag: tag.map(str::to_string),
        keys: keys
            .map(|k| k.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
        message_id,
        body_digest: Some(digests.digest(&v, style)),
        body_encoding: if compressed { Encoding::Gzip } else { Encoding::Identity } as i32,
        message_type: type_of(v.sys_flag, tran, group, timer, delay) as i32,
        born_timestamp: Some(ts(v.born_timestamp)),
        born_host: host_of(v.born_host),
        store_timestamp: Some(ts(v.store_timestamp)),
        store_host: host_of(v.store_host),
        delivery_timestamp: timer.and_then(|t| t.parse::<i64>().ok()).map(ts),
        receipt_handle: pop.map(|p| p.handle.encode()),
        queue_id: v.queue_id,
        queue_offset: Some(v.queue_offset),
        invisible_duration: pop.map(|_| dur(invisible_ms)),
        delivery_attempt: Some(pop.map(|p| p.attempt).unwrap_or(v.reconsume_times + 1)),
        message_group: group.map(str::to_string),
        trace_context: trace.map(str::to_string),
        orphaned_transaction_recovery_duration: immunity
            .and_then(|s| s.parse::<i64>().ok())
            .map(|s| dur(s * 1000)),
        dead_letter_queue,
        lite_topic: None,
        priority: None,
    };
    Some(Message {
        topic: Some(Resource { resource_namespace: String::new(), name: topic.to_string() }),
        user_properties: user,
        system_properties: Some(sp),
        body: rec.slice_ref(v.body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_text_is_socket_addr_display() {
        for a in
            ["0.0.0.0:0", "127.0.0.1:10911", "255.255.255.255:65535", "10.2.30.4:8", "[::1]:81"]
        {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(host_of(a), a.to_string());
        }
    }
}
