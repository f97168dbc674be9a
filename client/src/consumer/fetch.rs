//! PULL_MESSAGE and what the client does with the answer (spec §2.4): decode the records,
//! decompress, re-filter by tag string, stamp MIN/MAX_OFFSET, restore the topic of retried
//! messages.

use std::time::Duration;

use bytes::Bytes;
use mq_common::message::property::{MAX_OFFSET, MIN_OFFSET, RETRY_TOPIC};
use mq_common::message::MessageExt;
use mq_common::protocol::body::{system_topics, SubscriptionData};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::{PullMessageRequestHeader, PullMessageResponseHeader};
use mq_common::protocol::RemotingCommand;

use crate::api::{decode, ClientApi};
use crate::error::{ClientError, Result};

/// What a pull found.
#[derive(Debug)]
pub enum PullStatus {
    /// Messages (already filtered; may be empty if the client-side filter removed all).
    Found(Vec<MessageExt>),
    /// Nothing new (PULL_NOT_FOUND).
    NoNewMsg,
    /// Entries were scanned but none matched (PULL_RETRY_IMMEDIATELY).
    NoMatchedMsg,
    /// The requested offset is outside the queue (PULL_OFFSET_MOVED).
    OffsetIllegal,
}

/// A decoded pull answer.
#[derive(Debug)]
pub struct PullResult {
    /// Outcome.
    pub status: PullStatus,
    /// Where to pull next.
    pub next_begin_offset: i64,
    /// Queue minimum offset.
    pub min_offset: i64,
    /// Queue maximum offset.
    pub max_offset: i64,
    /// Replica to pull from next (0 = master).
    pub suggest_which_broker_id: i64,
}

/// Send one PULL_MESSAGE and classify the answer. Codes other than the four pull outcomes
/// (e.g. SUBSCRIPTION_NOT_LATEST, SUBSCRIPTION_NOT_EXIST) are errors the caller backs off on.
pub async fn pull(
    api: &ClientApi,
    addr: &str,
    header: &PullMessageRequestHeader,
    timeout: Duration,
    sub: &SubscriptionData,
    group: &str,
) -> Result<PullResult> {
    let resp = api
        .invoke(addr, RemotingCommand::request_with_header(request::PULL_MESSAGE, header), timeout)
        .await?;
    let status = match resp.code {
        response::SUCCESS => PullStatus::Found(Vec::new()),
        response::PULL_NOT_FOUND => PullStatus::NoNewMsg,
        response::PULL_RETRY_IMMEDIATELY => PullStatus::NoMatchedMsg,
        response::PULL_OFFSET_MOVED => PullStatus::OffsetIllegal,
        _ => return Err(ClientError::from_response(addr, &resp)),
    };
    let h: PullMessageResponseHeader = decode(&resp)?;
    let status = match status {
        PullStatus::Found(_) => {
            PullStatus::Found(process_found(&resp.body, sub, h.min_offset, h.max_offset, group))
        }
        s => s,
    };
    Ok(PullResult {
        status,
        next_begin_offset: h.next_begin_offset,
        min_offset: h.min_offset,
        max_offset: h.max_offset,
        suggest_which_broker_id: h.suggest_which_broker_id,
    })
}

/// Largest body we inflate (guards against zip bombs).
const MAX_INFLATED: usize = 64 * 1024 * 1024;

/// Decode concatenated records; a corrupt tail is logged and skipped.
pub fn decode_records(body: &Bytes) -> Vec<MessageExt> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        match MessageExt::decode(&body.slice(at..), true) {
            Ok((m, n)) if n > 0 => {
                out.push(m);
                at += n;
            }
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, at, "undecodable record in pull response, skipping the rest");
                break;
            }
        }
    }
    for m in &mut out {
        if let Ok(b) = m.body_uncompressed(MAX_INFLATED) {
            if b.len() != m.body.len()
                || m.sys_flag & mq_common::message::sysflag::COMPRESSED_FLAG != 0
            {
                m.body = b;
                m.sys_flag &= !mq_common::message::sysflag::COMPRESSED_FLAG;
            }
        }
    }
    out
}

/// Decode, then filter by tag and fix up properties. (The broker filters by tag hash code;
/// clients re-check the tag string, as Java's do. SQL92 is evaluated by the broker only.)
pub fn process_found(
    body: &Bytes,
    sub: &SubscriptionData,
    min: i64,
    max: i64,
    group: &str,
) -> Vec<MessageExt> {
    let retry = system_topics::retry_topic(group);
    decode_records(body)
        .into_iter()
        .filter(|m| {
            !sub.is_tag_type()
                || sub.is_all()
                || m.tags().map(|t| sub.tags_set.contains(t)).unwrap_or(false)
        })
        .map(|mut m| {
            m.properties.insert(MIN_OFFSET.into(), min.to_string());
            m.properties.insert(MAX_OFFSET.into(), max.to_string());
            if m.topic == retry {
                if let Some(t) = m.properties.get(RETRY_TOPIC).cloned() {
                    m.topic = t;
                }
            }
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::message::record::{encode_record, RecordFields};
    use mq_common::message::{crc32_masked, encode_properties};

    fn record(off: i64, tags: &str, topic: &str, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut props: Vec<(&str, &str)> = vec![("TAGS", tags)];
        props.extend_from_slice(extra);
        let props = encode_properties(props);
        let body = b"body";
        encode_record(&RecordFields {
            queue_id: 0,
            flag: 0,
            queue_offset: off,
            physical_offset: off * 100,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_timestamp: 2,
            store_host: "127.0.0.1:10911".parse().unwrap(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            body_crc: crc32_masked(body),
            topic,
            properties: &props,
        })
        .unwrap()
    }

    #[test]
    fn filters_tags_and_restores_retry_topic() {
        let mut buf = record(0, "a", "T", &[]);
        buf.extend(record(1, "b", "T", &[]));
        buf.extend(record(2, "c", "%RETRY%G", &[("RETRY_TOPIC", "T")]));
        let body = Bytes::from(buf);
        let sub = SubscriptionData::build("T", "a || c", 1);
        let got = process_found(&body, &sub, 0, 3, "G");
        assert_eq!(got.iter().map(|m| m.queue_offset).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(got[1].topic, "T");
        assert_eq!(got[0].property(MAX_OFFSET), Some("3"));
        let all = process_found(&body, &SubscriptionData::build("T", "*", 1), 0, 3, "G");
        assert_eq!(all.len(), 3);
        // A truncated tail keeps the good prefix.
        let cut = body.slice(..body.len() - 3);
        assert_eq!(decode_records(&cut).len(), 2);
    }
}
