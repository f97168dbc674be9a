//! Client registry bodies: HEART_BEAT data, subscriptions, message queues, orderly locks,
//! consumer lists (spec §2.6, §2.8).

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A queue: topic, broker name, queue id. Ordered and hashable so it can key maps and sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MessageQueue {
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Topic.
    pub topic: String,
}

impl MessageQueue {
    /// A queue of `topic` on `broker_name`.
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue { topic: topic.into(), broker_name: broker_name.into(), queue_id }
    }
}

impl fmt::Display for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}#{}", self.topic, self.broker_name, self.queue_id)
    }
}

/// A consumer's subscription of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionData {
    /// Class filter (obsolete).
    pub class_filter_mode: bool,
    /// Topic.
    pub topic: String,
    /// Expression (`*` or `a || b`, or SQL92).
    pub sub_string: String,
    /// Tags.
    pub tags_set: BTreeSet<String>,
    /// Java `String.hashCode` of each tag; Go sends them as strings, Java as numbers.
    #[serde(deserialize_with = "lenient_i32_set")]
    pub code_set: BTreeSet<i32>,
    /// Version (ms timestamp).
    #[serde(deserialize_with = "lenient_i64")]
    pub sub_version: i64,
    /// `TAG` or `SQL92`; absent from ali-ons (treat as TAG).
    pub expression_type: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            topic: String::new(),
            sub_string: "*".into(),
            tags_set: BTreeSet::new(),
            code_set: BTreeSet::new(),
            sub_version: 0,
            expression_type: "TAG".into(),
        }
    }
}

impl SubscriptionData {
    /// Build a TAG subscription from an expression, computing tags and codes like Java's
    /// `FilterAPI.buildSubscriptionData` (see [`SubscriptionData::normalize`]). A malformed
    /// expression (separators only) yields a subscription that matches nothing.
    pub fn build(topic: &str, sub_string: &str, sub_version: i64) -> Self {
        SubscriptionData {
            topic: topic.into(),
            sub_string: sub_string.into(),
            sub_version,
            ..Default::default()
        }
        .normalized()
    }

    /// True if the expression matches every tag.
    pub fn is_all(&self) -> bool {
        let s = super::java_trim(&self.sub_string);
        s.is_empty() || s == super::SUB_ALL
    }

    /// Codes to filter on: those of the [normalised](SubscriptionData::normalize) form, so a
    /// subscription that was never normalised still filters on the real tag hash codes.
    pub fn effective_codes(&self) -> BTreeSet<i32> {
        self.clone().normalized().code_set
    }
}

/// Producer registration in a heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProducerData {
    /// Producer group.
    pub group_name: String,
}

/// Consumer registration in a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerData {
    /// Consumer group.
    pub group_name: String,
    /// `CONSUME_ACTIVELY` (pull) / `CONSUME_PASSIVELY` (push) / `CONSUME_POP`.
    #[serde(deserialize_with = "consume_type_name")]
    pub consume_type: String,
    /// `CLUSTERING` / `BROADCASTING`.
    #[serde(deserialize_with = "message_model_name")]
    pub message_model: String,
    /// `CONSUME_FROM_LAST_OFFSET` etc.
    #[serde(deserialize_with = "consume_from_where_name")]
    pub consume_from_where: String,
    /// Subscriptions.
    pub subscription_data_set: Vec<SubscriptionData>,
    /// Unit mode.
    pub unit_mode: bool,
}

impl Default for ConsumerData {
    fn default() -> Self {
        ConsumerData {
            group_name: String::new(),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: "CLUSTERING".into(),
            consume_from_where: "CONSUME_FROM_LAST_OFFSET".into(),
            subscription_data_set: Vec::new(),
            unit_mode: false,
        }
    }
}

/// HEART_BEAT body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HeartbeatData {
    /// `clientIP@instanceName[@unitName]`.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Producer groups.
    pub producer_data_set: Vec<ProducerData>,
    /// Consumer groups.
    pub consumer_data_set: Vec<ConsumerData>,
    /// 5.x heartbeat V2: fingerprint of the subscriptions (0 = V1 heartbeat).
    pub heartbeat_fingerprint: i32,
    /// 5.x heartbeat V2: the subscriptions are unchanged and omitted (`withoutSub`, Java's
    /// `isWithoutSub`). Sent only to brokers that advertise V2, which this one does not; if a
    /// client sends it anyway, the registered subscriptions are kept.
    #[serde(rename = "withoutSub")]
    pub is_without_sub: bool,
}

/// CHECK_CLIENT_CONFIG request body: a consumer asks each broker, before it starts, whether it
/// can serve a (SQL92) subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CheckClientRequestBody {
    /// Client id.
    pub client_id: String,
    /// Consumer group.
    pub group: String,
    /// The subscription to check.
    pub subscription_data: Option<SubscriptionData>,
    /// 5.x namespace (unused here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// LOCK_BATCH_MQ request body (and UNLOCK_BATCH_MQ's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LockBatchRequestBody {
    /// Consumer group.
    pub consumer_group: String,
    /// Client id.
    pub client_id: String,
    /// 5.x: do not forward to replicas.
    pub only_this_broker: bool,
    /// Queues.
    pub mq_set: BTreeSet<MessageQueue>,
}

