//! Admin requests (mqadmin / console): topics, subscription groups, offset
//! tables, offset reset, and requests forwarded to a consumer's channel.

use std::sync::Arc;
use std::time::Duration;

use mq_common::message::decode_offset_msg_id;
use mq_common::protocol::body::{
    to_json, validate_topic, MessageQueue, MqKeyed, ResetOffsetBody, SubscriptionGroupConfig,
    TopicConfig, TopicList,
};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::{
    ConsumeMessageDirectlyRequestHeader, CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader, GetConsumerRunningInfoRequestHeader,
    ResetOffsetRequestHeader, TopicRequestHeader,
};
use mq_common::protocol::{lenient_json, RemotingCommand};
use mq_common::remoting::Channel;

use super::{err, header, Reply};
use crate::broker::Broker;

/// UPDATE_AND_CREATE_TOPIC (17).
pub fn create_topic(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: CreateTopicRequestHeader = header(req)?;
    if let Err(why) = validate_topic(&h.topic) {
        return Err(err(response::SYSTEM_ERROR, why));
    }
    if h.topic == b.cfg.broker_cluster_name {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("the topic[{}] is conflict with system reserved words (cluster name)", h.topic),
        ));
    }
    if !(0..8).contains(&h.perm) {
        return Err(err(response::SYSTEM_ERROR, format!("perm {} is invalid (0..7)", h.perm)));
    }
    if h.read_queue_nums <= 0
        || h.write_queue_nums <= 0
        || h.read_queue_nums > 1024
        || h.write_queue_nums > 1024
    {
        return Err(err(
            response::SYSTEM_ERROR,
            format!(
                "queue numbers must be 1..1024 (read {}, write {})",
                h.read_queue_nums, h.write_queue_nums
            ),
        ));
    }
    let mut tc = TopicConfig::new(h.topic.clone(), h.read_queue_nums, h.perm);
    tc.write_queue_nums = h.write_queue_nums;
    if let Some(f) = h.topic_filter_type.filter(|f| f == "SINGLE_TAG" || f == "MULTI_TAG") {
        tc.topic_filter_type = f;
    }
    tc.topic_sys_flag = h.topic_sys_flag.unwrap_or(0);
    tc.order = h.order.unwrap_or(false);
    tracing::info!(topic = %h.topic, read = h.read_queue_nums, write = h.write_queue_nums, perm = h.perm, "topic created/updated by admin");
    b.topics.update(tc);
    Ok(Some(RemotingCommand::success()))
}

/// DELETE_TOPIC_IN_BROKER (215).
pub fn delete_topic(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: TopicRequestHeader = header(req)?;
    if mq_common::protocol::body::system_topics::is_not_allowed_to_send(&h.topic)
        || h.topic == mq_common::protocol::body::system_topics::TBW102
    {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("the topic[{}] is a system topic and cannot be deleted", h.topic),
        ));
    }
    b.topics.delete(&h.topic);
    b.offsets.remove_topic(&h.topic);
    b.metrics.forget_topic(&h.topic);
    b.store.delete_topics(&[h.topic.as_str()]);
    Ok(Some(RemotingCommand::success()))
}

/// GET_ALL_TOPIC_CONFIG (21) / GET_TOPIC_CONFIG_LIST (22).
pub fn all_topic_config(b: &Broker) -> Reply {
    // Java 5 answers with TopicConfigAndMappingSerializeWrapper (empty mappings here).
    Ok(Some(
        RemotingCommand::success().with_body(to_json(&b.topics.wrapper().with_empty_mappings())),
    ))
}

/// GET_TOPIC_NAME_LIST (23).
pub fn topic_name_list(b: &Broker) -> Reply {
    Ok(Some(RemotingCommand::success().with_body(to_json(&TopicList {
        topic_list: b.topics.names(),
        broker_addr: Some(b.cfg.broker_addr()),
    }))))
}

/// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): body = SubscriptionGroupConfig JSON.
pub fn create_group(b: &Broker, req: &RemotingCommand) -> Reply {
    let cfg: SubscriptionGroupConfig = match lenient_json::from_slice(&req.body) {
        Ok(c) => c,
        Err(e) => {
            return Err(err(
                response::SYSTEM_ERROR,
                format!("bad SubscriptionGroupConfig body: {e}"),
            ))
        }
    };
    if cfg.group_name.is_empty() {
        return Err(err(response::SYSTEM_ERROR, "groupName is empty"));
    }
    b.groups.update(cfg);
    Ok(Some(RemotingCommand::success()))
}

/// DELETE_SUBSCRIPTIONGROUP (207).
pub fn delete_group(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: DeleteSubscriptionGroupRequestHeader = header(req)?;
    b.groups.delete(&h.group_name);
    b.metrics.forget_group(&h.group_name);
    if h.clean_offset == Some(true) {
        b.offsets.remove_group(&h.group_name);
    }
    Ok(Some(RemotingCommand::success()))
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201).
pub fn all_groups(b: &Broker) -> Reply {
    Ok(Some(RemotingCommand::success().with_body(to_json(&b.groups.wrapper()))))
}

