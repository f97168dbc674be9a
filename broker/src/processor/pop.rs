//! The POP requests of the remoting protocol over the shared POP engine (`crate::pop`):
//! POP_MESSAGE (200050, long polling), ACK_MESSAGE (200051), CHANGE_MESSAGE_INVISIBLETIME
//! (200053), BATCH_ACK_MESSAGE (200151). Answers follow Java's shapes: the records as the body
//! (like a pull) and the `popTime` / `invisibleTime` / `startOffsetInfo` / `msgOffsetInfo`
//! header from which Java's client builds each message's receipt handle (`extraInfo`); the
//! per-queue value it puts first is the pop's check-point offset (the first offset it handed
//! out from that queue), above which a batch ack names offsets as bits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mq_common::filter::MessageFilter;
use mq_common::protocol::body::{BatchAckMessageRequestBody, SubscriptionData};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader, PopMessageResponseHeader,
};
use mq_common::protocol::{lenient_json, RemotingCommand};
use mq_common::remoting::Channel;

use super::{err, header, Reply};
use crate::broker::Broker;
use crate::pop::{HandleError, PopRequest, Popped, ReceiptHandle, TopicKind, MAX_BATCH};

/// Java's revive queue id that marks an orderly pop.
const ORDER_REVIVE_QID: i32 = 999;
/// Longest long poll honoured.
const MAX_POLL_MS: i64 = 30_000;

fn kind_mark(k: TopicKind) -> &'static str {
    match k {
        TopicKind::Normal => "0",
        TopicKind::Retry => "1",
    }
}

fn handle_error(e: &HandleError) -> RemotingCommand {
    match e {
        HandleError::Io(m) => err(response::SYSTEM_ERROR, m.clone()),
        other => err(response::NO_MESSAGE, other.to_string()),
    }
}

/// The answer to a pop that found messages.
fn found(b: &Broker, popped: &[Popped], invisible: i64, order: bool) -> RemotingCommand {
    let pop_time = popped.first().map(|p| p.handle.pop_time).unwrap_or(0);
    // Per (kind, queue): the check-point offset (first field of Java's handle) and the offsets.
    let mut queues: BTreeMap<(&'static str, i32), (i64, Vec<i64>)> = BTreeMap::new();
    // Sized once: grown by doubling, a 32-message answer was copied about twice over.
    let mut body = BytesMut::with_capacity(popped.iter().map(|p| p.record.len()).sum());
    for p in popped {
        let e = queues
            .entry((kind_mark(p.handle.kind), p.handle.queue_id))
            .or_insert((p.handle.ck, Vec::new()));
        e.1.push(p.handle.queue_offset);
        body.extend_from_slice(&p.record);
    }
    let start =
        queues.iter().map(|((k, q), (g, _))| format!("{k} {q} {g}")).collect::<Vec<_>>().join(";");
    let offsets = queues
        .iter()
        .map(|((k, q), (_, o))| {
            format!("{k} {q} {}", o.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
        })
        .collect::<Vec<_>>()
        .join(";");
    let hdr = PopMessageResponseHeader {
        pop_time,
        invisible_time: invisible,
        revive_qid: if order { ORDER_REVIVE_QID } else { 0 },
        rest_num: 0,
        start_offset_info: Some(start),
        msg_offset_info: Some(offsets),
        order_count_info: None,
    };
    b.stats.get_msgs.fetch_add(popped.len() as u64, std::sync::atomic::Ordering::Relaxed);
    RemotingCommand::success_with_header(&hdr).with_body(body.freeze())
}

fn not_found() -> RemotingCommand {
    let hdr = PopMessageResponseHeader {
        pop_time: 0,
        invisible_time: 0,
        revive_qid: 0,
        rest_num: 0,
        start_offset_info: None,
        msg_offset_info: None,
        order_count_info: None,
    };
    let mut r = RemotingCommand::success_with_header(&hdr);
    r.code = response::PULL_NOT_FOUND;
    r.remark = Some("no new message".into());
    r
}

/// POP_MESSAGE: answered at once when messages are there, else after the long poll.
pub fn pop_message(b: &Arc<Broker>, ch: &Channel, req: RemotingCommand) -> Reply {
    let h: PopMessageRequestHeader = header(&req)?;
    if !b.readable() {
        return Err(err(response::NO_PERMISSION, "the broker is not readable"));
    }
    let gc = b.groups.find_or_create(&h.consumer_group).ok_or_else(|| {
        err(
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group [{}] does not exist", h.consumer_group),
        )
    })?;
    if !b.topics.contains(&h.topic) {
        return Err(err(response::TOPIC_NOT_EXIST, format!("topic[{}] not exist", h.topic)));
    }
    let ty = h.exp_type.as_deref().unwrap_or("TAG");
    let sub =
        SubscriptionData::from_expression(&h.topic, h.exp.as_deref().unwrap_or("*"), Some(ty), 0)
            .map_err(|e| err(response::SUBSCRIPTION_PARSE_FAILED, format!("bad filter: {e}")))?;
    super::pull::sql_allowed(b, &sub).map_err(|e| err(response::SYSTEM_ERROR, e))?;
    let filter = MessageFilter::compile(&sub)
        .map_err(|e| err(response::SUBSCRIPTION_PARSE_FAILED, format!("bad filter: {e}")))?;
    if h.invisible_time <= 0 {
        return Err(err(response::SYSTEM_ERROR, "invisibleTime must be positive"));
    }
    let order = h.order == Some(true) || gc.consume_message_orderly;
    let max_attempts = gc.retry_max_times + 1;
    // Messages there (the common case under load): answered here, without a task and its
    // wake-ups; the long poll waits in a task.
    match b.pop.pop(b, &pop_request(&h, &filter, order, max_attempts)) {
        Ok(v) if !v.is_empty() => return Ok(Some(found(b, &v, h.invisible_time, order))),
        Ok(_) if h.poll_time <= 0 => return Ok(Some(not_found())),
        Ok(_) => {}
        Err(e) => return Ok(Some(handle_error(&e))),
    }
    let (b, ch) = (b.clone(), ch.clone());
    let opaque = req.opaque;
    tokio::spawn(async move {
        let pop_req = pop_request(&h, &filter, order, max_attempts);
        let poll = Duration::from_millis(h.poll_time.clamp(0, MAX_POLL_MS) as u64);
        let until = tokio::time::Instant::now() + poll;
        let resp = match b.pop.pop_wait(&b, &pop_req, until, ch.closed()).await {
            Ok(v) if v.is_empty() => not_found(),
            Ok(v) => found(&b, &v, h.invisible_time, order),
            Err(e) => handle_error(&e),
        };
        ch.respond(opaque, resp);
    });
    Ok(None)
}

/// The engine's request for a POP_MESSAGE.
fn pop_request<'a>(
    h: &'a PopMessageRequestHeader,
    filter: &'a MessageFilter,
    order: bool,
    max_attempts: i32,
) -> PopRequest<'a> {
    PopRequest {
        group: &h.consumer_group,
        topic: &h.topic,
        queue_id: (h.queue_id >= 0).then_some(h.queue_id),
        max: (h.max_msg_nums.max(1) as usize).min(MAX_BATCH),
        invisible_ms: h.invisible_time,
        filter,
        fifo: order,
        max_attempts,
        owner: 0,
        attempt_id: h.attempt_id.as_deref().filter(|a| !a.is_empty()),
    }
}

