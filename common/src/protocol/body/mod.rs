//! Request/response bodies (JSON, Java field names), spec §2.6–§2.13 and §5.
//!
//! Parse with [`crate::protocol::lenient_json`] when the sender may be Java (unquoted numeric
//! keys); emit with `serde_json` (strict, compact). Every struct is `#[serde(default)]` so
//! absent fields never fail a parse: clients of many versions send subsets.

mod admin;
mod controller;
mod group;
mod heartbeat;
mod pop;
mod route;
mod subscription;
mod topic;

pub use admin::*;
pub use controller::*;
pub use group::*;
pub use heartbeat::*;
pub use pop::*;
pub use route::*;
pub use subscription::*;
pub use topic::*;

/// `{"table":{...}}`: a string→string table (GET_BROKER_RUNTIME_INFO, KV lists, register reply).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct KvTable {
    /// Entries.
    pub table: std::collections::BTreeMap<String, String>,
}

/// `{"topicList":[...]}` (GET_ALL_TOPIC_LIST_FROM_NAMESERVER, GET_TOPICS_BY_CLUSTER, ...).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicList {
    /// Topic names.
    pub topic_list: Vec<String>,
    /// Broker address (system topic list only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
}

/// Serialize a body to compact JSON bytes.
pub fn to_json<T: serde::Serialize>(value: &T) -> bytes::Bytes {
    // Serializing our own plain data types cannot fail.
    bytes::Bytes::from(serde_json::to_vec(value).expect("body serializes"))
}
