//! Body parsing helpers. The admin bodies themselves (TopicStatsTable, ConsumeStats,
//! ConsumerConnection, ProducerConnection, GroupList) are `mq_common::protocol::body` types,
//! which accept Java's fastjson form (MessageQueue objects as map keys).

use mq_common::protocol::lenient_json;
use serde::de::DeserializeOwned;

/// Parse a body into `T`, tolerating fastjson output.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    lenient_json::from_slice(body).map_err(|e| format!("bad response body: {e}"))
}
