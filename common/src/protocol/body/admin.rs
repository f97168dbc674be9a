//! Admin response bodies (mqadmin / dashboard), Java field names. Maps keyed by
//! [`MessageQueue`] are written the way fastjson writes them — the queue object itself as the
//! key (`{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}}`, not valid JSON) —
//! so Java tools can read them; [`MqKeyed`] writes and parses that form (parsing also accepts
//! the stringified-key form).

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{MessageQueue, SubscriptionData};
use crate::protocol::lenient_json;

/// A `MessageQueue → V` map in fastjson's object-key form.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MqKeyed<V>(pub BTreeMap<MessageQueue, V>);

impl<V: Serialize> MqKeyed<V> {
    /// Append `{<mq>:<v>,...}` to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (mq, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Field order as fastjson (alphabetical): brokerName, queueId, topic.
            out.extend_from_slice(&serde_json::to_vec(mq).unwrap_or_default());
            out.push(b':');
            out.extend_from_slice(&serde_json::to_vec(v).unwrap_or_default());
        }
        out.push(b'}');
    }
}

impl<V: DeserializeOwned> MqKeyed<V> {
    /// Convert a parsed `{"<mq json text>": v}` map (what [`lenient_json`] makes of object keys).
    pub fn from_string_keys(m: BTreeMap<String, V>) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        for (k, v) in m {
            let mq: MessageQueue =
                serde_json::from_str(&k).map_err(|e| format!("bad MessageQueue key {k}: {e}"))?;
            out.insert(mq, v);
        }
        Ok(MqKeyed(out))
    }
}

/// Min/max offsets of one queue (GET_TOPIC_STATS_INFO).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicOffset {
    /// Min logical offset.
    pub min_offset: i64,
    /// Max logical offset.
    pub max_offset: i64,
    /// Store time of the last message (0 if empty).
    pub last_update_timestamp: i64,
}

/// GET_TOPIC_STATS_INFO body: `{"offsetTable":{<mq>:TopicOffset},"topicPutTps":0.0}` (Java
/// 5.3 `TopicStatsTable`; `topicPutTps` is required by strict 5.x decoders).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicStatsTable {
    /// Per-queue offsets.
    pub offset_table: MqKeyed<TopicOffset>,
    /// 5.x: the topic's put TPS.
    pub topic_put_tps: f64,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawOffsetTable<V> {
    offset_table: BTreeMap<String, V>,
    topic_put_tps: f64,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawConsumeStats {
    offset_table: BTreeMap<String, OffsetWrapper>,
    consume_tps: f64,
}

impl TopicStatsTable {
    /// fastjson form (fields in fastjson's alphabetical order).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = b"{\"offsetTable\":".to_vec();
        self.offset_table.write_json(&mut out);
        out.extend_from_slice(format!(",\"topicPutTps\":{:?}}}", self.topic_put_tps).as_bytes());
        out
    }

    /// Parse either form.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let raw: RawOffsetTable<TopicOffset> =
            lenient_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok(TopicStatsTable {
            offset_table: MqKeyed::from_string_keys(raw.offset_table)?,
            topic_put_tps: raw.topic_put_tps,
        })
    }
}

/// Broker vs consumer offset of one queue (GET_CONSUME_STATS).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OffsetWrapper {
    /// Queue max offset.
    pub broker_offset: i64,
    /// Group's committed offset.
    pub consumer_offset: i64,
    /// Store time of the last consumed message (0 if none).
    pub last_timestamp: i64,
    /// 5.x: the group's pull offset (Java: max of pulled and committed; here the committed
    /// offset). Required by strict 5.x decoders.
    pub pull_offset: i64,
}

/// GET_CONSUME_STATS body: `{"consumeTps":0.0,"offsetTable":{<mq>:OffsetWrapper}}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumeStats {
    /// Per-queue offsets.
    pub offset_table: MqKeyed<OffsetWrapper>,
    /// Consume TPS.
    pub consume_tps: f64,
}

impl ConsumeStats {
    /// fastjson form.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out =
            format!("{{\"consumeTps\":{:?},\"offsetTable\":", self.consume_tps).into_bytes();
        self.offset_table.write_json(&mut out);
        out.push(b'}');
        out
    }

    /// Parse either form.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let raw: RawConsumeStats = lenient_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok(ConsumeStats {
            offset_table: MqKeyed::from_string_keys(raw.offset_table)?,
            consume_tps: raw.consume_tps,
        })
    }

    /// Sum over queues of (brokerOffset − consumerOffset).
    pub fn diff_total(&self) -> i64 {
        self.offset_table.0.values().map(|o| (o.broker_offset - o.consumer_offset).max(0)).sum()
    }
}

/// One client connection (ConsumerConnection / ProducerConnection).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Connection {
    /// `clientID`.
    pub client_id: String,
    /// Peer address `ip:port`.
    pub client_addr: String,
    /// Client language.
    pub language: String,
    /// Client version.
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerConnection {
    /// Connections.
    pub connection_set: BTreeSet<Connection>,
    /// Topic → subscription.
    pub subscription_table: BTreeMap<String, SubscriptionData>,
    /// CONSUME_ACTIVELY / CONSUME_PASSIVELY.
    pub consume_type: String,
    /// CLUSTERING / BROADCASTING.
    pub message_model: String,
    /// CONSUME_FROM_*.
    pub consume_from_where: String,
}

/// GET_PRODUCER_CONNECTION_LIST body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProducerConnection {
    /// Connections.
    pub connection_set: BTreeSet<Connection>,
}

/// QUERY_TOPIC_CONSUME_BY_WHO body: `{"groupList":[...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GroupList {
    /// Group names.
    pub group_list: BTreeSet<String>,
}

/// RESET_CONSUMER_CLIENT_OFFSET request body / INVOKE_BROKER_TO_RESET_OFFSET response:
/// `{"offsetTable":{<mq>:offset}}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResetOffsetBody {
    /// Queue → new offset.
    pub offset_table: MqKeyed<i64>,
}

impl ResetOffsetBody {
    /// fastjson form.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = b"{\"offsetTable\":".to_vec();
        self.offset_table.write_json(&mut out);
        out.push(b'}');
        out
    }

    /// Parse either form.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let raw: RawOffsetTable<i64> = lenient_json::from_slice(body).map_err(|e| e.to_string())?;
        Ok(ResetOffsetBody { offset_table: MqKeyed::from_string_keys(raw.offset_table)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_stats_roundtrip_fastjson_form() {
        let mut t = TopicStatsTable::default();
        t.offset_table.0.insert(
            MessageQueue::new("T", "b", 0),
            TopicOffset { min_offset: 0, max_offset: 9, last_update_timestamp: 5 },
        );
        let json = t.to_json();
        assert!(String::from_utf8_lossy(&json).starts_with(
            "{\"offsetTable\":{{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}:"
        ));
        assert_eq!(TopicStatsTable::parse(&json).unwrap(), t);
    }

    #[test]
    fn consume_stats_roundtrip() {
        let mut c = ConsumeStats { consume_tps: 1.5, ..Default::default() };
        c.offset_table.0.insert(
            MessageQueue::new("T", "b", 1),
            OffsetWrapper {
                broker_offset: 10,
                consumer_offset: 4,
                last_timestamp: 0,
                pull_offset: 4,
            },
        );
        let p = ConsumeStats::parse(&c.to_json()).unwrap();
        assert_eq!(p, c);
        assert_eq!(p.diff_total(), 6);
    }
}
