//! Topic configuration, data versions, the REGISTER_BROKER body, perm bits and topic-name rules
//! (spec §2.11, §2.12, §5.2).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

/// Permission bit: priority (unused by clients).
pub const PERM_PRIORITY: i32 = 0x8;
/// Permission bit: readable.
pub const PERM_READ: i32 = 0x4;
/// Permission bit: writable.
pub const PERM_WRITE: i32 = 0x2;
/// Permission bit: a template for auto-created topics (TBW102).
pub const PERM_INHERIT: i32 = 0x1;

/// Well-known system topic names.
pub mod system_topics {
    /// Template topic for auto-creation.
    pub const TBW102: &str = "TBW102";
    /// Delay-level scheduling topic.
    pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
    /// Transaction half messages.
    pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
    /// Transaction op records.
    pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
    /// Transactions checked too often.
    pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
    /// Self test.
    pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
    /// Offset-moved events.
    pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
    /// Benchmark topic.
    pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
    /// Trace topic.
    pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
    /// RocketMQ 5 timer messages waiting for their delivery time (queue 0).
    pub const WHEEL_TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
    /// Prefix of retry topics.
    pub const RETRY_PREFIX: &str = "%RETRY%";
    /// Prefix of dead-letter topics.
    pub const DLQ_PREFIX: &str = "%DLQ%";

    /// Topics producers may not send to directly.
    pub fn is_not_allowed_to_send(topic: &str) -> bool {
        matches!(
            topic,
            SCHEDULE_TOPIC
                | WHEEL_TIMER_TOPIC
                | TRANS_HALF_TOPIC
                | TRANS_OP_HALF_TOPIC
                | TRANS_CHECK_MAX_TIME_TOPIC
                | SELF_TEST_TOPIC
                | OFFSET_MOVED_EVENT
        )
    }

    /// `%RETRY%group`.
    pub fn retry_topic(group: &str) -> String {
        format!("{RETRY_PREFIX}{group}")
    }

    /// `%DLQ%group`.
    pub fn dlq_topic(group: &str) -> String {
        format!("{DLQ_PREFIX}{group}")
    }
}

/// Maximum topic length in bytes (V1 records store it in one signed byte).
pub const TOPIC_MAX_LENGTH: usize = 127;

/// Check a topic name against RocketMQ's rules: non-blank, `[%|a-zA-Z0-9_-]`, ≤ 127 bytes.
/// The error text is meant for a response remark.
pub fn validate_topic(topic: &str) -> Result<(), String> {
    if topic.trim().is_empty() {
        return Err("the topic name is blank".into());
    }
    if topic.len() > TOPIC_MAX_LENGTH {
        return Err(format!(
            "the topic name is longer than {TOPIC_MAX_LENGTH} bytes: {}",
            topic.len()
        ));
    }
    if let Some(c) =
        topic.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-')))
    {
        return Err(format!("the topic name '{topic}' contains an illegal character '{c}', allowed: ^[%|a-zA-Z0-9_-]+$"));
    }
    Ok(())
}

/// A topic's configuration (`config/topics.json` entries, register body, GET_ALL_TOPIC_CONFIG).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicConfig {
    /// Topic name.
    pub topic_name: String,
    /// Readable queues.
    pub read_queue_nums: i32,
    /// Writable queues.
    pub write_queue_nums: i32,
    /// Permission bits.
    pub perm: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    /// Topic sys flag.
    pub topic_sys_flag: i32,
    /// Ordered topic.
    pub order: bool,
    /// 5.x attributes. Always written (`{}` when empty), as Java 5's fastjson does: strict
    /// 5.x decoders (rocketmq-rust) require the field.
    pub attributes: BTreeMap<String, String>,
}

impl Default for TopicConfig {
    /// Java's defaults for a config constructed without values: 16/16 queues, perm RW.
    fn default() -> Self {
        TopicConfig {
            topic_name: String::new(),
            read_queue_nums: 16,
            write_queue_nums: 16,
            perm: PERM_READ | PERM_WRITE,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: 0,
            order: false,
            attributes: BTreeMap::new(),
        }
    }
}

impl TopicConfig {
    /// A topic with `queues` read and write queues and permission `perm`.
    pub fn new(name: impl Into<String>, queues: i32, perm: i32) -> Self {
        TopicConfig {
            topic_name: name.into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm,
            ..Default::default()
        }
    }

