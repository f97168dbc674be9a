//! Admin response bodies that `mq_common::protocol::body` does not have yet (topic stats,
//! consume stats, connections, group list). Parsed leniently: Java's fastjson writes
//! `MessageQueue` objects as map keys, which `lenient_json` turns into their JSON text; we also
//! accept a plain `"topic@broker@queueId"`-style string key or a list of entries, so either a
//! Java broker or ours can answer.
//!
//! NOTE(console): move these to `common/src/protocol/body/` once the broker engineer lands
//! theirs, and parse with those types instead.

use std::collections::BTreeMap;

use mq_common::protocol::body::MessageQueue;
use mq_common::protocol::lenient_json;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Parse a map whose keys are MessageQueues into (queue, value) pairs.
pub fn mq_map<T: DeserializeOwned>(v: &serde_json::Value) -> Vec<(MessageQueue, T)> {
    let mut out = Vec::new();
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map {
                let mq = serde_json::from_str::<MessageQueue>(k).ok().or_else(|| parse_mq_text(k));
                if let (Some(mq), Ok(t)) = (mq, serde_json::from_value::<T>(val.clone())) {
                    out.push((mq, t));
                }
            }
        }
        serde_json::Value::Array(items) => {
            // [{"mq"|"messageQueue"|"key": {...}, "value": {...}}] or flattened entries.
            for it in items {
                let key = it.get("mq").or_else(|| it.get("messageQueue")).or_else(|| it.get("key"));
                let val = it.get("value").unwrap_or(it);
                if let (Some(k), Ok(t)) = (key, serde_json::from_value::<T>(val.clone())) {
                    if let Ok(mq) = serde_json::from_value::<MessageQueue>(k.clone()) {
                        out.push((mq, t));
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// `MessageQueue [topic=T, brokerName=b, queueId=0]` (Java toString) or `T@b@0`.
fn parse_mq_text(k: &str) -> Option<MessageQueue> {
    if let Some(inner) = k.strip_prefix("MessageQueue [").and_then(|s| s.strip_suffix(']')) {
        let mut topic = None;
        let mut broker = None;
        let mut qid = None;
        for part in inner.split(", ") {
            match part.split_once('=') {
                Some(("topic", v)) => topic = Some(v.to_string()),
                Some(("brokerName", v)) => broker = Some(v.to_string()),
                Some(("queueId", v)) => qid = v.parse().ok(),
                _ => {}
            }
        }
        return Some(MessageQueue::new(topic?, broker?, qid?));
    }
    let mut it = k.rsplitn(3, '@');
    let q = it.next()?.parse().ok()?;
    let b = it.next()?;
    let t = it.next()?;
    Some(MessageQueue::new(t, b, q))
}

/// Parse a body as a JSON value, tolerating fastjson output.
pub fn json_value(body: &[u8]) -> Result<serde_json::Value, String> {
    lenient_json::from_slice(body).map_err(|e| format!("bad response body: {e}"))
}

/// Parse a body into `T`, tolerating fastjson output.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    lenient_json::from_slice(body).map_err(|e| format!("bad response body: {e}"))
}

/// GET_TOPIC_STATS_INFO value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicOffset {
    /// Min offset.
    pub min_offset: i64,
    /// Max offset.
    pub max_offset: i64,
    /// Store time of the last message.
    pub last_update_timestamp: i64,
}

/// GET_CONSUME_STATS value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OffsetWrapper {
    /// Broker max offset.
    pub broker_offset: i64,
    /// Committed offset (Java writes 0 when none is stored; -1 from some brokers).
    pub consumer_offset: i64,
    /// Pull offset.
    pub pull_offset: i64,
    /// Store time of the last consumed message.
    pub last_timestamp: i64,
}

/// GET_CONSUME_STATS body.
pub struct ConsumeStats {
    /// Per queue.
    pub offsets: Vec<(MessageQueue, OffsetWrapper)>,
    /// Consume TPS.
    pub consume_tps: f64,
}

impl ConsumeStats {
    /// Parse.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let v = json_value(body)?;
        Ok(ConsumeStats {
            offsets: v.get("offsetTable").map(mq_map).unwrap_or_default(),
            consume_tps: v.get("consumeTps").and_then(|x| x.as_f64()).unwrap_or(0.0),
        })
    }
}

/// A connection (consumer or producer).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Connection {
    /// Client id.
    pub client_id: String,
    /// Address.
    pub client_addr: String,
    /// Language (string or enum name).
    pub language: serde_json::Value,
    /// Version ordinal.
    pub version: serde_json::Value,
}

impl Connection {
    /// Language as text.
    pub fn language_text(&self) -> String {
        value_text(&self.language)
    }

    /// Version as text (Java sends the MQVersion ordinal).
    pub fn version_text(&self) -> String {
        value_text(&self.version)
    }
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// GET_CONSUMER_CONNECTION_LIST body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerConnection {
    /// Connections.
    pub connection_set: Vec<Connection>,
    /// Topic → subscription.
    pub subscription_table: BTreeMap<String, mq_common::protocol::body::SubscriptionData>,
    /// Consume type.
    pub consume_type: Option<String>,
    /// Message model.
    pub message_model: Option<String>,
    /// Consume from where.
    pub consume_from_where: Option<String>,
}

/// GET_PRODUCER_CONNECTION_LIST body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProducerConnection {
    /// Connections.
    pub connection_set: Vec<Connection>,
}

/// QUERY_TOPIC_CONSUME_BY_WHO body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GroupList {
    /// Groups.
    pub group_list: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastjson_mq_keys() {
        let body = br#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"T"}:{"brokerOffset":9,"consumerOffset":4,"lastTimestamp":5}},"consumeTps":1.5}"#;
        let cs = ConsumeStats::parse(body).unwrap();
        assert_eq!(cs.offsets.len(), 1);
        assert_eq!(cs.offsets[0].0, MessageQueue::new("T", "b", 1));
        assert_eq!(cs.offsets[0].1.broker_offset, 9);
        assert_eq!(cs.consume_tps, 1.5);
    }

    #[test]
    fn text_and_list_keys() {
        let v: serde_json::Value = serde_json::json!({"MessageQueue [topic=T, brokerName=b, queueId=2]": {"maxOffset": 3}, "T@b@3": {"maxOffset": 4}});
        let m: Vec<(MessageQueue, TopicOffset)> = mq_map(&v);
        assert_eq!(m.len(), 2);
        let v = serde_json::json!([{"mq": {"topic":"T","brokerName":"b","queueId":0}, "value": {"maxOffset": 7}}]);
        let m: Vec<(MessageQueue, TopicOffset)> = mq_map(&v);
        assert_eq!(m[0].1.max_offset, 7);
    }
}
