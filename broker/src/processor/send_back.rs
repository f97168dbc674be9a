//! CONSUMER_SEND_MSG_BACK (36), spec §2.7: a consumer failed a message; re-append it to the
//! group's retry topic with a delay level (3 + reconsumeTimes by default) or, past the retry
//! budget, to the group's dead-letter topic.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use mq_common::acl::Perm;
use mq_common::message::property::{DELAY, ORIGIN_MESSAGE_ID, RETRY_TOPIC};
use mq_common::message::{encode_offset_msg_id, MessageExtBrokerInner, RecordView};
use mq_common::protocol::body::{system_topics, PERM_READ, PERM_WRITE};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::ConsumerSendMsgBackRequestHeader;
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::Channel;

use super::{answer_when_durable, err, header, Reply};
use crate::broker::Broker;
use crate::store::PutMessageStatus;

/// Process a send-back.
pub fn process(b: &Arc<Broker>, ch: &Channel, req: &RemotingCommand) -> Reply {
    let h: ConsumerSendMsgBackRequestHeader = header(req)?;
    let Some(gc) = b.groups.find_or_create(&h.group) else {
        return Err(err(
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group not exist, {}", h.group),
        ));
    };
    if !b.writable() {
        return Err(err(
            response::NO_PERMISSION,
            format!("the broker[{}] sending message is forbidden", b.cfg.broker_ip1),
        ));
    }
    if gc.retry_queue_nums <= 0 {
        return Ok(Some(RemotingCommand::success()));
    }
    let Some(rec) = b.store.look_message_by_offset(h.offset) else {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("look message by offset failed, {}", h.offset),
        ));
    };
    let view = match RecordView::parse(&rec, false) {
        Ok(v) => v,
        Err(e) => {
            return Err(err(
                response::SYSTEM_ERROR,
                format!("stored message at {} unreadable: {e}", h.offset),
            ))
        }
    };
    // The group's SUB was checked before dispatch; the message copied into its retry topic
    // must be one the caller may read, or any consumer could pull any topic's message
    // through its own retry topic (open in Java 4.x).
    super::found::may_access(b, ch, req, view.topic, Perm::SUB)?;
    let mut m = MessageExtBrokerInner {
        topic: system_topics::retry_topic(&h.group),
        queue_id: rand::random_range(0..gc.retry_queue_nums),
        flag: view.flag,
        sys_flag: view.sys_flag,
        born_timestamp: view.born_timestamp,
        born_host: view.born_host,
        store_host: b.store_host,
        reconsume_times: view.reconsume_times + 1,
        prepared_transaction_offset: 0,
        body: rec.slice_ref(view.body),
        properties: view.properties.to_string(),
        tags_code: 0,
    };
    if m.property(RETRY_TOPIC).is_none() {
        m.set_property(RETRY_TOPIC, view.topic);
    }
    let max = h.max_reconsume_times.unwrap_or(gc.retry_max_times);
    if view.reconsume_times >= max || h.delay_level < 0 {
        m.topic = system_topics::dlq_topic(&h.group);
        m.queue_id = 0;
        m.remove_property(DELAY);
        b.topics.ensure(&m.topic, 1, PERM_READ | PERM_WRITE);
        tracing::info!(group = %h.group, reconsume = view.reconsume_times, "message moved to DLQ");
        b.metrics.sent_to_dlq(&h.group);
    } else {
        b.topics.ensure(&m.topic, gc.retry_queue_nums, PERM_READ | PERM_WRITE);
        let level = if h.delay_level == 0 { 3 + view.reconsume_times } else { h.delay_level };
        m.set_property(DELAY, &level.to_string());
    }
    if m.property(ORIGIN_MESSAGE_ID).is_none() {
        let origin = h
            .origin_msg_id
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| encode_offset_msg_id(view.store_host, view.physical_offset));
        m.set_property(ORIGIN_MESSAGE_ID, &origin);
    }
    // As Java's store hook: the retry's delay level wins over timer properties (they are
    // dropped), and a delivered timer copy (TIMER_OUT_MS) is not timed again.
    b.timer.intercept(&mut m).map_err(|e| err(e.code(), e.to_string()))?;
    let put = b.store.put_message(m);
    if put.result.status.is_stored() {
        b.stats.put_msgs.fetch_add(1, Ordering::Relaxed);
    }
    // As Java: only PUT_OK (durable, under SYNC_FLUSH) is a success.
    answer_when_durable(b, ch, req, put, |r| match r.status {
        PutMessageStatus::PutOk => RemotingCommand::success(),
        s => err(response::SYSTEM_ERROR, format!("{s:?} {}", r.remark)),
    })
}
