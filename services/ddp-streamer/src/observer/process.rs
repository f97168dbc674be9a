//! One `chat_outgoing` message (design §4.5 steps 1–6).
//!
//! Validation and authorization failures are acknowledged (and maybe answered with a
//! `rejected` event): in orderly mode a retried poison message would block its queue for
//! good. Only a failed publish to `chat_inbox` is an error, which suspends the queue and
//! retries the same message in order.

use chat_proto::bodies::{BlockBody, Inbox, InboxMsg, Origin, Outgoing, ReadBody, RejectedBody};
use chat_proto::ids::{validate_msg_id, Room};
use chat_proto::jwt::{self, Claims};
use chat_proto::topics::{conversation_key, sender_key, CHAT_INBOX, PROP_JWT, PROP_RID, PROP_V};
use mq_client::{Message, MessageExt};
use mq_common::protocol::now_millis;

use super::Observer;
use crate::broker::ShardSelector;

/// Process one message; `Err` asks the consumer to retry it (queue suspended, order kept).
pub async fn handle(obs: &Observer, m: &MessageExt) -> anyhow::Result<()> {
    let ev = match m
        .body_uncompressed(16 * 1024 * 1024)
        .ok()
        .and_then(|b| serde_json::from_slice::<Outgoing>(&b).ok())
    {
        Some(ev) => ev,
        None => {
            drop_msg(obs, "invalid-message");
            return Ok(());
        }
    };
    // 1. Validate.
    let Ok(room) = Room::parse(ev.rid()) else {
        drop_msg(obs, "invalid-message");
        return Ok(());
    };
    if validate_msg_id(ev.id()).is_err() {
        drop_msg(obs, "invalid-message");
        return Ok(());
    }
    // 2. Authenticate: the token travels with the message; `exp` is checked against the born
    //    time so a backlog after an outage is not rejected.
    let Some(token) = m.property(PROP_JWT) else {
        drop_msg(obs, "invalid-token");
        return Ok(());
    };
    let claims = match jwt::verify(
        token,
        &obs.cfg.common.jwt_secret,
        &obs.cfg.common.jwt_audience,
        m.born_timestamp / 1000,
        obs.cfg.jwt_grace_s,
    ) {
        Ok(c) => c,
        Err(_) => {
            drop_msg(obs, "invalid-token");
            return Ok(());
        }
    };
    let actor = match &ev {
        Outgoing::Msg(x) => &x.u.id,
        Outgoing::Block(b) | Outgoing::Unblock(b) => &b.blocker,
        Outgoing::Read(r) => &r.u.id,
    };
    if *actor != claims.sub {
        drop_msg(obs, "invalid-token");
        return Ok(());
    }
    // 3. Authorize.
    let allowed = match &ev {
        Outgoing::Msg(_) => claims.can_write(ev.rid()),
        Outgoing::Block(b) | Outgoing::Unblock(b) => {
            room.other_party(&claims.sub) == Some(b.blocked.as_str()) && claims.can_write(ev.rid())
        }
        Outgoing::Read(_) => claims.can_read(ev.rid()),
    };
    if !allowed {
        return reject(obs, &ev, &claims, "not-allowed").await;
    }
    // 4. Deduplicate: the window, then (for old messages: a redelivery after a crash before
    //    the offset commit) the inbox key index.
    if obs.policy.lock().seen(ev.id()) {
        obs.metrics.inc("chat_dedupe_hits_total{layer=\"observer\"}");
        return Ok(());
    }
    if needs_recovery_check(obs, m).await
        && now_millis() - m.born_timestamp > obs.cfg.recovery_age.as_millis() as i64
    {
        let hits = obs
            .inbox
            .query_key(ev.id(), 32, m.born_timestamp - 60_000, now_millis() + 1000)
            .await?;
        if hits.iter().any(|h| h.keys().contains(&ev.id())) {
            obs.policy.lock().mark_seen(ev.id());
            obs.metrics.inc("chat_dedupe_hits_total{layer=\"observer_recovery\"}");
            return Ok(());
        }
    }
    // 5. Policy, and 6. publish.
    let origin = Origin {
        gw: m.property(chat_proto::topics::PROP_GW).unwrap_or_default().to_string(),
        q: m.queue_id,
        offset: m.queue_offset,
        observer: obs.cfg.common.instance_id.clone(),
    };
    match ev {
        Outgoing::Msg(x) => {
            let recipients = match room.parties() {
                Some((a, b)) => {
                    let other = room.other_party(&claims.sub).unwrap_or_default();
                    if obs.policy.lock().is_blocked_by(&x.rid, other) {
                        obs.metrics.inc("chat_observer_dropped_total{reason=\"blocked\"}");
                        if obs.cfg.block_notify_sender {
                            publish_rejected(obs, &x.id, &x.rid, &claims.sub, "blocked").await?;
                        }
                        return Ok(());
                    }
                    Some(vec![a.to_string(), b.to_string()])
                }
                None => None,
            };
            let inbox = InboxMsg {
                v: 1,
                id: x.id,
                rid: x.rid,
                t: room.kind().into(),
                msg: x.msg,
                tmid: x.tmid,
                u: x.u,
                ts: now_millis(),
                recipients,
                origin,
            };
            publish(obs, &Inbox::Msg(inbox)).await?;
        }
        Outgoing::Block(b) | Outgoing::Unblock(b) => {
            let on = m.tags() == Some(chat_proto::topics::TAG_BLOCK);
            let body =
                BlockBody { recipients: Some(vec![b.blocker.clone(), b.blocked.clone()]), ..b };
            let ev = if on { Inbox::Block(body.clone()) } else { Inbox::Unblock(body.clone()) };
            let offset = publish(obs, &ev).await?;
            // Applied only once stored: if the publish failed, the retry applies it.
            obs.policy.lock().apply_block(&body.rid, &body.blocker, on, Some(offset));
            obs.metrics.inc(if on { "chat_blocks_total" } else { "chat_unblocks_total" });
            // Persist the table before acknowledging. If this fails the message is retried, is
            // then a duplicate by id and acknowledged; the event itself is in chat_inbox for
            // replay, and the next change or the periodic refresh writes the table.
            super::snapshot::write(obs).await?;
        }
        Outgoing::Read(r) => {
            let recipients = room.parties().map(|(a, b)| vec![a.to_string(), b.to_string()]);
            publish(obs, &Inbox::Read(ReadBody { recipients, ..r })).await?;
        }
    }
    Ok(())
}

