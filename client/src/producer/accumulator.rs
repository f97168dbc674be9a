//! Auto-batching: the RocketMQ 5.x `setAutoBatch(true)` of Java's `DefaultMQProducer` (its
//! `ProduceAccumulator`). Concurrent `send` / `send_to_queue` calls for the same topic (and
//! fixed queue, if any) are merged into one SEND_BATCH_MESSAGE, and the batch's answer is split
//! back into one [`SendResult`] per caller: the caller's own UNIQ_KEY, the broker's offsetMsgId
//! at the caller's index, queue offset = the batch's first offset + index. A failed batch fails
//! every member with the error (and after the retries) a single send would have had.
//!
//! When a batch goes out (Java's rules, plus one): its bodies reach `batch_max_bytes`, or its
//! first message has waited `batch_max_delay` (a flusher task), or, with `flush_when_idle` (on
//! by default; not in Java), at once when no batch of that key is in flight, with what
//! accumulated meanwhile sent as soon as the in-flight one is answered. The extra rule keeps an
//! idle producer's latency that of a plain send (no 10 ms hold) while a busy one still fills
//! batches: the round trip of the batch in flight is the accumulation window.
//!
//! Messages that cannot be merged go alone, as in Java (`canBatch`): delay levels and timer
//! properties, retry topics, transactional ones (`PGROUP`, `TRAN_MSG`), and, ours: a body
//! larger than `batch_max_bytes` or the compression threshold (a batch is never compressed),
//! a caller-set `WAIT` or a UNIQ_KEY with a `,` (the batch's id list is `,`-joined), and
//! everything once `total_batch_max_bytes` of bodies are held or in flight.
//!
//! Java keys its batches by topic, queue, `WAIT` and tag, because its `MessageBatch` carries
//! one tag in the request header; ours keeps every message's own properties (tags, keys) in
//! its record of the batch body, so messages with different tags share a batch.
//!
//! A caller waits at most `batch_max_delay` in the accumulator, then as long as a single send
//! would: the batch request has the same per-attempt `send_timeout` and retries, and its
//! timeout or error is each member's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use mq_common::message::property::{
    PGROUP, START_DELIVER_TIME, TIMER_DELAY_MS, TIMER_DELAY_SEC, TIMER_DELIVER_MS, TRAN_MSG,
    UNIQ_KEY, WAIT,
};
use mq_common::message::Message;
use mq_common::protocol::body::system_topics::RETRY_PREFIX;
use mq_common::protocol::body::MessageQueue;
use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::send::{self, SendResult};
use super::ProducerInner;
use crate::error::{ClientError, Result};

/// Auto-batching settings (Java's names and defaults; see [`super::ProducerBuilder::auto_batch`]).
#[derive(Debug, Clone)]
pub(crate) struct BatchOptions {
    /// Longest a message waits for its batch to fill (Java `batchMaxDelayMs`, 10 ms).
    pub max_delay: Duration,
    /// A batch goes out when its bodies reach this many bytes (Java `batchMaxBytes`, 32 KiB).
    pub max_bytes: usize,
    /// Bodies held or in flight across all batches; past it sends go alone (Java
    /// `totalBatchMaxBytes`, 32 MiB).
    pub total_max_bytes: usize,
    /// Send at once when no batch of the key is in flight (ours; default on).
    pub flush_when_idle: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            max_delay: Duration::from_millis(10),
            max_bytes: 32 * 1024,
            total_max_bytes: 32 * 1024 * 1024,
            flush_when_idle: true,
        }
    }
}

