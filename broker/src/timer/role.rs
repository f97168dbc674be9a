//! Controller mode: the timer engine follows the broker's role at run time (classic mode
//! decides at boot, in `controller.rs`). The replicas manager calls [`on_master`] whenever the
//! controllers confirm this broker as the writable master, and [`on_replica`] when it becomes
//! a replica, before the HA client may cut the store back to the new master's log.
//!
//! Why the state is rebuilt from the commit log on each promotion rather than synced from
//! the master as Java does: `docs/controller.md`, "Timer messages".

use std::sync::Arc;
use std::time::Instant;

use crate::broker::Broker;

/// This broker is the writable master: start the timer engine unless it runs or a rebuild
/// is in flight. The rebuild reads the retained commit log, so it runs on a blocking thread
/// while the replicas manager's rounds (heartbeats, lease) go on; a failed rebuild is retried
/// at the next round.
pub fn on_master(b: &Arc<Broker>) {
    // Read before the claim: a stop after this point makes the promotion a no-op.
    let term = b.timer.term();
    if !b.timer.claim_promotion() {
        return;
    }
    let b = b.clone();
    tokio::task::spawn_blocking(move || {
        let t0 = Instant::now();
        match b.timer.promote(&b.store, term) {
            Ok(()) if b.timer.running() => tracing::info!(
                elapsed_ms = t0.elapsed().as_millis() as u64,
                "timer state rebuilt from the commit log"
            ),
            Ok(()) => {}
            Err(e) => tracing::error!(error = %e, "cannot rebuild the timer state; retrying"),
        }
    });
}

/// This broker is no longer master: stop the engine (threads, final checkpoint, dropped),
/// waiting for a rebuild in flight. Deliveries already stopped when the store became a
/// follower (the engine's puts are refused there).
pub async fn on_replica(b: &Arc<Broker>) {
    let b = b.clone();
    let stopped = tokio::task::spawn_blocking(move || {
        let was = b.timer.running();
        b.timer.shutdown();
        was
    })
    .await;
    match stopped {
        Ok(true) => tracing::warn!("timer engine stopped: this broker is a replica now"),
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "stopping the timer engine failed"),
    }
}
