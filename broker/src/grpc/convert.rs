//! Stored records → gRPC `Message` (spec §9.7; written by `grpc::encode`) and the property
//! names both directions share.

use bytes::{Bytes, BytesMut};
use mq_common::message::property;
use mq_grpc_proto::v2::Message;
use mq_grpc_proto::{Duration, Timestamp};
use prost::Message as _;

use super::digest::{DigestCache, DigestStyle};
use super::encode::encode_message;
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

/// The gRPC message a stored record shows as (`encode_message`'s bytes, decoded):
/// with its POP delivery data if any, the body digest from `digests` in the receiving
/// client's `style`.
pub fn to_message(
    rec: &Bytes,
    pop: Option<&Popped>,
    invisible_ms: i64,
    digests: &DigestCache,
    style: DigestStyle,
) -> Option<Message> {
    let mut out = BytesMut::new();
    encode_message(rec, pop, invisible_ms, digests, style, &mut out)?;
    Message::decode(out.freeze()).ok()
}