impl BatchOptions {
    /// Java's range checks (`batchMaxDelayMs` 1 ms..30 s, `batchMaxBytes` 1 B..2 MiB,
    /// `totalBatchMaxBytes` > 0).
    pub fn validate(&self) -> Result<()> {
        if self.max_delay < Duration::from_millis(1) || self.max_delay > Duration::from_secs(30) {
            return Err(ClientError::InvalidArgument(format!(
                "batch_max_delay must be between 1 ms and 30 s, not {:?}",
                self.max_delay
            )));
        }
        if self.max_bytes == 0 || self.max_bytes > 2 * 1024 * 1024 {
            return Err(ClientError::InvalidArgument(format!(
                "batch_max_bytes must be between 1 and 2 MiB, not {}",
                self.max_bytes
            )));
        }
        if self.total_max_bytes == 0 {
            return Err(ClientError::InvalidArgument("total_batch_max_bytes must be > 0".into()));
        }
        Ok(())
    }
}

/// The caller's end of a batched send.
type Reply = oneshot::Sender<Result<SendResult>>;

/// Messages waiting for one batch, and how many batches of the same key are in flight.
struct Slot {
    queue: Option<MessageQueue>,
    msgs: Vec<Message>,
    replies: Vec<Reply>,
    bytes: usize,
    opened: Instant,
    inflight: usize,
}

/// A batch taken out of its slot, on its way to the broker.
struct Batch {
    topic: String,
    queue: Option<MessageQueue>,
    msgs: Vec<Message>,
    replies: Vec<Reply>,
    bytes: usize,
}

impl Slot {
    /// Take the pending messages as a batch in flight.
    fn take(&mut self, topic: String) -> Batch {
        self.inflight += 1;
        Batch {
            topic,
            queue: self.queue.clone(),
            msgs: std::mem::take(&mut self.msgs),
            replies: std::mem::take(&mut self.replies),
            bytes: std::mem::take(&mut self.bytes),
        }
    }
}

#[derive(Default)]
struct State {
    closed: bool,
    /// Slots by topic; a topic has one slot per fixed queue sent to (usually one in all).
    topics: HashMap<String, Vec<Slot>>,
}

/// The producer's accumulator.
pub(crate) struct Accumulator {
    opts: BatchOptions,
    state: parking_lot::Mutex<State>,
    /// Body bytes accumulated or in flight (bounded by `total_max_bytes`).
    held: AtomicUsize,
    /// The batch sends, which shutdown waits for.
    tasks: TaskTracker,
    /// Wakes the flusher when a batch opens (it sleeps until the oldest one is due).
    wake: Arc<Notify>,
}

