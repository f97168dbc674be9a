//! The leader's liveness scan: every `scanNotActiveBrokerInterval`, and at once when a broker's
//! connection closes, a group whose master is not alive (or that has no master while an
//! in-sync replica is alive) gets an election; the group's live replicas are then notified.
//!
//! A new leader waits one broker heartbeat timeout before judging: its table may be empty
//! because it only just started hearing heartbeats.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::node::Shared;
use crate::replicas::Command;

/// The running scanner task.
pub struct Scanner {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Scanner {
    /// Start scanning.
    pub fn spawn(shared: Arc<Shared>) -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut leader_since: Option<Instant> = None;
            let mut tick = tokio::time::interval(shared.config.scan_interval());
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tick.tick() => {}
                    _ = shared.scan_now.notified() => {}
                }
                shared.liveness.forget_dead();
                if !shared.is_leader() {
                    leader_since = None;
                    continue;
                }
                let since = *leader_since.get_or_insert_with(Instant::now);
                let grace = Duration::from_millis(shared.config.broker_heartbeat_timeout);
                if since.elapsed() < grace {
                    continue;
                }
                scan_once(&shared).await;
            }
        });
        Scanner { stop, task }
    }

    /// Stop and wait for the task.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Propose an election for every group that needs one.
async fn scan_once(shared: &Shared) {
    let needing: Vec<(String, Vec<u64>)> = {
        let state = shared.state.read();
        state
            .table
            .groups
            .iter()
            .filter_map(|(name, g)| {
                let candidates = shared.liveness.candidates(name);
                let master_dead = g.master.is_some_and(|m| !candidates.contains(&m));
                let orphan = g.master.is_none()
                    && !g.history.is_empty()
                    && candidates.iter().any(|c| {
                        g.sync_state_set.contains(c) || shared.config.enable_elect_unclean_master
                    });
                (master_dead || orphan).then(|| (name.clone(), candidates))
            })
            .collect()
    };
    for (name, candidates) in needing {
        let cmd = Command::ElectMaster {
            broker_name: name.clone(),
            broker_id: None,
            designate: false,
            candidates,
            unclean: shared.config.enable_elect_unclean_master,
        };
        match tokio::time::timeout(shared.raft_deadline(), shared.raft.client_write(cmd)).await {
            Err(_) => tracing::warn!(broker = %name, "election not committed in time (no quorum?)"),
            Ok(Ok(r)) => {
                tracing::info!(
                    broker = %name,
                    code = r.data.code,
                    master = ?r.data.group.as_ref().and_then(|g| g.master),
                    epoch = ?r.data.group.as_ref().map(|g| g.master_epoch),
                    "master lost: election"
                );
                if let (mq_common::protocol::codes::response::SUCCESS, Some(g)) =
                    (r.data.code, &r.data.group)
                {
                    crate::notify::role_changed(shared, &name, g);
                }
            }
            Ok(Err(e)) => tracing::warn!(broker = %name, error = %e, "election not committed"),
        }
    }
}
