//! Ordered publishing of status events and snapshots: one lane (task) per presence queue, so
//! the events of one user (always the same queue) leave in the order the engine decided them,
//! while `MAX_CONCURRENT_SYNC` bounds the sends in flight across lanes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_proto::presence_bodies::{
    state_key, user_key, PRESENCE_EVENTS, PRESENCE_STATE, TAG_STATE, TAG_STATUS,
};
use mq_client::{Message, Producer};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::engine::Out;

/// Give up on one message after this long of failed sends (the broker is down for longer;
/// the next state change or snapshot supersedes it).
const GIVE_UP: Duration = Duration::from_secs(60);

struct Job {
    out: Out,
    done: Option<oneshot::Sender<bool>>,
}

/// Per-queue publishing lanes.
pub struct Publisher {
    lanes: Vec<mpsc::UnboundedSender<Job>>,
    /// Messages published successfully.
    pub sent: Arc<AtomicU64>,
    /// Messages dropped after [`GIVE_UP`].
    pub dropped: Arc<AtomicU64>,
}

impl Publisher {
    /// Start one lane per queue.
    pub fn start(producer: Producer, queues: usize, max_in_flight: usize) -> Publisher {
        let sem = Arc::new(Semaphore::new(max_in_flight));
        let sent = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let lanes = (0..queues)
            .map(|_| {
                let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
                let (producer, sem, sent, dropped) =
                    (producer.clone(), sem.clone(), sent.clone(), dropped.clone());
                tokio::spawn(async move {
                    while let Some(job) = rx.recv().await {
                        let _permit = sem.acquire().await.expect("never closed");
                        let ok = send(&producer, &job.out).await;
                        if ok {
                            sent.fetch_add(1, Ordering::Relaxed)
                        } else {
                            dropped.fetch_add(1, Ordering::Relaxed)
                        };
                        if let Some(d) = job.done {
                            let _ = d.send(ok);
                        }
                    }
                });
                tx
            })
            .collect();
        Publisher { lanes, sent, dropped }
    }

    fn lane(&self, out: &Out) -> &mpsc::UnboundedSender<Job> {
        let q = match out {
            Out::Event(q, _) | Out::State(q, _) => *q,
        };
        &self.lanes[q.rem_euclid(self.lanes.len() as i32) as usize]
    }

    /// Queue `outs` in order. Call while still holding the engine lock, so the enqueue order
    /// is the decision order.
    pub fn enqueue(&self, outs: Vec<Out>) {
        for out in outs {
            let _ = self.lane(&out).send(Job { out, done: None });
        }
    }

    /// Queue `outs`; the returned receivers resolve once each snapshot is stored.
    pub fn enqueue_acked(&self, outs: Vec<Out>) -> Vec<oneshot::Receiver<bool>> {
        let mut acks = Vec::new();
        for out in outs {
            let done = if matches!(out, Out::State(..)) {
                let (tx, rx) = oneshot::channel();
                acks.push(rx);
                Some(tx)
            } else {
                None
            };
            let _ = self.lane(&out).send(Job { out, done });
        }
        acks
    }
}

async fn send(producer: &Producer, out: &Out) -> bool {
    let (topic, q, body, tag, key) = match out {
        Out::Event(q, e) => {
            (PRESENCE_EVENTS, *q, serde_json::to_vec(e), TAG_STATUS, user_key(&e.uid))
        }
        Out::State(q, s) => (PRESENCE_STATE, *q, serde_json::to_vec(s), TAG_STATE, state_key(*q)),
    };
    let Ok(body) = body else { return false };
    let deadline = tokio::time::Instant::now() + GIVE_UP;
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut msg = Message::new(topic, body.clone());
        msg.set_tags(tag);
        msg.set_keys([key.as_str()]);
        let r = match producer.publish_queues(topic).await {
            Ok(qs) => match qs.iter().find(|m| m.queue_id == q) {
                Some(mq) => producer.send_to_queue(msg, mq).await.map_err(|e| e.to_string()),
                None => Err(format!("{topic} has no queue {q}")),
            },
            Err(e) => Err(e.to_string()),
        };
        match r {
            Ok(_) => return true,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(topic, queue = q, error = %e, "publish failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                tracing::error!(topic, queue = q, error = %e, "publish failed; giving up on this message");
                return false;
            }
        }
    }
}
