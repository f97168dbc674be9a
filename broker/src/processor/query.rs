//! QUERY_MESSAGE (12) by key and VIEW_MESSAGE_BY_ID (33) by commit-log offset (spec §2.9).

use bytes::BytesMut;
use mq_common::protocol::codes::response;
use mq_common::protocol::header::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
};
use mq_common::protocol::{now_millis, RemotingCommand};

use super::{err, header, Reply};
use crate::broker::Broker;

/// Java `defaultQueryMaxNum` (unique-key queries) and `maxMsgsNumBatch` caps.
const DEFAULT_QUERY_MAX_NUM: i32 = 32;
const MAX_MSGS_NUM_BATCH: i32 = 64;

/// QUERY_MESSAGE.
pub fn query_message(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: QueryMessageRequestHeader = header(req)?;
    let mut max = if h.unique_key_query == Some(true) { DEFAULT_QUERY_MAX_NUM } else { h.max_num };
    max = max.clamp(1, MAX_MSGS_NUM_BATCH);
    let found = b
        .store
        .query_message(&h.topic, &h.key, max as usize, h.begin_timestamp, h.end_timestamp)
        .messages;
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

/// VIEW_MESSAGE_BY_ID.
pub fn view_message(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: ViewMessageRequestHeader = header(req)?;
    match b.store.look_message_by_offset(h.offset) {
        Some(rec) => Ok(Some(RemotingCommand::success().with_body(rec))),
        None => Err(err(
            response::SYSTEM_ERROR,
            format!("can not find message by the offset, {}", h.offset),
        )),
    }
}
