//! Bounded retries of a failed `chat_outgoing` message (design §4.4: DLQ after
//! `OBSERVER_MAX_RECONSUME` transient failures).
//!
//! The orderly consumer calls the handler again for the same message after an `Err` (the
//! queue is suspended, so order is kept) and counts the attempts in `reconsume_times`; past
//! `max_reconsume_times` it sends the message to `%DLQ%cg_chat_observer` and moves on. Here we
//! add the pause between attempts, doubling from [`BACKOFF_BASE`] up to the configured cap,
//! so a broker outage is not hammered, and the logs that say what is happening.

use std::time::Duration;

use mq_client::MessageExt;

use super::{process, Observer};

/// The pause before the first retry.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);

/// Pause before attempt `attempt` (0 = first delivery: none): `BACKOFF_BASE * 2^(attempt-1)`,
/// at most `cap`.
pub fn backoff(attempt: i32, cap: Duration) -> Duration {
    if attempt <= 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl((attempt - 1).min(20) as u32).unwrap_or(u32::MAX);
    BACKOFF_BASE.saturating_mul(factor).min(cap)
}

/// Process `m` (see [`process::handle`]), waiting first if this is a retry; logs a failure as
/// a warning with the attempt count, and the last one as an error naming the DLQ.
pub async fn handle_with_backoff(obs: &Observer, m: &MessageExt) -> anyhow::Result<()> {
    let attempt = m.reconsume_times;
    let max = obs.cfg.max_reconsume;
    tokio::time::sleep(backoff(attempt, obs.cfg.retry_backoff_max)).await;
    let result = process::handle(obs, m).await;
    if let Err(e) = &result {
        let id = m.msg_id();
        if attempt >= max {
            obs.metrics.inc("chat_observer_dlq_total");
            tracing::error!(msg_id = %id, queue = m.queue_id, offset = m.queue_offset, attempts = attempt + 1, error = %e, "chat_outgoing message failed {} times: giving up, it goes to %DLQ%cg_chat_observer", attempt + 1);
        } else {
            obs.metrics.inc("chat_observer_retries_total");
            tracing::warn!(msg_id = %id, queue = m.queue_id, offset = m.queue_offset, attempt = attempt + 1, max_retries = max, error = %e, "chat_outgoing message failed; retrying in order");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let cap = Duration::from_secs(5);
        assert_eq!(backoff(0, cap), Duration::ZERO);
        assert_eq!(backoff(1, cap), Duration::from_millis(500));
        assert_eq!(backoff(2, cap), Duration::from_secs(1));
        assert_eq!(backoff(4, cap), Duration::from_secs(4));
        assert_eq!(backoff(5, cap), cap);
        assert_eq!(backoff(i32::MAX, cap), cap);
    }
}