/// ACK_MESSAGE.
pub fn ack_message(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: AckMessageRequestHeader = header(req)?;
    let rh = ReceiptHandle::decode(&h.extra_info)
        .ok_or_else(|| err(response::SYSTEM_ERROR, "malformed extraInfo"))?;
    match b.pop.ack(b, &h.consumer_group, &h.topic, std::slice::from_ref(&rh)).pop() {
        Some(Ok(())) => Ok(Some(RemotingCommand::success())),
        Some(Err(e)) => Err(handle_error(&e)),
        None => Err(err(response::SYSTEM_ERROR, "nothing acked")),
    }
}

/// CHANGE_MESSAGE_INVISIBLETIME.
pub fn change_invisible(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: ChangeInvisibleTimeRequestHeader = header(req)?;
    let rh = ReceiptHandle::decode(&h.extra_info)
        .ok_or_else(|| err(response::SYSTEM_ERROR, "malformed extraInfo"))?;
    let nh = b
        .pop
        .change_invisible(&h.consumer_group, &h.topic, &rh, h.invisible_time.max(0))
        .map_err(|e| handle_error(&e))?;
    let hdr = ChangeInvisibleTimeResponseHeader {
        pop_time: nh.pop_time,
        invisible_time: nh.invisible_time,
        revive_qid: 0,
    };
    Ok(Some(RemotingCommand::success_with_header(&hdr)))
}

/// BATCH_ACK_MESSAGE: every offset of every entry is acked as ACK_MESSAGE would with the
/// handle Java's client built from it (check-point offset, pop time, invisible time). As in
/// Java, an offset whose handle no longer holds (acked, redelivered, expired) is skipped, an
/// unknown topic answers TOPIC_NOT_EXIST and an empty body NO_MESSAGE; a journal failure is
/// SYSTEM_ERROR.
pub fn batch_ack_message(b: &Broker, req: &RemotingCommand) -> Reply {
    let body: BatchAckMessageRequestBody = lenient_json::from_slice(&req.body)
        .map_err(|e| err(response::SYSTEM_ERROR, format!("bad BatchAckMessageRequestBody: {e}")))?;
    if body.acks.is_empty() {
        return Err(err(response::NO_MESSAGE, "no ack in the request"));
    }
    let broker_name: Arc<str> = Arc::from(body.broker_name.as_str());
    for a in &body.acks {
        if !b.topics.contains(&a.topic) {
            return Err(err(response::TOPIC_NOT_EXIST, format!("topic[{}] not exist", a.topic)));
        }
        let kind = if a.retry == "1" { TopicKind::Retry } else { TopicKind::Normal };
        let handles: Vec<ReceiptHandle> = a
            .offsets()
            .map(|offset| ReceiptHandle {
                ck: a.start_offset,
                pop_time: a.pop_time,
                invisible_time: a.invisible_time,
                kind,
                broker_name: broker_name.clone(),
                queue_id: a.queue_id,
                queue_offset: offset,
                commit_log_offset: 0,
            })
            .collect();
        for r in b.pop.ack(b, &a.consumer_group, &a.topic, &handles) {
            if let Err(e @ HandleError::Io(_)) = r {
                return Err(handle_error(&e));
            }
        }
    }
    Ok(Some(RemotingCommand::success()))
}
