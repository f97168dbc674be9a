//! Consumer offsets and queue offsets (spec §2.5): QUERY/UPDATE_CONSUMER_OFFSET,
//! GET_MAX/MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME, and
//! GET_CONSUMER_LIST_BY_GROUP.

use mq_common::protocol::body::{to_json, ConsumerListByGroupResponseBody};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::{
    ConsumerGroupRequestHeader, EarliestMsgStoretimeResponseHeader, OffsetResponseHeader,
    QueryConsumerOffsetRequestHeader, QueueRequestHeader, SearchOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use mq_common::protocol::RemotingCommand;

use super::{err, header, Reply};
use crate::broker::Broker;

fn offset_reply(offset: i64) -> RemotingCommand {
    RemotingCommand::success_with_header(&OffsetResponseHeader { offset })
}

/// QUERY_CONSUMER_OFFSET (14).
pub fn query_offset(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: QueryConsumerOffsetRequestHeader = header(req)?;
    if let Some(o) = b.offsets.query(&h.consumer_group, &h.topic, h.queue_id) {
        return Ok(Some(offset_reply(o)));
    }
    // Never consumed: a queue that still starts at 0 is read from the beginning (Java: when
    // offset 0 is still in memory; our stores keep the head addressable).
    let min = b.store.get_min_offset_in_queue(&h.topic, h.queue_id);
    if min <= 0 && h.set_zero_if_not_found != Some(false) {
        return Ok(Some(offset_reply(0)));
    }
    Ok(Some(err(
        response::QUERY_NOT_FOUND,
        "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
    )))
}

/// UPDATE_CONSUMER_OFFSET (15).
pub fn update_offset(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: UpdateConsumerOffsetRequestHeader = header(req)?;
    b.offsets.commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    Ok(Some(RemotingCommand::success()))
}

/// QUERY_BROKER_OFFSET (13): the commit-log max offset.
pub fn broker_offset(b: &Broker) -> Reply {
    Ok(Some(offset_reply(b.store.get_max_phy_offset())))
}

/// GET_MAX_OFFSET (30).
pub fn max_offset(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: QueueRequestHeader = header(req)?;
    Ok(Some(offset_reply(b.store.get_max_offset_in_queue(&h.topic, h.queue_id))))
}

/// GET_MIN_OFFSET (31).
pub fn min_offset(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: QueueRequestHeader = header(req)?;
    Ok(Some(offset_reply(b.store.get_min_offset_in_queue(&h.topic, h.queue_id))))
}

/// SEARCH_OFFSET_BY_TIMESTAMP (29).
pub fn search_offset(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: SearchOffsetRequestHeader = header(req)?;
    Ok(Some(offset_reply(b.store.get_offset_in_queue_by_time(&h.topic, h.queue_id, h.timestamp))))
}

/// GET_EARLIEST_MSG_STORETIME (32).
pub fn earliest_time(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: QueueRequestHeader = header(req)?;
    Ok(Some(RemotingCommand::success_with_header(&EarliestMsgStoretimeResponseHeader {
        timestamp: b.store.get_earliest_message_time(&h.topic, h.queue_id).unwrap_or(0),
    })))
}

/// GET_CONSUMER_LIST_BY_GROUP (38).
pub fn consumer_list(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: ConsumerGroupRequestHeader = header(req)?;
    let ids = b.consumers.client_ids(&h.consumer_group);
    if ids.is_empty() {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("no consumer for this group, {}", h.consumer_group),
        ));
    }
    Ok(Some(
        RemotingCommand::success()
            .with_body(to_json(&ConsumerListByGroupResponseBody { consumer_id_list: ids })),
    ))
}
