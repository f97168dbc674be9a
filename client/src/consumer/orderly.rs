//! Orderly consumption (Java `ConsumeMessageOrderlyService`): per queue, one message at a time
//! in offset order, only while this member holds the broker lock of the queue. A failed message
//! suspends the queue briefly and is retried in place, so later messages never overtake it.

use std::sync::Arc;

use mq_common::protocol::body::MessageQueue;

use super::process_queue::ProcessQueue;
use super::push::PushInner;

impl PushInner {
    /// Drain `pq` in order on a task (one drainer per queue at a time).
    pub fn spawn_orderly(self: &Arc<Self>, mq: MessageQueue, pq: Arc<ProcessQueue>) {
        let me = self.clone();
        tokio::spawn(async move { me.drain_orderly(mq, pq).await });
    }

    async fn drain_orderly(self: Arc<Self>, mq: MessageQueue, pq: Arc<ProcessQueue>) {
        let _one_at_a_time = pq.consume_lock.lock().await;
        let mut attempts: (i64, i32) = (-1, 0);
        loop {
            if pq.is_dropped() || self.stop.is_cancelled() {
                return;
            }
            if self.needs_lock() && !pq.is_locked(self.cfg.lock_max_age) {
                // Someone else may own the queue now; wait for the lock refresh or a drop.
                self.pause(std::time::Duration::from_millis(100)).await;
                continue;
            }
            let Some(mut msg) = pq.take_in_order(1).pop() else { return };
            if attempts.0 != msg.queue_offset {
                attempts = (msg.queue_offset, 0);
            }
            msg.reconsume_times += attempts.1;
            let result = super::consume::call_handler(&*self.handler, msg.clone()).await;
            let done = match result {
                Ok(()) => true,
                Err(e) => {
                    attempts.1 += 1;
                    tracing::debug!(queue = %mq, offset = msg.queue_offset, attempt = attempts.1, error = %e, "orderly handler failed");
                    match self.cfg.max_reconsume_times {
                        // Give up on this message: to the DLQ, so the queue can move on.
                        Some(max) if attempts.1 > max && self.is_clustering() => {
                            match self.send_back(&mq, &msg, -1).await {
                                Ok(()) => true,
                                Err(err) => {
                                    tracing::warn!(queue = %mq, error = %err, "cannot move message to DLQ");
                                    false
                                }
                            }
                        }
                        Some(max) if attempts.1 > max => true,
                        _ => false,
                    }
                }
            };
            if done {
                if let Some(off) = pq.commit_taken() {
                    if !pq.is_dropped() {
                        self.offsets.update(&mq, off, false);
                    }
                }
            } else {
                pq.rollback_taken();
                self.pause(self.cfg.orderly_suspend).await;
            }
        }
    }
}