    /// Java's `TopicConfig.encode()`: `name readQ writeQ perm filterType [attributesJSON]`.
    pub fn encode_text(&self) -> String {
        let mut s = format!(
            "{} {} {} {} {}",
            self.topic_name,
            self.read_queue_nums,
            self.write_queue_nums,
            self.perm,
            self.topic_filter_type
        );
        if !self.attributes.is_empty() {
            s.push(' ');
            s.push_str(&serde_json::to_string(&self.attributes).unwrap_or_default());
        }
        s
    }

    /// Parse Java's `TopicConfig.encode()` text.
    pub fn decode_text(s: &str) -> Option<Self> {
        let mut parts = s.splitn(6, ' ');
        let mut tc = TopicConfig {
            topic_name: parts.next()?.to_string(),
            read_queue_nums: parts.next()?.parse().ok()?,
            write_queue_nums: parts.next()?.parse().ok()?,
            perm: parts.next()?.parse().ok()?,
            topic_filter_type: parts.next()?.to_string(),
            ..Default::default()
        };
        if let Some(attrs) = parts.next() {
            tc.attributes = serde_json::from_str(attrs).unwrap_or_default();
        }
        Some(tc)
    }
}

/// Version stamp of a broker's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DataVersion {
    /// Change counter.
    pub counter: i64,
    /// Time of the last change, ms.
    pub timestamp: i64,
    /// 5.x state version. Always written (0 when unset): 5.x peers such as rocketmq-rust
    /// reject a DataVersion without it, and 4.x readers ignore the extra field.
    #[serde(serialize_with = "state_version_or_zero")]
    pub state_version: Option<i64>,
}

fn state_version_or_zero<S: serde::Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(v.unwrap_or(0))
}

impl Default for DataVersion {
    /// Counter 0, timestamp 0, stateVersion 0 (what a 5.x broker starts with; written as 0
    /// anyway, so an absent value and 0 are the same on the wire).
    fn default() -> Self {
        DataVersion { counter: 0, timestamp: 0, state_version: Some(0) }
    }
}

impl DataVersion {
    /// Record a change now.
    pub fn next_version(&mut self) {
        self.counter += 1;
        self.timestamp = crate::protocol::now_millis();
    }

    /// Record a role change in controller mode: the state version becomes the group's master
    /// epoch (Java's `nextVersion(newMasterEpoch)`), so a name server keeps the registration
    /// of the newest master when a deposed one, still alive, registers the same broker id.
    pub fn next_version_with_state(&mut self, state_version: i64) {
        self.next_version();
        self.state_version = Some(state_version);
    }
}

/// `{"topicConfigTable":{...},"dataVersion":{...}}` (`topics.json`, GET_ALL_TOPIC_CONFIG).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicConfigSerializeWrapper {
    /// Topic name → config.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// Data version.
    pub data_version: DataVersion,
    /// 5.x static-topic mapping info (`TopicConfigAndMappingSerializeWrapper`), sent by a
    /// 5.x broker in REGISTER_BROKER and GET_ALL_TOPIC_CONFIG. We do not implement static
    /// topics, so the content is kept opaque; `None` (as in `topics.json`) omits the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_info_map: Option<BTreeMap<String, serde_json::Value>>,
    /// 5.x static-topic mapping details; see `topic_queue_mapping_info_map`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_detail_map: Option<BTreeMap<String, serde_json::Value>>,
    /// 5.x version of the mapping tables; see `topic_queue_mapping_info_map`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping_data_version: Option<DataVersion>,
}

impl TopicConfigSerializeWrapper {
    /// The 5.x `TopicConfigAndMappingSerializeWrapper` form: the same topics with empty
    /// static-topic mapping tables, which strict 5.x decoders require in REGISTER_BROKER.
    pub fn with_empty_mappings(mut self) -> Self {
        self.topic_queue_mapping_info_map.get_or_insert_with(BTreeMap::new);
        self.topic_queue_mapping_detail_map.get_or_insert_with(BTreeMap::new);
        self.mapping_data_version.get_or_insert_with(DataVersion::default);
        self
    }
}

/// REGISTER_BROKER body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RegisterBrokerBody {
    /// Topics and data version.
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
    /// Legacy filter servers.
    pub filter_server_list: Vec<String>,
}

