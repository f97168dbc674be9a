//! Admin response bodies, from `mq_common::protocol::body` (fastjson-compatible parsing of
//! `MessageQueue`-keyed maps), with parse helpers returning [`ClientError`].

use std::collections::BTreeMap;

use mq_common::protocol::body::MessageQueue;
pub use mq_common::protocol::body::{
    Connection, ConsumeStats, ConsumerConnection, GroupList, OffsetWrapper, ProducerConnection,
    ResetOffsetBody, TopicOffset, TopicStatsTable,
};

use crate::error::{ClientError, Result};

/// Parse a TopicStatsTable body into per-queue offsets.
pub fn parse_topic_stats(body: &[u8]) -> Result<BTreeMap<MessageQueue, TopicOffset>> {
    TopicStatsTable::parse(body).map(|t| t.offset_table.0).map_err(ClientError::BadResponse)
}

/// Parse a ConsumeStats body: per-queue offsets and the group's TPS.
pub fn parse_consume_stats(body: &[u8]) -> Result<(BTreeMap<MessageQueue, OffsetWrapper>, f64)> {
    ConsumeStats::parse(body)
        .map(|c| (c.offset_table.0, c.consume_tps))
        .map_err(ClientError::BadResponse)
}

/// Parse a ResetOffsetBody (`{"offsetTable":{mq:offset}}`).
pub fn parse_reset_offsets(body: &[u8]) -> Result<BTreeMap<MessageQueue, i64>> {
    ResetOffsetBody::parse(body).map(|r| r.offset_table.0).map_err(ClientError::BadResponse)
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
