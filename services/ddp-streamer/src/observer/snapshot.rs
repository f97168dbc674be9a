//! `chat_policy_state` (design §4.4–4.5): the last message of this one-queue topic is the whole
//! DM block table plus the `chat_inbox` offsets the follower had read when it was written.
//!
//! Written synchronously after every applied block/unblock and refreshed periodically, so a block
//! survives even when its `chat_inbox` event has aged out of retention. At start an observer
//! restores the table from the last snapshot, then replays `chat_inbox` from (at or before) the
//! snapshot's offsets. Replaying from any earlier point is also correct: per room, events are
//! re-applied in order and end at the room's latest event.

use std::collections::BTreeMap;

use chat_proto::topics::{CHAT_POLICY_STATE, TAG_STATE};
use mq_client::Message;
use serde::{Deserialize, Serialize};

use super::Observer;

/// The snapshot body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicyState {
    /// Schema version.
    pub v: u32,
    /// Always `state`.
    pub kind: String,
    /// Writer instance.
    pub owner: String,
    /// `chat_inbox` queue id → offset the writer's follower had read up to.
    pub inbox_offsets: BTreeMap<i32, i64>,
    /// rid → blockers.
    pub blocks: BTreeMap<String, Vec<String>>,
}

/// Write a snapshot of the current table (sync send).
pub async fn write(obs: &Observer) -> anyhow::Result<()> {
    let state = PolicyState {
        v: 1,
        kind: "state".into(),
        owner: obs.cfg.common.instance_id.clone(),
        inbox_offsets: obs.follow_positions.lock().clone(),
        blocks: obs.policy.lock().blocks_snapshot(),
    };
    let mut msg = Message::new(CHAT_POLICY_STATE, serde_json::to_vec(&state)?);
    msg.set_tags(TAG_STATE);
    msg.set_keys(["policy-state"]);
    obs.producer.send(msg).await.map_err(|e| anyhow::anyhow!("write chat_policy_state: {e}"))?;
    obs.metrics.inc("chat_policy_snapshots_total");
    Ok(())
}

/// The last snapshot, if any.
pub async fn read_last(obs: &Observer) -> anyhow::Result<Option<PolicyState>> {
    let Some((mq, addr)) = obs.policy_state.queues().await?.into_iter().next() else {
        return Ok(None);
    };
    let max = obs.policy_state.max_offset(&mq, &addr).await?;
    let min = obs.policy_state.min_offset(&mq, &addr).await?;
    if max <= min {
        return Ok(None);
    }
    let page = obs.policy_state.pull(&mq, &addr, "*", max - 1, 1).await?;
    let Some(m) = page.messages.into_iter().find(|m| m.queue_offset == max - 1) else {
        return Ok(None);
    };
    let body = m.body_uncompressed(64 * 1024 * 1024)?;
    Ok(Some(serde_json::from_slice(&body)?))
}

/// Refresh the snapshot every `every` (keeps one within retention even without changes).
pub async fn refresh_loop(obs: std::sync::Arc<Observer>, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = write(&obs).await {
            tracing::warn!(error = %e, "periodic policy snapshot failed");
        }
    }
}
