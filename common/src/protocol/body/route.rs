//! Route data: `TopicRouteData`, `QueueData`, `BrokerData`, `ClusterInfo` (spec §2.10).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Per broker name, how many queues of a topic it hosts and with what permission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "QueueDataWire")]
pub struct QueueData {
    /// Broker name.
    pub broker_name: String,
    /// Readable queues.
    pub read_queue_nums: i32,
    /// Writable queues.
    pub write_queue_nums: i32,
    /// Permission bits.
    pub perm: i32,
    /// Topic sys flag (accepts the pre-4.9 spelling `topicSynFlag` too).
    pub topic_sys_flag: i32,
}

/// QueueData as received: `topicSysFlag`, `topicSynFlag` or both (what we and Java 4.9 emit).
/// A serde `alias` cannot be used: it rejects an object carrying both keys as a duplicate.
#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[derive(Default)]
struct QueueDataWire {
    broker_name: String,
    read_queue_nums: i32,
    write_queue_nums: i32,
    perm: i32,
    topic_sys_flag: Option<i32>,
    topic_syn_flag: Option<i32>,
}

impl From<QueueDataWire> for QueueData {
    fn from(w: QueueDataWire) -> Self {
        QueueData {
            broker_name: w.broker_name,
            read_queue_nums: w.read_queue_nums,
            write_queue_nums: w.write_queue_nums,
            perm: w.perm,
            topic_sys_flag: w.topic_sys_flag.or(w.topic_syn_flag).unwrap_or(0),
        }
    }
}

/// Emits both `topicSysFlag` and `topicSynFlag`: Go clients still read the old spelling.
impl Serialize for QueueData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("QueueData", 6)?;
        st.serialize_field("brokerName", &self.broker_name)?;
        st.serialize_field("perm", &self.perm)?;
        st.serialize_field("readQueueNums", &self.read_queue_nums)?;
        st.serialize_field("topicSynFlag", &self.topic_sys_flag)?;
        st.serialize_field("topicSysFlag", &self.topic_sys_flag)?;
        st.serialize_field("writeQueueNums", &self.write_queue_nums)?;
        st.end()
    }
}

/// A broker name and its addresses by broker id (0 = master). Java 5.3 `BrokerData`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BrokerData {
    /// Broker id (as decimal string, since JSON keys are strings) → `ip:port`.
    pub broker_addrs: BTreeMap<String, String>,
    /// Broker name.
    pub broker_name: String,
    /// Cluster name.
    pub cluster: String,
    /// 5.x acting-master flag. Always written (Java 5 writes `false` by default): strict 5.x
    /// decoders (rocketmq-client-rust) refuse a BrokerData without it.
    pub enable_acting_master: bool,
    /// 5.x zone name (written only when set, as fastjson skips nulls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_name: Option<String>,
}

impl BrokerData {
    /// The master address (id 0), if any.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get("0").map(String::as_str)
    }

    /// Address for a broker id, falling back to any address.
    pub fn addr_for(&self, broker_id: i64) -> Option<&str> {
        self.broker_addrs
            .get(&broker_id.to_string())
            .or_else(|| self.broker_addrs.values().next())
            .map(String::as_str)
    }
}

/// GET_ROUTEINFO_BY_TOPIC response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicRouteData {
    /// Brokers hosting the topic.
    pub broker_datas: Vec<BrokerData>,
    /// Legacy filter servers (always empty).
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// Queue data per broker name.
    pub queue_datas: Vec<QueueData>,
    /// `brokerA:4;brokerB:4` for ordered topics (KV namespace `ORDER_TOPIC_CONFIG`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
}

/// GET_BROKER_CLUSTER_INFO response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterInfo {
    /// Broker name → broker data.
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name → broker names.
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::lenient_json;

    #[test]
    fn route_parses_fastjson_and_emits_strict() {
        let s = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"writeQueueNums":4}]}"#;
        let r: TopicRouteData = lenient_json::from_str(s).unwrap();
        assert_eq!(r.broker_datas[0].master_addr(), Some("10.0.0.1:10911"));
        assert_eq!(r.queue_datas[0].write_queue_nums, 4);
        let out = serde_json::to_string(&r).unwrap();
        assert_eq!(
            out,
            r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"topicSysFlag":0,"writeQueueNums":4}]}"#
        );
        // What we emit (both spellings) parses back.
        let back: TopicRouteData = serde_json::from_str(&out).unwrap();
        assert_eq!(back, r);
        let q: QueueData = serde_json::from_str(r#"{"brokerName":"b","topicSysFlag":2}"#).unwrap();
        assert_eq!(q.topic_sys_flag, 2);
    }
}