impl Accumulator {
    /// An accumulator; [`spawn_flusher`] must be started for the delay rule to apply.
    pub fn new(opts: BatchOptions) -> Self {
        Accumulator {
            opts,
            state: parking_lot::Mutex::new(State::default()),
            held: AtomicUsize::new(0),
            tasks: TaskTracker::new(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Whether `msg` may join a batch (Java `canBatch`, plus the limits of our batch encoder;
    /// see the module doc). Reserves its body bytes against `total_max_bytes` when it may.
    pub fn accepts(&self, msg: &Message, compress_threshold: usize) -> bool {
        let len = msg.body.len();
        if len == 0 || len > self.opts.max_bytes || len > compress_threshold {
            return false;
        }
        if msg.topic.starts_with(RETRY_PREFIX) || msg.delay_level() > 0 {
            return false;
        }
        const ALONE: [&str; 7] = [
            TIMER_DELIVER_MS,
            TIMER_DELAY_SEC,
            TIMER_DELAY_MS,
            START_DELIVER_TIME,
            PGROUP,
            TRAN_MSG,
            WAIT,
        ];
        if ALONE.iter().any(|k| msg.properties.contains_key(*k)) {
            return false;
        }
        if msg.property(UNIQ_KEY).is_some_and(|v| v.contains(',')) {
            return false;
        }
        // The batch encoder's 16-bit properties length (with room for a stamped UNIQ_KEY).
        let props: usize = msg.properties.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        if props + 64 > i16::MAX as usize {
            return false;
        }
        // Java's `tryAddMessage`: admit while under the bound (so it may be passed by one body).
        if self.held.load(Ordering::Relaxed) >= self.opts.total_max_bytes {
            return false;
        }
        self.held.fetch_add(len, Ordering::Relaxed);
        true
    }
}

/// Start the flusher of `inner`'s accumulator: it sends every batch whose first message has
/// waited `max_delay`. It holds the producer weakly and stops on `stop`.
pub(crate) fn spawn_flusher(inner: &Arc<ProducerInner>, stop: CancellationToken) {
    let Some(acc) = inner.batcher.as_ref() else { return };
    let wake = acc.wake.clone();
    let weak: Weak<ProducerInner> = Arc::downgrade(inner);
    tokio::spawn(async move {
        loop {
            let next = {
                let Some(inner) = weak.upgrade() else { return };
                let acc = inner.batcher.as_ref().expect("flusher of an auto-batching producer");
                let now = Instant::now();
                let mut due = Vec::new();
                let mut next: Option<Instant> = None;
                {
                    let mut st = acc.state.lock();
                    for (topic, slots) in st.topics.iter_mut() {
                        for slot in slots.iter_mut().filter(|s| !s.msgs.is_empty()) {
                            let at = slot.opened + acc.opts.max_delay;
                            if at <= now {
                                due.push(slot.take(topic.clone()));
                            } else {
                                next = Some(next.map_or(at, |n: Instant| n.min(at)));
                            }
                        }
                    }
                }
                for b in due {
                    spawn_batch(&inner, b);
                }
                next
            };
            // No strong reference while asleep: dropping the last `Producer` must drop the
            // producer (which cancels `stop`).
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = wake.notified() => {}
                _ = async { tokio::time::sleep_until(next.expect("guarded").into()).await },
                    if next.is_some() => {}
            }
        }
    });
}

/// Send `msg` through the accumulator (the caller checked [`Accumulator::accepts`] and the
/// message itself) and wait for its own result.
pub(crate) async fn send(
    inner: &Arc<ProducerInner>,
    msg: Message,
    queue: Option<MessageQueue>,
) -> Result<SendResult> {
    let acc = inner.batcher.as_ref().expect("auto-batching producer");
    let (tx, rx) = oneshot::channel();
    let len = msg.body.len();
    let (ready, opened) = {
        let mut st = acc.state.lock();
        if st.closed {
            drop(st);
            acc.held.fetch_sub(len, Ordering::Relaxed);
            return Err(ClientError::Shutdown);
        }
        let slots = match st.topics.get_mut(msg.topic.as_str()) {
            Some(s) => s,
            None => st.topics.entry(msg.topic.clone()).or_default(),
        };
        let at = match slots.iter().position(|s| s.queue == queue) {
            Some(i) => i,
            None => {
                slots.push(Slot {
                    queue,
                    msgs: Vec::new(),
                    replies: Vec::new(),
                    bytes: 0,
                    opened: Instant::now(),
                    inflight: 0,
                });
                slots.len() - 1
            }
        };
        let slot = &mut slots[at];
        let opened = slot.msgs.is_empty();
        if opened {
            slot.opened = Instant::now();
        }
        let idle = acc.opts.flush_when_idle && slot.inflight == 0;
        let go = (idle || slot.bytes + len >= acc.opts.max_bytes).then(|| msg.topic.clone());
        slot.bytes += len;
        slot.replies.push(tx);
        slot.msgs.push(msg);
        match go {
            Some(topic) => (Some(slot.take(topic)), false),
            None => (None, opened),
        }
    };
    match ready {
        Some(b) => spawn_batch(inner, b),
        // A new batch waits: the flusher must know its deadline.
        None if opened => acc.wake.notify_one(),
        None => {}
    }
    // The sender side is only dropped unanswered if the runtime drops the batch task.
    rx.await.unwrap_or(Err(ClientError::Shutdown))
}

/// Flush every pending batch and wait (bounded by `wait`) until every batch sent has been
/// answered; later sends through the accumulator fail with [`ClientError::Shutdown`].
pub(crate) async fn close(inner: &Arc<ProducerInner>, wait: Duration) {
    let Some(acc) = inner.batcher.as_ref() else { return };
    let pending: Vec<Batch> = {
        let mut st = acc.state.lock();
        st.closed = true;
        let mut out = Vec::new();
        for (topic, slots) in st.topics.iter_mut() {
            for slot in slots.iter_mut().filter(|s| !s.msgs.is_empty()) {
                out.push(slot.take(topic.clone()));
            }
        }
        out
    };
    for b in pending {
        spawn_batch(inner, b);
    }
    acc.tasks.close();
    if tokio::time::timeout(wait, acc.tasks.wait()).await.is_err() {
        tracing::warn!(?wait, "auto-batch sends still in flight at shutdown");
    }
}

fn spawn_batch(inner: &Arc<ProducerInner>, b: Batch) {
    let acc = inner.batcher.as_ref().expect("auto-batching producer");
    let inner = inner.clone();
    acc.tasks.spawn(async move {
        let mut b = b;
        loop {
            let bytes = b.bytes;
            let (topic, queue) = (b.topic.clone(), b.queue.clone());
            deliver(&inner, b).await;
            let acc = inner.batcher.as_ref().expect("auto-batching producer");
            acc.held.fetch_sub(bytes, Ordering::Relaxed);
            // This batch is answered: with `flush_when_idle`, what accumulated meanwhile goes now.
            let next = {
                let mut st = acc.state.lock();
                let Some(slots) = st.topics.get_mut(topic.as_str()) else { return };
                let Some(at) = slots.iter().position(|s| s.queue == queue) else { return };
                let slot = &mut slots[at];
                slot.inflight -= 1;
                if acc.opts.flush_when_idle && !slot.msgs.is_empty() {
                    Some(slot.take(topic))
                } else {
                    if slot.inflight == 0 && slot.msgs.is_empty() {
                        // Forget idle keys (a producer may send to many topics over time).
                        slots.swap_remove(at);
                        if slots.is_empty() {
                            st.topics.remove(topic.as_str());
                        }
                    }
                    None
                }
            };
            match next {
                Some(n) => b = n,
                None => return,
            }
        }
    });
}

/// Send one batch (a lone message as a plain send) and answer each member.
async fn deliver(inner: &Arc<ProducerInner>, b: Batch) {
    let Batch { queue, msgs, replies, .. } = b;
    if msgs.len() == 1 {
        let r = match send::prepare_single(&msgs[0], &inner.shape, &inner.instance.ids) {
            Ok(p) => inner.send_prepared(p, queue).await,
            Err(e) => Err(e),
        };
        if let Some(tx) = replies.into_iter().next() {
            let _ = tx.send(r);
        }
        return;
    }
    let outcome = match send::prepare_batch(&msgs, &inner.shape, &inner.instance.ids) {
        Ok(p) => {
            let ids = p.msg_id.clone();
            inner.send_prepared(p, queue).await.map(|r| (r, ids))
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok((r, ids)) => {
            for (tx, res) in replies.into_iter().zip(split_result(&r, &ids, msgs.len())) {
                let _ = tx.send(res);
            }
        }
        Err(e) => {
            for tx in replies {
                let _ = tx.send(Err(e.duplicate()));
            }
        }
    }
}

/// One result per member of a batch of `n` whose client ids are `ids` (`,`-joined): the
/// member's id and offsetMsgId and the batch's first queue offset + index, as Java's
/// `splitSendResults`. A broker answering one offsetMsgId for the whole batch (5.x inner-batch
/// queues) gives every member the batch's id and offset, as Java does.
fn split_result(r: &SendResult, ids: &str, n: usize) -> Vec<Result<SendResult>> {
    let offset_ids: Vec<&str> = r.offset_msg_id.split(',').collect();
    let ids: Vec<&str> = ids.split(',').collect();
    if ids.len() != n {
        let e = ClientError::BadResponse(format!("batch of {n} has {} ids", ids.len()));
        return (0..n).map(|_| Err(e.duplicate())).collect();
    }
    let per_member = offset_ids.len() == n;
    if !per_member && offset_ids.len() != 1 {
        let e = ClientError::BadResponse(format!(
            "batch of {n} answered with {} offset message ids",
            offset_ids.len()
        ));
        return (0..n).map(|_| Err(e.duplicate())).collect();
    }
    (0..n)
        .map(|i| {
            Ok(SendResult {
                status: r.status,
                msg_id: ids[i].to_string(),
                offset_msg_id: offset_ids[if per_member { i } else { 0 }].to_string(),
                message_queue: r.message_queue.clone(),
                queue_offset: r.queue_offset + if per_member { i as i64 } else { 0 },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::SendStatus;

    fn batch_result(offset_ids: &str) -> SendResult {
        SendResult {
            status: SendStatus::SendOk,
            msg_id: "A,B,C".into(),
            offset_msg_id: offset_ids.into(),
            message_queue: MessageQueue::new("T", "b", 2),
            queue_offset: 40,
        }
    }

    #[test]
    fn split_gives_each_member_its_id_and_offset() {
        let out = split_result(&batch_result("X,Y,Z"), "A,B,C", 3);
        let got: Vec<_> = out
            .into_iter()
            .map(|r| {
                let r = r.unwrap();
                (r.msg_id, r.offset_msg_id, r.queue_offset, r.message_queue.queue_id)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("A".into(), "X".into(), 40, 2),
                ("B".into(), "Y".into(), 41, 2),
                ("C".into(), "Z".into(), 42, 2)
            ]
        );
        // One offset id for the whole batch (inner batch): shared, as Java.
        let out = split_result(&batch_result("X"), "A,B,C", 3);
        assert!(out.iter().all(|r| r.as_ref().unwrap().queue_offset == 40));
        // A count that matches neither is a bad response for every member.
        assert!(split_result(&batch_result("X,Y"), "A,B,C", 3).iter().all(|r| r.is_err()));
    }

    #[test]
    fn options_are_range_checked_and_unbatchable_messages_go_alone() {
        assert!(BatchOptions::default().validate().is_ok());
        let bad = BatchOptions { max_delay: Duration::ZERO, ..Default::default() };
        assert!(bad.validate().is_err());
        let bad = BatchOptions { max_bytes: 3 * 1024 * 1024, ..Default::default() };
        assert!(bad.validate().is_err());
        let acc = Accumulator::new(BatchOptions {
            max_bytes: 100,
            total_max_bytes: 150,
            ..Default::default()
        });
        let m = |body: &[u8]| Message::new("T", body.to_vec());
        assert!(!acc.accepts(&m(&[b'x'; 101]), 4096), "over batch_max_bytes");
        assert!(!acc.accepts(&m(b"x"), 0), "over the compression threshold");
        let mut d = m(b"x");
        d.set_delay_level(2);
        assert!(!acc.accepts(&d, 4096), "delay level");
        let mut t = m(b"x");
        t.put_property(TIMER_DELIVER_MS, "1");
        assert!(!acc.accepts(&t, 4096), "timer");
        assert!(!acc.accepts(&Message::new("%RETRY%G", &b"x"[..]), 4096), "retry topic");
        let mut u = m(b"x");
        u.put_property(UNIQ_KEY, "a,b");
        assert!(!acc.accepts(&u, 4096), "id with a comma");
        // The total bound: admitted while under it.
        assert!(acc.accepts(&m(&[b'x'; 100]), 4096));
        assert!(acc.accepts(&m(&[b'x'; 100]), 4096));
        assert!(!acc.accepts(&m(b"x"), 4096), "200 bytes held >= 150");
    }
}
