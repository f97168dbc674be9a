//! The background expiry service (spec §5.3): every `scanNotActiveBrokerInterval` it evicts
//! brokers silent for longer than their timeout and closes their connections.
//!
//! Owned through a [`tokio_util::sync::DropGuard`]: dropping the [`Scanner`] (or calling
//! [`Scanner::stop`]) cancels the task, so it can never outlive the controller.

use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::state::NamesrvState;

/// Handle of the running scanner.
pub struct Scanner {
    guard: DropGuard,
    task: JoinHandle<()>,
}

impl Scanner {
    /// Start scanning `state`. The interval is re-read from the config before every sleep so
    /// UPDATE_NAMESRV_CONFIG takes effect.
    pub fn spawn(state: Arc<NamesrvState>) -> Self {
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let task = tokio::spawn(async move {
            loop {
                let interval = state.config.read().scan_interval();
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep(interval) => {}
                }
                for removed in state.routes.scan_not_active(Instant::now()) {
                    if let Some(ch) = removed.channel {
                        ch.close();
                    }
                }
            }
            tracing::debug!("broker expiry scanner stopped");
        });
        Scanner { guard: cancel.drop_guard(), task }
    }

    /// Stop and wait for the task to finish.
    pub async fn stop(self) {
        let token = self.guard.disarm();
        token.cancel();
        let _ = self.task.await;
    }
}
