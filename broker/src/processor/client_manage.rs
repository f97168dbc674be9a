//! Client registry (spec §2.6, §2.8): HEART_BEAT, UNREGISTER_CLIENT, CHECK_CLIENT_CONFIG,
//! channel close/expiry (→ NOTIFY_CONSUMER_IDS_CHANGED), LOCK_BATCH_MQ / UNLOCK_BATCH_MQ.

use mq_common::filter::MessageFilter;
use mq_common::protocol::body::{
    system_topics, to_json, CheckClientRequestBody, HeartbeatData, LockBatchRequestBody,
    LockBatchResponseBody, PERM_READ, PERM_WRITE,
};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::UnregisterClientRequestHeader;
use mq_common::protocol::{lenient_json, now_millis, RemotingCommand};
use mq_common::remoting::Channel;

use super::{err, header, Reply};
use crate::broker::Broker;
use crate::consumer_manager::ClientChannel;

/// HEART_BEAT (34). Every group and producer is registered; a subscription whose expression
/// does not compile (SQL92) is registered too (its pulls get FILTER_DATA_NOT_EXIST, as in
/// Java), and the heartbeat answers SUBSCRIPTION_PARSE_FAILED naming it, so the client
/// learns why at once (Java's broker only logs it).
pub fn heartbeat(b: &Broker, ch: &Channel, req: &RemotingCommand) -> Reply {
    let hb: HeartbeatData = match lenient_json::from_slice(&req.body) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(client = %ch.peer_addr(), error = %e, body = %String::from_utf8_lossy(&req.body[..req.body.len().min(600)]), "bad heartbeat body");
            return Err(err(response::SYSTEM_ERROR, format!("bad heartbeat body: {e}")));
        }
    };
    let now = now_millis();
    let mut refused: Vec<String> = Vec::new();
    let client = ClientChannel {
        channel: ch.clone().into(),
        client_id: hb.client_id.clone(),
        language: req.language.clone(),
        version: req.version,
        last_update: now,
    };
    for cd in hb.consumer_data_set {
        if let Some(gc) = b.groups.find_or_create(&cd.group_name) {
            // The retry topic must exist before the first send-back.
            let retry = system_topics::retry_topic(&cd.group_name);
            b.topics.ensure(&retry, gc.retry_queue_nums.max(1), PERM_READ | PERM_WRITE);
        }
        let sent = if hb.is_without_sub && cd.subscription_data_set.is_empty() {
            b.consumers
                .with_group(&cd.group_name, |g| {
                    g.subscriptions.values().map(|s| s.data.clone()).collect()
                })
                .unwrap_or_default()
        } else {
            cd.subscription_data_set
        };
        let subs = sent
            .into_iter()
            .map(|mut s| {
                // One normalisation for every path (common `SubscriptionData::normalize`):
                // clients differ in how they send codes (numbers, strings, none, and
                // rocketmq-client-cpp sends atoi(tag), i.e. 0), so codes are recomputed from
                // the expression. A malformed one is kept (it matches nothing, as in Java).
                if let Err(e) = s.normalize() {
                    tracing::warn!(group = %cd.group_name, topic = %s.topic, error = %e, "malformed subscription in heartbeat");
                }
                s
            })
            .collect();
        let out = b.consumers.register(
            &cd.group_name,
            client.clone(),
            &cd.consume_type,
            &cd.message_model,
            &cd.consume_from_where,
            subs,
        );
        if b.live.enable_property_filter() {
            b.consumers.with_group(&cd.group_name, |g| {
                for sub in g.subscriptions.values() {
                    if let Err(e) = &sub.filter {
                        refused.push(format!(
                            "group {} topic {} {} '{}': {e}",
                            cd.group_name, sub.topic, sub.expression_type, sub.sub_string
                        ));
                    }
                }
            });
        }
        if (out.channel_added || out.subscriptions_changed)
            && b.live.notify_consumer_ids_changed_enable()
        {
            tracing::info!(group = %cd.group_name, client = %hb.client_id, "consumer group changed, notifying members");
            b.consumers.notify_ids_changed(&cd.group_name);
        }
    }
    for pd in hb.producer_data_set {
        b.producers.register(&pd.group_name, client.clone());
    }
    if !refused.is_empty() {
        tracing::warn!(client = %hb.client_id, refused = ?refused, "heartbeat with a subscription that does not compile");
        return Err(err(
            response::SUBSCRIPTION_PARSE_FAILED,
            format!("subscription refused: {}", refused.join("; ")),
        ));
    }
    Ok(Some(RemotingCommand::success()))
}