/// GET_ALL_CONSUMER_OFFSET (43).
pub fn all_consumer_offset(b: &Broker) -> Reply {
    Ok(Some(RemotingCommand::success().with_body(b.offsets.to_json(false))))
}

/// GET_ALL_DELAY_OFFSET (45).
pub fn all_delay_offset(b: &Broker) -> Reply {
    Ok(Some(RemotingCommand::success().with_body(b.schedule.to_json())))
}

/// INVOKE_BROKER_TO_RESET_OFFSET (222): reset a group's offsets of a topic to the first
/// message stored at/after `timestamp` (−1 = max offset), store them, and push
/// RESET_CONSUMER_CLIENT_OFFSET to the group's online consumers.
pub fn reset_offset(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: ResetOffsetRequestHeader = header(req)?;
    let Some(tc) = b.topics.get(&h.topic) else {
        return Err(err(response::TOPIC_NOT_EXIST, format!("topic[{}] not exist", h.topic)));
    };
    let force = h.is_force.unwrap_or(true);
    let mut table = MqKeyed::default();
    for q in 0..tc.read_queue_nums.max(tc.write_queue_nums) {
        let target = if h.timestamp < 0 {
            b.store.get_max_offset_in_queue(&h.topic, q)
        } else {
            b.store.get_offset_in_queue_by_time(&h.topic, q, h.timestamp)
        };
        let current = b.offsets.query(&h.group, &h.topic, q);
        let new = match current {
            Some(c) if !force && target >= c => c,
            _ => target,
        };
        b.offsets.commit(&h.group, &h.topic, q, new);
        table.0.insert(MessageQueue::new(h.topic.clone(), b.cfg.broker_name.clone(), q), new);
    }
    let body = ResetOffsetBody { offset_table: table };
    let json = body.to_json();
    let push_hdr = ResetOffsetRequestHeader {
        topic: h.topic.clone(),
        group: h.group.clone(),
        timestamp: h.timestamp,
        is_force: Some(force),
        queue_id: None,
        offset: None,
    };
    for c in b.consumers.channels(&h.group) {
        let cmd = RemotingCommand::request_with_header(rq::RESET_CONSUMER_CLIENT_OFFSET, &push_hdr)
            .with_body(json.clone());
        c.channel.send_oneway(cmd);
    }
    Ok(Some(RemotingCommand::success().with_body(json)))
}

/// GET_CONSUMER_RUNNING_INFO (307) / CONSUME_MESSAGE_DIRECTLY (309): forward to the named
/// client's connection and relay its answer.
pub fn forward_to_client(b: &Arc<Broker>, ch: &Channel, req: RemotingCommand) -> Reply {
    let (group, client_id) = if req.code == rq::GET_CONSUMER_RUNNING_INFO {
        {
            let h = header::<GetConsumerRunningInfoRequestHeader>(&req)?;
            (h.consumer_group, h.client_id)
        }
    } else {
        match header::<ConsumeMessageDirectlyRequestHeader>(&req) {
            Ok(h) => (h.consumer_group, h.client_id.unwrap_or_default()),
            Err(e) => return Err(e),
        }
    };
    let Some(target) = b.consumers.channels(&group).into_iter().find(|c| c.client_id == client_id)
    else {
        return Err(err(
            response::CONSUMER_NOT_ONLINE,
            format!("The Consumer <{client_id}> not online"),
        ));
    };
    let Some(target) = target.channel.remoting().cloned() else {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("the consumer <{client_id}> is a gRPC client: it does not answer this request"),
        ));
    };
    let mut fwd = RemotingCommand::request(req.code);
    fwd.ext_fields = req.ext_fields.clone();
    fwd.body = req.body.clone();
    if req.code == rq::CONSUME_MESSAGE_DIRECTLY {
        // The client wants the message itself; the request names it by offsetMsgId.
        // Normally an offsetMsgId; a UNIQ_KEY works too when the request names the topic.
        let msg_id = req.ext("msgId").unwrap_or("");
        let by_offset = decode_offset_msg_id(msg_id)
            .ok()
            .and_then(|(_, off)| b.store.look_message_by_offset(off));
        let found = by_offset.or_else(|| {
            let topic = req.ext("topic")?;
            b.store.query_message(topic, msg_id, 1, 0, i64::MAX).messages.into_iter().next()
        });
        match found {
            Some(rec) => fwd.body = rec,
            None => return Err(err(response::SYSTEM_ERROR, format!("message {msg_id} not found"))),
        }
    }
    let opaque = req.opaque;
    let ch = ch.clone();
    tokio::spawn(async move {
        let resp = match target.request(fwd, Duration::from_secs(5)).await {
            Ok(mut r) => {
                r.flag = 0;
                r
            }
            Err(e) => {
                err(response::SYSTEM_ERROR, format!("forward to client {client_id} failed: {e}"))
            }
        };
        ch.respond(opaque, resp);
    });
    Ok(None)
}
