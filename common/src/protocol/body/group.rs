//! Subscription group configuration (spec §2.13), Java 5.3's `SubscriptionGroupConfig`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::DataVersion;

/// A consumer group's broker-side configuration (`config/subscriptionGroup.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionGroupConfig {
    /// Group name.
    pub group_name: String,
    /// Consumption allowed.
    pub consume_enable: bool,
    /// May start from the min offset.
    pub consume_from_min_enable: bool,
    /// Broadcast consumption allowed.
    pub consume_broadcast_enable: bool,
    /// Orderly consumption.
    pub consume_message_orderly: bool,
    /// Queues of the retry topic.
    pub retry_queue_nums: i32,
    /// Retries before the DLQ.
    pub retry_max_times: i32,
    /// 5.x retry policy (Java default: `{"type":"CUSTOMIZED"}`; kept as sent otherwise).
    pub group_retry_policy: serde_json::Value,
    /// Broker id to consume from.
    pub broker_id: i64,
    /// Broker id to suggest when the consumer lags.
    pub which_broker_when_consume_slowly: i64,
    /// Push NOTIFY_CONSUMER_IDS_CHANGED on membership change.
    pub notify_consumer_ids_changed_enable: bool,
    /// 5.x group sys flag.
    pub group_sys_flag: i32,
    /// 5.x consume timeout (Java default 15).
    pub consume_timeout_minute: i32,
    /// 5.x simple subscriptions (POP groups); written only when set, as fastjson skips null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_data_set: Option<serde_json::Value>,
    /// 5.x attributes (always written, `{}` by default).
    pub attributes: BTreeMap<String, String>,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig {
            group_name: String::new(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: 16,
            group_retry_policy: default_retry_policy(),
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            group_sys_flag: 0,
            consume_timeout_minute: 15,
            subscription_data_set: None,
            attributes: BTreeMap::new(),
        }
    }
}

/// Java 5.3 `GroupRetryPolicy` default: type CUSTOMIZED, no policy objects (null, not written).
fn default_retry_policy() -> serde_json::Value {
    serde_json::json!({ "type": "CUSTOMIZED" })
}

impl SubscriptionGroupConfig {
    /// A group with default settings.
    pub fn new(name: impl Into<String>) -> Self {
        SubscriptionGroupConfig { group_name: name.into(), ..Default::default() }
    }
}

/// `{"subscriptionGroupTable":{...},"forbiddenTable":{},"dataVersion":{...}}`: what Java 5.3
/// writes for GET_ALL_SUBSCRIPTIONGROUP_CONFIG and `subscriptionGroup.json` (its
/// `SubscriptionGroupManager` with the 5.x `forbiddenTable`, which strict decoders require).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionGroupWrapper {
    /// Group name → config.
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    /// 5.x group → topic → forbidden perm bits (not enforced here; kept and written back).
    pub forbidden_table: BTreeMap<String, BTreeMap<String, i32>>,
    /// Data version.
    pub data_version: DataVersion,
}