/// CHECK_CLIENT_CONFIG (46), Java's `checkClientConfig`: a consumer (Java's
/// `checkClientInBroker`, at start) asks whether this broker serves its non-TAG subscription.
/// TAG → SUCCESS; SQL92 without `enablePropertyFilter` → SYSTEM_ERROR "The broker does not
/// support consumer to filter message by SQL92"; an expression that does not compile →
/// SUBSCRIPTION_PARSE_FAILED with the reason.
pub fn check_client_config(b: &Broker, req: &RemotingCommand) -> Reply {
    let ok = || Ok(Some(RemotingCommand::success()));
    let body: CheckClientRequestBody = match lenient_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(_) if req.body.is_empty() => return ok(),
        Err(e) => {
            return Err(err(response::SYSTEM_ERROR, format!("bad CheckClientRequestBody: {e}")))
        }
    };
    let Some(mut sd) = body.subscription_data else { return ok() };
    if let Err(e) = sd.normalize() {
        return Err(err(response::SUBSCRIPTION_PARSE_FAILED, e.to_string()));
    }
    if sd.is_tag_type() {
        return ok();
    }
    super::pull::sql_allowed(b, &sd).map_err(|remark| err(response::SYSTEM_ERROR, remark))?;
    match MessageFilter::compile(&sd) {
        Ok(_) => ok(),
        Err(e) => {
            tracing::warn!(client = %body.client_id, group = %body.group, expression = %sd.sub_string, error = %e, "client filter expression refused");
            Err(err(response::SUBSCRIPTION_PARSE_FAILED, e.to_string()))
        }
    }
}

/// UNREGISTER_CLIENT (35).
pub fn unregister(b: &Broker, ch: &Channel, req: &RemotingCommand) -> Reply {
    let h: UnregisterClientRequestHeader = header(req)?;
    if let Some(g) = h.producer_group.as_deref().filter(|g| !g.is_empty()) {
        b.producers.unregister(g, ch.id());
    }
    if let Some(g) = h.consumer_group.as_deref().filter(|g| !g.is_empty()) {
        if b.consumers.unregister(g, ch.id()) && b.live.notify_consumer_ids_changed_enable() {
            b.consumers.notify_ids_changed(g);
        }
    }
    Ok(Some(RemotingCommand::success()))
}

/// A connection closed: drop it from every group and tell the remaining members.
pub fn channel_closed(b: &Broker, ch: &Channel) {
    b.producers.remove_channel(ch.id());
    for g in b.consumers.remove_channel(ch.id()) {
        tracing::info!(group = %g, peer = %ch.peer_addr(), "consumer channel closed");
        if b.live.notify_consumer_ids_changed_enable() {
            b.consumers.notify_ids_changed(&g);
        }
    }
}

/// Expire channels not refreshed for `clientChannelExpiredTime` (run every 10 s).
pub fn scan_expired(b: &Broker) {
    let deadline = now_millis() - b.live.client_channel_expired_time() as i64;
    for (group, channel) in b.consumers.expired(deadline) {
        tracing::info!(%group, peer = %channel.peer_addr(), "consumer channel expired");
        if b.consumers.unregister(&group, channel.id())
            && b.live.notify_consumer_ids_changed_enable()
        {
            b.consumers.notify_ids_changed(&group);
        }
        channel.close();
    }
    b.producers.expire(deadline);
}

/// LOCK_BATCH_MQ (41).
pub fn lock_batch(b: &Broker, req: &RemotingCommand) -> Reply {
    let body: LockBatchRequestBody = match lenient_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return Err(err(response::SYSTEM_ERROR, format!("bad lock body: {e}"))),
    };
    let ok = b.locks.try_lock(&body.consumer_group, &body.client_id, &body.mq_set, now_millis());
    Ok(Some(
        RemotingCommand::success()
            .with_body(to_json(&LockBatchResponseBody { lock_ok_mq_set: ok })),
    ))
}

/// UNLOCK_BATCH_MQ (42).
pub fn unlock_batch(b: &Broker, req: &RemotingCommand) -> Reply {
    let body: LockBatchRequestBody = match lenient_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return Err(err(response::SYSTEM_ERROR, format!("bad unlock body: {e}"))),
    };
    b.locks.unlock(&body.consumer_group, &body.client_id, &body.mq_set);
    Ok(Some(RemotingCommand::success()))
}
