//! Reads `chat_inbox` back: every published message id enters the dedupe window and every
//! block/unblock updates the block table. At boot it reads every queue from
//! `min(snapshot offset, max - REBUILD_WINDOW)` (never below the first stored offset) to the
//! current end before the observer takes any `chat_outgoing` queue; afterwards it keeps polling,
//! so when another observer dies this one already knows what it published.

use std::collections::BTreeMap;
use std::sync::Arc;

use chat_proto::bodies::Inbox;
use mq_client::{MessageExt, MessageQueue};

use super::Observer;

/// Per-queue read positions.
pub struct Follower {
    obs: Arc<Observer>,
    positions: BTreeMap<MessageQueue, i64>,
    /// Cached route (queue → broker address), refreshed every few seconds rather than on every
    /// poll, so a following observer costs the nameserver almost nothing.
    route: Vec<(MessageQueue, String)>,
    route_at: Option<std::time::Instant>,
    /// Where the first catch-up starts per inbox queue id (from the snapshot).
    start: BTreeMap<i32, i64>,
    /// Events per queue read back at boot for the dedupe window even if the snapshot is newer.
    rebuild_window: i64,
}

/// How long a cached route is used.
const ROUTE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl Follower {
    /// A follower starting per queue at `min(start[q], max - rebuild_window)`, at least at the
    /// first stored offset (a queue missing from `start` is read from its first offset).
    pub fn new(obs: Arc<Observer>, start: BTreeMap<i32, i64>, rebuild_window: i64) -> Self {
        Follower {
            obs,
            positions: BTreeMap::new(),
            route: Vec::new(),
            route_at: None,
            start,
            rebuild_window,
        }
    }

    /// Read every queue up to its current end. Returns the number of events applied.
    pub async fn catch_up(&mut self) -> anyhow::Result<usize> {
        let mut applied = 0;
        if !matches!(self.route_at, Some(t) if t.elapsed() <= ROUTE_TTL) || self.route.is_empty() {
            self.route = self.obs.inbox.queues().await?;
            self.route_at = Some(std::time::Instant::now());
        }
        for (mq, addr) in self.route.clone() {
            let end = self.obs.inbox.max_offset(&mq, &addr).await?;
            let mut pos = match self.positions.get(&mq) {
                Some(p) => *p,
                None => {
                    let min = self.obs.inbox.min_offset(&mq, &addr).await?;
                    match self.start.get(&mq.queue_id) {
                        Some(s) => (*s).min(end - self.rebuild_window).max(min),
                        None => min,
                    }
                }
            };
            while pos < end {
                let page = self.obs.inbox.pull(&mq, &addr, "*", pos, 32).await?;
                for m in &page.messages {
                    apply(&self.obs, m);
                    applied += 1;
                }
                if page.next <= pos {
                    break;
                }
                pos = page.next;
            }
            self.obs.follow_positions.lock().insert(mq.queue_id, pos);
            self.positions.insert(mq, pos);
        }
        Ok(applied)
    }

    /// Keep following for the life of the process. A failed read is retried after a pause
    /// that doubles per consecutive failure (capped at `RETRY_BACKOFF_MAX`); failures are
    /// logged as warnings with their count, and counted in `chat_observer_follow_errors_total`.
    /// It never gives up: the block table must keep following `chat_inbox` once the broker is
    /// back, and the observer stays up (its health port reports it).
    pub async fn run(mut self) {
        let mut failures = 0i32;
        loop {
            match self.catch_up().await {
                Ok(_) => {
                    if failures > 0 {
                        tracing::info!(failures, "inbox follower: reading again");
                    }
                    failures = 0;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    self.obs.metrics.inc("chat_observer_follow_errors_total");
                    tracing::warn!(error = %e, failures, "inbox follower: read of chat_inbox failed, retrying with backoff");
                    self.route_at = None; // the broker may have moved: re-read the route
                    tokio::time::sleep(super::retry::backoff(
                        failures,
                        self.obs.cfg.retry_backoff_max,
                    ))
                    .await;
                }
            }
            tokio::time::sleep(self.obs.cfg.follow_interval).await;
        }
    }
}

fn apply(obs: &Observer, m: &MessageExt) {
    let Ok(body) = m.body_uncompressed(16 * 1024 * 1024) else { return };
    let Ok(ev) = serde_json::from_slice::<Inbox>(&body) else { return };
    let mut p = obs.policy.lock();
    match &ev {
        Inbox::Msg(msg) => p.mark_seen(&msg.id),
        Inbox::Block(b) => {
            p.mark_seen(&b.id);
            p.apply_block(&b.rid, &b.blocker, true, Some(m.queue_offset));
        }
        Inbox::Unblock(b) => {
            p.mark_seen(&b.id);
            p.apply_block(&b.rid, &b.blocker, false, Some(m.queue_offset));
        }
        Inbox::Read(r) => p.mark_seen(&r.id),
        Inbox::Rejected(_) => {}
    }
}
