//! The gateway's presence publisher (design §4.7 "Presence duties"): one lane per presence
//! queue sends connection events and the periodic batch of that queue strictly in order.
//!
//! Why lanes: the presence service drops anything whose sequence number is not above the
//! last one it applied for (gateway, queue). Assigning the number inside the lane, right
//! before the send, makes storage order equal sequence order per queue. The batch content is
//! also taken inside the lane, so it is always consistent with the events sent before it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_proto::ids::shard;
use chat_proto::presence_bodies::{
    gateway_key, user_key, BatchBody, ConnEvent, ConnInfo, DefaultStatusBody, Heartbeat,
    PRESENCE_HEARTBEAT,
};
use mq_client::{Message, Producer};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

/// How long a connection event is retried before giving up (the next batch heals it).
const EVENT_RETRY: Duration = Duration::from_secs(10);

/// Work for a lane.
pub enum Job {
    /// `open`, `close` or `conn_status` of a connection.
    Conn(&'static str, ConnInfo),
    /// A manual default; the sender learns whether it was stored.
    Default(DefaultStatusBody, oneshot::Sender<bool>),
    /// Send this queue's batch now.
    Batch,
    /// Resolve once everything queued before it was sent.
    Flush(oneshot::Sender<()>),
}

/// Live connections of this gateway: session id → connection.
pub type ConnTable = Arc<Mutex<HashMap<String, ConnInfo>>>;

/// Identity and settings shared by the lanes.
#[derive(Clone)]
pub struct LaneCtx {
    /// Producer of `presence_heartbeat`.
    pub producer: Producer,
    /// Gateway instance id.
    pub gw: String,
    /// This process's epoch.
    pub epoch: String,
    /// Presence queue count.
    pub queues: usize,
    /// `SYNC_INTERVAL` in ms (announced in batches).
    pub interval_ms: u64,
    /// Live connections.
    pub conns: ConnTable,
    /// Sequence shared by all lanes (only its per-queue order matters).
    pub seq: Arc<AtomicU64>,
    /// Messages that could not be sent.
    pub failed: Arc<AtomicU64>,
}

/// Start one lane per queue.
pub fn start(ctx: LaneCtx) -> Vec<mpsc::UnboundedSender<Job>> {
    (0..ctx.queues)
        .map(|q| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let ctx = ctx.clone();
            tokio::spawn(async move {
                while let Some(job) = rx.recv().await {
                    run_job(&ctx, q as i32, job).await;
                }
            });
            tx
        })
        .collect()
}

async fn run_job(ctx: &LaneCtx, q: i32, job: Job) {
    match job {
        Job::Flush(done) => {
            let _ = done.send(());
        }
        Job::Batch => {
            let conns: Vec<ConnInfo> = ctx
                .conns
                .lock()
                .values()
                .filter(|c| shard(&c.uid, ctx.queues) as i32 == q)
                .cloned()
                .collect();
            let seq = ctx.seq.fetch_add(1, Ordering::SeqCst) + 1;
            let body = Heartbeat::Batch(BatchBody {
                v: 1,
                gw: ctx.gw.clone(),
                epoch: ctx.epoch.clone(),
                seq,
                queue: q,
                interval_ms: ctx.interval_ms,
                conns,
            });
            // A failed batch is not retried: the next one supersedes it.
            if send(ctx, q, &body, &gateway_key(&ctx.gw), Duration::ZERO).await.is_err() {
                ctx.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        Job::Conn(kind, conn) => {
            let seq = ctx.seq.fetch_add(1, Ordering::SeqCst) + 1;
            let ev = ConnEvent { v: 1, gw: ctx.gw.clone(), epoch: ctx.epoch.clone(), seq, conn };
            let key = user_key(&ev.conn.uid);
            let body = match kind {
                "open" => Heartbeat::Open(ev),
                "close" => Heartbeat::Close(ev),
                _ => Heartbeat::ConnStatus(ev),
            };
            if send(ctx, q, &body, &key, EVENT_RETRY).await.is_err() {
                ctx.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        Job::Default(d, done) => {
            let key = user_key(&d.uid);
            let ok = send(ctx, q, &Heartbeat::DefaultStatus(d), &key, Duration::ZERO).await.is_ok();
            let _ = done.send(ok);
        }
    }
}

async fn send(
    ctx: &LaneCtx,
    q: i32,
    body: &Heartbeat,
    key: &str,
    retry_for: Duration,
) -> Result<(), String> {
    let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + retry_for;
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut msg = Message::new(PRESENCE_HEARTBEAT, bytes.clone());
        msg.set_tags(body.tag());
        msg.set_keys([key]);
        let r = match ctx.producer.publish_queues(PRESENCE_HEARTBEAT).await {
            Ok(qs) => match qs.iter().find(|m| m.queue_id == q) {
                Some(mq) => {
                    ctx.producer.send_to_queue(msg, mq).await.map(|_| ()).map_err(|e| e.to_string())
                }
                None => Err(format!("presence_heartbeat has no queue {q}")),
            },
            Err(e) => Err(e.to_string()),
        };
        match r {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(queue = q, error = %e, "presence publish failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                tracing::warn!(queue = q, kind = body.tag(), error = %e, "presence publish failed");
                return Err(e);
            }
        }
    }
}
