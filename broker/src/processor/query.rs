//! QUERY_MESSAGE (12) by key and VIEW_MESSAGE_BY_ID (33) by commit-log offset (spec §2.9).

use bytes::BytesMut;
use mq_common::acl::Perm;
use mq_common::message::RecordView;
use mq_common::protocol::codes::response;
use mq_common::protocol::header::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
};
use mq_common::protocol::{now_millis, RemotingCommand};
use mq_common::remoting::Channel;

use super::{err, found, header, Reply};
use crate::broker::Broker;

/// Java `defaultQueryMaxNum` (unique-key queries) and `maxMsgsNumBatch` caps.
const DEFAULT_QUERY_MAX_NUM: i32 = 32;
const MAX_MSGS_NUM_BATCH: i32 = 64;

/// QUERY_MESSAGE. Only records of the queried topic are answered: the index hashes
/// `topic#key`, so a collision could find another topic's message, which the pre-dispatch
/// ACL check (SUB on the queried topic) did not cover.
pub fn query_message(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: QueryMessageRequestHeader = header(req)?;
    let mut max = if h.unique_key_query == Some(true) { DEFAULT_QUERY_MAX_NUM } else { h.max_num };
    max = max.clamp(1, MAX_MSGS_NUM_BATCH);
    let mut found = b
        .store
        .query_message(&h.topic, &h.key, max as usize, h.begin_timestamp, h.end_timestamp)
        .messages;
    found.retain(|m| RecordView::parse(m, false).is_ok_and(|v| v.topic == h.topic));
    let hdr = QueryMessageResponseHeader {
        index_last_update_timestamp: now_millis(),
        index_last_update_phyoffset: b.store.get_max_phy_offset(),
    };
    if found.is_empty() {
        let mut r =
            err(response::QUERY_NOT_FOUND, "can not find message, maybe time range not correct");
        mq_common::protocol::CommandHeader::write(&hdr, &mut r.ext_fields);
        return Ok(Some(r));
    }
    let mut body = BytesMut::with_capacity(found.iter().map(|m| m.len()).sum());
    for m in &found {
        body.extend_from_slice(m);
    }
    Ok(Some(RemotingCommand::success_with_header(&hdr).with_body(body.freeze())))
}

/// VIEW_MESSAGE_BY_ID: the record at a commit-log offset, once the caller may read its
/// topic (ACL; the offset alone says nothing about the topic, and a 5.x client's `topic`
/// need not be the record's).
pub fn view_message(b: &Broker, ch: &Channel, req: &RemotingCommand) -> Reply {
    let h: ViewMessageRequestHeader = header(req)?;
    let not_found =
        || err(response::SYSTEM_ERROR, format!("can not find message by the offset, {}", h.offset));
    let Some(rec) = b.store.look_message_by_offset(h.offset) else {
        return Err(not_found());
    };
    if b.acl.is_some() {
        // An unreadable record has no topic to check: nothing is answered.
        let view = RecordView::parse(&rec, false).map_err(|_| not_found())?;
        found::may_access(b, ch, req, view.topic, Perm::SUB)?;
    }
    Ok(Some(RemotingCommand::success().with_body(rec)))
}