impl RegisterBrokerBody {
    /// Decode the compressed form (§5.2): zlib of `len+DataVersion JSON`, `topicCount`,
    /// per topic `len+TopicConfig text`, `len+filterServerList JSON`. Lengths are validated
    /// against the inflated size; nothing is allocated from an unchecked length.
    pub fn decode_compressed(body: &[u8]) -> Result<Self, String> {
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(body)
            .take(64 * 1024 * 1024)
            .read_to_end(&mut raw)
            .map_err(|e| format!("cannot inflate register body: {e}"))?;
        let mut pos = 0usize;
        let dv: DataVersion =
            crate::protocol::lenient_json::from_slice(next_chunk(&raw, &mut pos)?)
                .map_err(|e| format!("bad data version: {e}"))?;
        // The topic count is a bare i32, not a length-prefixed chunk.
        let count = read_i32(&raw, &mut pos)?;
        let mut body = RegisterBrokerBody::default();
        body.topic_config_serialize_wrapper.data_version = dv;
        for _ in 0..count.max(0) {
            let text = std::str::from_utf8(next_chunk(&raw, &mut pos)?)
                .map_err(|_| "topic config not UTF-8")?;
            let tc = TopicConfig::decode_text(text)
                .ok_or_else(|| format!("bad topic config '{text}'"))?;
            body.topic_config_serialize_wrapper
                .topic_config_table
                .insert(tc.topic_name.clone(), tc);
        }
        if let Ok(chunk) = next_chunk(&raw, &mut pos) {
            body.filter_server_list = serde_json::from_slice(chunk).unwrap_or_default();
        }
        Ok(body)
    }

    /// Encode the compressed form (the inverse of [`Self::decode_compressed`]).
    pub fn encode_compressed(&self) -> Vec<u8> {
        let mut raw = Vec::new();
        let chunk = |raw: &mut Vec<u8>, b: &[u8]| {
            raw.extend_from_slice(&(b.len() as i32).to_be_bytes());
            raw.extend_from_slice(b);
        };
        chunk(
            &mut raw,
            &serde_json::to_vec(&self.topic_config_serialize_wrapper.data_version).unwrap(),
        );
        raw.extend_from_slice(
            &(self.topic_config_serialize_wrapper.topic_config_table.len() as i32).to_be_bytes(),
        );
        for tc in self.topic_config_serialize_wrapper.topic_config_table.values() {
            chunk(&mut raw, tc.encode_text().as_bytes());
        }
        chunk(&mut raw, &serde_json::to_vec(&self.filter_server_list).unwrap());
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&raw).unwrap();
        enc.finish().unwrap()
    }
}

fn read_i32(raw: &[u8], pos: &mut usize) -> Result<i32, String> {
    let b = raw.get(*pos..*pos + 4).ok_or("compressed register body truncated")?;
    *pos += 4;
    Ok(i32::from_be_bytes(b.try_into().unwrap()))
}

/// One `i32 length + bytes` chunk; the length is checked against what is left.
fn next_chunk<'a>(raw: &'a [u8], pos: &mut usize) -> Result<&'a [u8], String> {
    let n = read_i32(raw, pos)?;
    if n < 0 || raw.len() - *pos < n as usize {
        return Err(format!("compressed register body: bad length {n}"));
    }
    let c = &raw[*pos..*pos + n as usize];
    *pos += n as usize;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_rules() {
        assert!(validate_topic("Topic_A-1%|x").is_ok());
        assert!(validate_topic("").is_err());
        assert!(validate_topic("a b").is_err());
        assert!(validate_topic(&"x".repeat(128)).is_err());
        assert!(validate_topic(&"x".repeat(127)).is_ok());
    }

    #[test]
    fn compressed_register_body_round_trip() {
        let mut b = RegisterBrokerBody::default();
        b.topic_config_serialize_wrapper.data_version.counter = 3;
        b.topic_config_serialize_wrapper
            .topic_config_table
            .insert("T".into(), TopicConfig::new("T", 4, 6));
        let enc = b.encode_compressed();
        assert_eq!(RegisterBrokerBody::decode_compressed(&enc).unwrap(), b);
        assert!(RegisterBrokerBody::decode_compressed(b"garbage").is_err());
    }

    #[test]
    fn topic_config_json_matches_java() {
        let tc = TopicConfig::new("T", 4, 6);
        assert_eq!(
            serde_json::to_string(&tc).unwrap(),
            r#"{"topicName":"T","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false,"attributes":{}}"#
        );
    }
}
