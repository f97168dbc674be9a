//! Admin response bodies the client reads (Java field names). Maps keyed by `MessageQueue` come
//! from fastjson with the queue object as key; `lenient_json` turns those keys into strings,
//! which are parsed back here.
//!
//! Kept private to the client until the broker's `common::protocol::body::admin` lands on main;
//! the names and fields match it so switching is a change of `use`.

use std::collections::{BTreeMap, BTreeSet};

use mq_common::protocol::body::{MessageQueue, SubscriptionData};
use mq_common::protocol::lenient_json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};

#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawTable<V> {
    offset_table: BTreeMap<String, V>,
    consume_tps: f64,
}

impl<V> Default for RawTable<V> {
    fn default() -> Self {
        RawTable { offset_table: BTreeMap::new(), consume_tps: 0.0 }
    }
}

fn parse_mq_table<V: DeserializeOwned>(body: &[u8]) -> Result<(BTreeMap<MessageQueue, V>, f64)> {
    let raw: RawTable<V> = lenient_json::from_slice(body).map_err(|e| ClientError::BadResponse(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (k, v) in raw.offset_table {
        let mq: MessageQueue = serde_json::from_str(&k).map_err(|e| ClientError::BadResponse(format!("bad queue key {k}: {e}")))?;
        out.insert(mq, v);
    }
    Ok((out, raw.consume_tps))
}

/// Min/max offsets of one queue (GET_TOPIC_STATS_INFO).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicOffset {
    /// Smallest offset still stored.
    pub min_offset: i64,
    /// Next offset to be written.
    pub max_offset: i64,
    /// Store time of the last message, ms.
    pub last_update_timestamp: i64,
}

/// Parse a TopicStatsTable body.
pub fn parse_topic_stats(body: &[u8]) -> Result<BTreeMap<MessageQueue, TopicOffset>> {
    parse_mq_table(body).map(|(t, _)| t)
}

/// Broker vs consumer offset of one queue (GET_CONSUME_STATS).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OffsetWrapper {
    /// Queue max offset.
    pub broker_offset: i64,
    /// Group's committed offset.
    pub consumer_offset: i64,
    /// Store time of the last consumed message, ms.
    pub last_timestamp: i64,
}

/// Parse a ConsumeStats body: per-queue offsets and the group's TPS.
pub fn parse_consume_stats(body: &[u8]) -> Result<(BTreeMap<MessageQueue, OffsetWrapper>, f64)> {
    parse_mq_table(body)
}

/// Parse a ResetOffsetBody (`{"offsetTable":{mq:offset}}`).
pub fn parse_reset_offsets(body: &[u8]) -> Result<BTreeMap<MessageQueue, i64>> {
    parse_mq_table(body).map(|(t, _)| t)
}

/// One client connection as a broker sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Connection {
    /// Client id.
    pub client_id: String,
    /// Remote `ip:port`.
    pub client_addr: String,
    /// Client language.
    pub language: String,
    /// Client version ordinal.
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerConnection {
    /// Connected members.
    pub connection_set: BTreeSet<Connection>,
    /// Subscriptions by topic.
    pub subscription_table: BTreeMap<String, SubscriptionData>,
    /// `CONSUME_PASSIVELY` / `CONSUME_ACTIVELY`.
    pub consume_type: String,
    /// `CLUSTERING` / `BROADCASTING`.
    pub message_model: String,
    /// Consume-from-where name.
    pub consume_from_where: String,
}

/// GET_PRODUCER_CONNECTION_LIST body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProducerConnection {
    /// Connected producers.
    pub connection_set: BTreeSet<Connection>,
}

/// QUERY_TOPIC_CONSUME_BY_WHO body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GroupList {
    /// Group names.
    pub group_list: BTreeSet<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fastjson_queue_keys() {
        let s = br#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":9,"consumerOffset":4,"lastTimestamp":0}}}"#;
        let (t, tps) = parse_consume_stats(s).unwrap();
        assert_eq!(tps, 1.5);
        assert_eq!(t[&MessageQueue::new("T", "b", 0)].broker_offset, 9);
        let s = br#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"T"}:7}}"#;
        assert_eq!(parse_reset_offsets(s).unwrap()[&MessageQueue::new("T", "b", 1)], 7);
        assert!(parse_topic_stats(b"{").is_err());
    }
}