/// Whether `m` may already have been published by a previous owner of its queue: it was in the
/// queue when this observer (re)started reading it. A first message or an offset jump marks a
/// (re)assignment; everything below the queue's max offset at that moment is checked.
async fn needs_recovery_check(obs: &Observer, m: &MessageExt) -> bool {
    let q = m.queue_id;
    let fresh = {
        let mut r = obs.recovery.lock();
        let e = r.entry(q).or_insert((-2, -1));
        let fresh = e.0 + 1 != m.queue_offset;
        e.0 = m.queue_offset;
        fresh
    };
    if fresh {
        let until = match obs.outgoing.queues().await {
            Ok(qs) => match qs.into_iter().find(|(x, _)| x.queue_id == q) {
                Some((mq2, addr)) => obs.outgoing.max_offset(&mq2, &addr).await.unwrap_or(i64::MAX),
                None => i64::MAX,
            },
            Err(_) => i64::MAX,
        };
        tracing::info!(
            queue = q,
            from = m.queue_offset,
            until,
            "chat_outgoing queue (re)assigned: recovery dedupe for its backlog"
        );
        obs.recovery.lock().entry(q).or_insert((m.queue_offset, until)).1 = until;
    }
    // Retried messages (reconsume_times > 0) are checked too.
    m.reconsume_times > 0
        || obs.recovery.lock().get(&q).is_some_and(|(_, until)| m.queue_offset < *until)
}

fn drop_msg(obs: &Observer, reason: &str) {
    tracing::debug!(reason, "dropped a chat_outgoing message");
    obs.metrics.inc(&format!("chat_observer_dropped_total{{reason=\"{reason}\"}}"));
}

async fn reject(
    obs: &Observer,
    ev: &Outgoing,
    claims: &Claims,
    reason: &str,
) -> anyhow::Result<()> {
    drop_msg(obs, reason);
    publish_rejected(obs, ev.id(), ev.rid(), &claims.sub, reason).await
}

async fn publish_rejected(
    obs: &Observer,
    id: &str,
    rid: &str,
    sender: &str,
    reason: &str,
) -> anyhow::Result<()> {
    let body = RejectedBody {
        v: 1,
        id: id.into(),
        rid: rid.into(),
        recipients: vec![sender.into()],
        reason: reason.into(),
    };
    publish(obs, &Inbox::Rejected(body)).await.map(|_| ())
}

/// Sync send to `chat_inbox` on the room's queue; returns the queue offset.
async fn publish(obs: &Observer, ev: &Inbox) -> anyhow::Result<i64> {
    let mut msg = Message::new(CHAT_INBOX, serde_json::to_vec(ev)?);
    msg.set_tags(ev.tag());
    let mut keys = vec![ev.id().to_string(), conversation_key(ev.rid())];
    if let Inbox::Msg(m) = ev {
        keys.push(sender_key(&m.u.id));
    }
    msg.set_keys(keys);
    msg.put_property(PROP_RID, ev.rid().to_string());
    msg.put_property(PROP_V, "1");
    let r = obs.producer.send_with_selector(msg, &ShardSelector, ev.rid()).await.map_err(|e| {
        obs.metrics.inc("broker_send_failures_total");
        anyhow::anyhow!("publish to chat_inbox: {e}")
    })?;
    if !matches!(ev, Inbox::Rejected(_)) {
        obs.policy.lock().mark_seen(ev.id());
    }
    obs.metrics.inc(&format!("chat_inbox_published_total{{kind=\"{}\"}}", ev.tag()));
    Ok(r.queue_offset)
}