/// LOCK_BATCH_MQ response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LockBatchResponseBody {
    /// Queues now held by the caller.
    #[serde(rename = "lockOKMQSet")]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

/// GET_CONSUMER_LIST_BY_GROUP response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerListByGroupResponseBody {
    /// Client ids.
    pub consumer_id_list: Vec<String>,
}

/// Java enum constants in declaration order: fastjson reads an enum from its name or its
/// ordinal, and rocketmq-client-cpp (PyPI `rocketmq`, Go 1.x's C core) sends ordinals.
const CONSUME_TYPES: &[&str] = &["CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP"];
const MESSAGE_MODELS: &[&str] = &["BROADCASTING", "CLUSTERING"];
const CONSUME_FROM_WHERE: &[&str] = &[
    "CONSUME_FROM_LAST_OFFSET",
    "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",
    "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET",
    "CONSUME_FROM_TIMESTAMP",
];

fn consume_type_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_name_or_ordinal(d, CONSUME_TYPES)
}

fn message_model_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_name_or_ordinal(d, MESSAGE_MODELS)
}

fn consume_from_where_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_name_or_ordinal(d, CONSUME_FROM_WHERE)
}

/// A Java enum sent as its name (kept as is) or as its ordinal (mapped to the name).
fn enum_name_or_ordinal<'de, D: Deserializer<'de>>(
    d: D,
    names: &'static [&'static str],
) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => {
            n.as_u64().and_then(|i| names.get(i as usize)).map(|s| s.to_string()).ok_or_else(|| {
                de::Error::custom(format!(
                    "enum ordinal {n} out of range (expected one of {names:?})"
                ))
            })
        }
        other => Err(de::Error::custom(format!("expected an enum name or ordinal, got {other}"))),
    }
}

/// An i64 sent as a number or a numeric string (rocketmq-client-cpp sends `"subVersion":"17..."`).
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => {
            n.as_i64().ok_or_else(|| de::Error::custom(format!("{n} is not an i64")))
        }
        serde_json::Value::String(s) => {
            s.trim().parse().map_err(|_| de::Error::custom(format!("'{s}' is not an integer")))
        }
        serde_json::Value::Null => Ok(0),
        other => Err(de::Error::custom(format!("expected an integer, got {other}"))),
    }
}

fn lenient_i32_set<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<i32>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = BTreeSet<i32>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of integers or integer strings")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeSet::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeSet::new();
            while let Some(v) = seq.next_element::<serde_json::Value>()? {
                let n = match v {
                    serde_json::Value::Number(n) => n.as_i64(),
                    serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
                    _ => None,
                };
                if let Some(n) = n {
                    out.insert(n as i32);
                }
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_and_ali_ons_heartbeats() {
        let go = r#"{"clientID":"1.2.3.4@1","producerDataSet":[],"consumerDataSet":[{"groupName":"G","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"topic":"T","subString":"a || b","tagsSet":["a","b"],"codeSet":["97","98"],"subVersion":1}]}]}"#;
        let hb: HeartbeatData = serde_json::from_str(go).unwrap();
        let sd = &hb.consumer_data_set[0].subscription_data_set[0];
        assert_eq!(sd.code_set, [97, 98].into_iter().collect());
        assert_eq!(sd.expression_type, "TAG");
    }

    #[test]
    fn parses_cpp_client_heartbeat_with_enum_ordinals() {
        // Captured from rocketmq-client-cpp 1.x (PyPI `rocketmq` 0.4.4).
        let cpp = r#"{"clientID":"8557-127.0.0.1@DEFAULT","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"groupName":"PY_CG","messageModel":1,"subscriptionDataSet":[{"subString":"*","subVersion":"1795320563571","topic":"%RETRY%PY_CG"},{"codeSet":[0],"subString":"TagA","subVersion":"1795320563571","tagsSet":["TagA"],"topic":"PyT"}]}]}"#;
        let hb: HeartbeatData = serde_json::from_str(cpp).unwrap();
        let cd = &hb.consumer_data_set[0];
        assert_eq!(cd.consume_type, "CONSUME_PASSIVELY");
        assert_eq!(cd.message_model, "CLUSTERING");
        assert_eq!(cd.consume_from_where, "CONSUME_FROM_LAST_OFFSET");
        assert_eq!(cd.subscription_data_set[1].sub_version, 1_795_320_563_571);
        let bad = cpp.replace(r#""messageModel":1"#, r#""messageModel":7"#);
        assert!(serde_json::from_str::<HeartbeatData>(&bad)
            .unwrap_err()
            .to_string()
            .contains("ordinal 7"));
    }

    #[test]
    fn build_subscription() {
        let sd = SubscriptionData::build("T", " a || b ", 5);
        assert_eq!(sd.tags_set.len(), 2);
        assert!(!sd.is_all());
        assert!(SubscriptionData::build("T", "*", 5).is_all());
    }
}
