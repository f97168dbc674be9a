//! The POP consumption engine, shared by the gRPC endpoint (`grpc/`) and the remoting POP
//! requests (`processor/pop.rs`): per (group, topic, queue) a read cursor and the in-flight
//! messages with invisible deadlines ([`state`]), made durable by a journal + snapshot
//! ([`journal`]), redelivered when their time is up ([`revive`]): normal groups through the
//! group's POP retry topic `%RETRY%{group}_{topic}` with a growing attempt count and the DLQ
//! `%DLQ%{group}` after `retryMaxTimes`; orderly (FIFO) groups in place, a queue blocked
//! while anything of it is in flight. Design notes: `docs/pop.md`.

pub mod journal;
pub mod receipt;
pub mod revive;
pub mod state;
pub mod wake;

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use mq_common::filter::MessageFilter;
use mq_common::message::record::physical_offset_and_reconsume_times;
use mq_common::protocol::body::system_topics;
use mq_common::protocol::now_millis;
use parking_lot::Mutex;

use self::journal::{EntryRec, Journal, Record};
pub use self::receipt::{ReceiptHandle, TopicKind};
use self::state::{rec_of, Entry, QueueState};
use self::wake::PopWake;
use crate::broker::Broker;
use crate::store::{GetMessageStatus, ReadFilter};

/// Most messages one pop returns (Apache caps a receive at 32).
pub const MAX_BATCH: usize = 32;
/// Bytes of records one pop returns at most (over all queues; a single larger message is still
/// returned alone), so an answer stays bounded whatever the batch size and message sizes.
pub const MAX_BYTES: usize = 4 << 20;

/// Key of a queue state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueKey {
    /// Group.
    pub group: String,
    /// Topic (or POP retry topic).
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
}

/// The POP retry topic of (group, topic): Apache's retry V1 name.
pub fn retry_topic(group: &str, topic: &str) -> String {
    format!("{}{group}_{topic}", system_topics::RETRY_PREFIX)
}

/// What to pop.
pub struct PopRequest<'a> {
    /// Consumer group.
    pub group: &'a str,
    /// Topic.
    pub topic: &'a str,
    /// One queue, or `None` for any queue of this broker.
    pub queue_id: Option<i32>,
    /// Most messages.
    pub max: usize,
    /// Invisible time, ms.
    pub invisible_ms: i64,
    /// What the subscription accepts (tags on the consume queue, SQL92 on the record); a
    /// message filtered out is resolved, never delivered.
    pub filter: &'a MessageFilter,
    /// Orderly group: a queue with anything in flight is skipped; expired messages are
    /// redelivered in place.
    pub fifo: bool,
    /// Deliveries allowed per message (`retryMaxTimes + 1`) before the DLQ.
    pub max_attempts: i32,
    /// gRPC session that keeps the popped messages invisible while it lives (push consumers'
    /// `auto_renew` receives, see [`PopService::renew`]); 0 = none.
    pub owner: u64,
    /// The client's id for this receive: an orderly queue blocked by messages that a try with
    /// the same id popped hands them out again at once, with the same attempt (Apache's FIFO
    /// `attemptId`: a receive retried after a lost answer does not wait for them to expire).
    pub attempt_id: Option<&'a str>,
}

/// What [`PopService::renew`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RenewStats {
    /// Deadlines pushed forward for a live owner.
    pub renewed: usize,
    /// Entries whose owner is gone: visible again shortly.
    pub released: usize,
    /// Entries renewed for longer than the limit: left to expire.
    pub stopped: usize,
}

/// Parameters of a renewal pass (Apache's proxy: `renewAheadTimeMillis`,
/// `defaultInvisibleTimeMills`, `renewMaxTimeMillis`, `invisibleTimeMillisWhenClear`).
#[derive(Debug, Clone, Copy)]
pub struct RenewPolicy {
    /// Renew what becomes visible within this many ms.
    pub ahead_ms: i64,
    /// New invisible time from now, ms.
    pub step_ms: i64,
    /// Stop renewing a delivery this long after its handle's deadline, ms.
    pub max_ms: i64,
    /// Invisible time left to a message whose owner went away, ms.
    pub released_ms: i64,
}

/// A popped message.
pub struct Popped {
    /// The stored record.
    pub record: Bytes,
    /// Where it came from and how to ack it.
    pub handle: ReceiptHandle,
    /// Delivery attempt (1 = first).
    pub attempt: i32,
}

/// Why an ack / change of invisible time was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HandleError {
    /// Malformed, unknown, superseded or already acked.
    #[error("receipt handle is invalid: {0}")]
    Invalid(&'static str),
    /// Its invisible time is over (the message is or will be redelivered).
    #[error("receipt handle has expired")]
    Expired,
    /// The state change could not be journalled.
    #[error("pop state could not be written: {0}")]
    Io(String),
}

/// Counts per group for admin views.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GroupPopStats {
    /// Messages in flight (popped, not acked).
    pub inflight: usize,
    /// Messages waiting in the group's POP retry topics.
    pub retry_backlog: i64,
}

/// The engine.
pub struct PopService {
    queues: DashMap<QueueKey, Arc<Mutex<QueueState>>>,
    journal: Mutex<Journal>,
    next_id: AtomicU32,
    rr: AtomicUsize,
    /// Long-polling wake-ups.
    pub wake: PopWake,
    broker_name: Arc<str>,
}

fn shard(key: &str) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish() as usize
}

impl PopService {
    /// Open (recover) the state under `<root>/pop`.
    pub fn load(root: &std::path::Path, broker_name: &str) -> std::io::Result<PopService> {
        let (journal, records) = Journal::open(&root.join("pop"))?;
        let svc = PopService {
            queues: DashMap::new(),
            journal: Mutex::new(journal),
            next_id: AtomicU32::new(1),
            rr: AtomicUsize::new(0),
            wake: PopWake::default(),
            broker_name: Arc::from(broker_name),
        };
        let mut by_id: std::collections::HashMap<u32, Arc<Mutex<QueueState>>> =
            std::collections::HashMap::new();
        let mut max_id = 0u32;
        for r in &records {
            match r {
                Record::Define { id, group, topic, queue_id } => {
                    max_id = max_id.max(*id);
                    let key = QueueKey {
                        group: group.clone(),
                        topic: topic.clone(),
                        queue_id: *queue_id,
                    };
                    let st = svc
                        .queues
                        .entry(key)
                        .or_insert_with(|| {
                            Arc::new(Mutex::new(QueueState::new(
                                *id,
                                group.clone(),
                                topic.clone(),
                                *queue_id,
                                0,
                            )))
                        })
                        .clone();
                    by_id.insert(*id, st);
                }
                Record::Pop { id, .. }
                | Record::Change { id, .. }
                | Record::Renew { id, .. }
                | Record::Acks { id, .. }
                | Record::Reset { id, .. } => {
                    if let Some(st) = by_id.get(id) {
                        st.lock().apply(r);
                    }
                }
            }
        }
        svc.next_id.store(max_id + 1, Ordering::Relaxed);
        let inflight: usize = svc.queues.iter().map(|q| q.lock().inflight.len()).sum();
        if !records.is_empty() {
            tracing::info!(
                queues = svc.queues.len(),
                inflight,
                records = records.len(),
                "pop state recovered"
            );
        }
        Ok(svc)
    }

    /// Hand the committed offsets of the recovered state to the offset table.
    pub fn publish_offsets(&self, b: &Broker) {
        for q in self.queues.iter() {
            let mut st = q.lock();
            report(b, &mut st);
        }
    }

    pub(crate) fn append(&self, bytes: &[u8]) -> Result<(), HandleError> {
        self.journal.lock().append(bytes).map_err(|e| {
            tracing::error!(error = %e, "writing the pop journal failed");
            HandleError::Io(e.to_string())
        })
    }

    /// Get or create the state of (group, topic, queue).
    fn state(&self, b: &Broker, group: &str, topic: &str, queue_id: i32) -> Arc<Mutex<QueueState>> {
        let key = QueueKey { group: group.to_string(), topic: topic.to_string(), queue_id };
        if let Some(s) = self.queues.get(&key) {
            return s.clone();
        }
        let entry = self.queues.entry(key);
        match entry {
            dashmap::mapref::entry::Entry::Occupied(o) => o.get().clone(),
            dashmap::mapref::entry::Entry::Vacant(v) => {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let cursor = initial_cursor(b, group, topic, queue_id);
                let mut buf = Vec::new();
                Record::Define { id, group: group.to_string(), topic: topic.to_string(), queue_id }
                    .encode(&mut buf);
                Record::Reset { id, cursor }.encode(&mut buf);
                let _ = self.append(&buf);
                let st = Arc::new(Mutex::new(QueueState::new(
                    id,
                    group.to_string(),
                    topic.to_string(),
                    queue_id,
                    cursor,
                )));
                v.insert(st.clone());
                st
            }
        }
    }

    fn find(&self, group: &str, topic: &str, queue_id: i32) -> Option<Arc<Mutex<QueueState>>> {
        let key = QueueKey { group: group.to_string(), topic: topic.to_string(), queue_id };
        self.queues.get(&key).map(|s| s.clone())
    }

    /// Pop up to `req.max` messages (and at most [`MAX_BYTES`] of records). Normal groups read
    /// the POP retry topic first, then the topic's queues (rotating the starting queue);
    /// orderly groups read only queues with nothing in flight, and redeliver expired messages
    /// in place first.
    pub fn pop(&self, b: &Broker, req: &PopRequest<'_>) -> Result<Vec<Popped>, HandleError> {
        let mut out = Vec::new();
        let mut journal = Vec::new();
        let max = req.max.clamp(1, MAX_BATCH);
        let mut budget = Budget { max, bytes_left: MAX_BYTES };
        // One pop time for the whole answer (the remoting header carries a single one).
        let now = now_millis();
        if !req.fifo {
            let retry = retry_topic(req.group, req.topic);
            if b.topics.contains(&retry) {
                self.pop_queue(
                    b,
                    req,
                    now,
                    (&retry, TopicKind::Retry, 0),
                    &mut budget,
                    &mut out,
                    &mut journal,
                );
            }
        }
        let queues: Vec<i32> = match req.queue_id {
            Some(q) => vec![q],
            None => {
                let n = b.topics.queue_info(req.topic).map(|(_, r, _, _)| r).unwrap_or(0).max(0);
                let start = self.rr.fetch_add(1, Ordering::Relaxed) ^ shard(req.group);
                (0..n).map(|i| ((start + i as usize) % n as usize) as i32).collect()
            }
        };
        for q in queues {
            if budget.full(&out) {
                break;
            }
            self.pop_queue(
                b,
                req,
                now,
                (req.topic, TopicKind::Normal, q),
                &mut budget,
                &mut out,
                &mut journal,
            );
        }
        self.append(&journal)?;
        Ok(out)
    }

    /// Pop with long polling: wait (until `until`, or until `cancel` completes) for a message
    /// to arrive in the topic or its retry topic; an empty answer when none came.
    pub async fn pop_wait(
        &self,
        b: &Broker,
        req: &PopRequest<'_>,
        until: tokio::time::Instant,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<Vec<Popped>, HandleError> {
        let n1 = self.wake.notifier(req.topic);
        let n2 = self.wake.notifier(&retry_topic(req.group, req.topic));
        let _waiting = self.wake.waiting();
        tokio::pin!(cancel);
        loop {
            // Armed before the attempt, so an arrival in between is not missed.
            let f1 = n1.notified();
            let f2 = n2.notified();
            tokio::pin!(f1, f2);
            f1.as_mut().enable();
            f2.as_mut().enable();
            let got = self.pop(b, req)?;
            if !got.is_empty() {
                return Ok(got);
            }
            tokio::select! {
                _ = f1 => {}
                _ = f2 => {}
                _ = tokio::time::sleep_until(until) => return Ok(Vec::new()),
                _ = &mut cancel => return Ok(Vec::new()),
                _ = b.shutdown.cancelled() => return Ok(Vec::new()),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn pop_queue(
        &self,
        b: &Broker,
        req: &PopRequest<'_>,
        now: i64,
        (topic, kind, queue_id): (&str, TopicKind, i32),
        budget: &mut Budget,
        out: &mut Vec<Popped>,
        journal: &mut Vec<u8>,
    ) {
        let st = self.state(b, req.group, topic, queue_id);
        let mut st = st.lock();
        st.fifo = req.fifo;
        let deadline = now.saturating_add(req.invisible_ms);
        let mut d = Delivery { kind, queue_id, now, invisible_ms: req.invisible_ms, ck: None };
        let mut entries: Vec<EntryRec> = Vec::new();
        // Offsets resolved without a delivery (gone with retention, moved to the DLQ).
        let mut resolved: Vec<i64> = Vec::new();
        if req.fifo && !st.inflight.is_empty() {
            // Orderly: a queue with anything invisible is blocked, unless this is a retry of
            // the receive that popped it (same attempt id): then the same messages again,
            // same attempt. Otherwise what expired is delivered again first, in offset order.
            let retried = st.blocked(now)
                && req.attempt_id.is_some_and(|a| st.attempt_id.as_deref() == Some(a));
            if st.blocked(now) && !retried {
                return;
            }
            let inflight: Vec<(i64, Entry)> = st.inflight.iter().map(|(o, e)| (*o, *e)).collect();
            for (offset, e) in inflight {
                if budget.full(out) {
                    break;
                }
                let Some(record) = b.store.look_message_by_offset(e.phy) else {
                    st.remove(offset);
                    resolved.push(offset);
                    continue;
                };
                if !budget.fits(out, record.len()) {
                    break;
                }
                if !retried && e.attempt >= req.max_attempts {
                    if revive::to_dlq(b, req.group, &record, e.attempt) {
                        st.remove(offset);
                        resolved.push(offset);
                    }
                    continue;
                }
                let attempt = if retried { e.attempt } else { e.attempt + 1 };
                let ne = Entry::delivered(d.ck(offset), deadline, attempt, e.phy, req.owner);
                st.set(offset, ne);
                entries.push(rec_of(offset, &ne));
                budget.take(record.len());
                out.push(self.popped(record, &d, offset, &ne));
            }
        }
        if !resolved.is_empty() {
            Record::Acks { id: st.id, offsets: resolved }.encode(journal);
        }
        if st.inflight.is_empty() || !req.fifo {
            let want = budget.max.saturating_sub(out.len());
            if want > 0 && budget.bytes_left > 0 {
                let filter: Option<&dyn ReadFilter> =
                    (!matches!(req.filter, MessageFilter::All)).then_some(req.filter);
                let r = b.store.get_message(
                    req.group,
                    topic,
                    queue_id,
                    st.cursor,
                    want,
                    budget.bytes_left,
                    filter,
                );
                match r.status {
                    GetMessageStatus::Found => {
                        let mut next = r.next_begin_offset;
                        for (rec, off) in r.messages.into_iter().zip(r.queue_offsets) {
                            if !budget.fits(out, rec.len()) {
                                // Left for the next pop (the scan resumes at it).
                                next = off;
                                break;
                            }
                            let Some((phy, reconsume)) = physical_offset_and_reconsume_times(&rec)
                            else {
                                continue;
                            };
                            let attempt = reconsume.max(0) + 1;
                            let e = Entry::delivered(d.ck(off), deadline, attempt, phy, req.owner);
                            st.set(off, e);
                            entries.push(rec_of(off, &e));
                            budget.take(rec.len());
                            out.push(self.popped(rec, &d, off, &e));
                        }
                        st.cursor = st.cursor.max(next);
                    }
                    GetMessageStatus::NoMatchedMessage
                    | GetMessageStatus::MessageWasRemoving
                    | GetMessageStatus::OffsetFoundNull
                    | GetMessageStatus::OffsetTooSmall => {
                        st.cursor = st.cursor.max(r.next_begin_offset);
                    }
                    GetMessageStatus::OffsetOverflowBadly => {
                        // The queue was truncated or recreated below the cursor.
                        st.cursor = r.next_begin_offset;
                    }
                    _ => {}
                }
            }
        }
        if req.fifo && !entries.is_empty() {
            st.attempt_id = req.attempt_id.map(Into::into);
        }
        if !entries.is_empty() || st.committed() != st.reported {
            Record::Pop { id: st.id, cursor: st.cursor, entries }.encode(journal);
        }
        report(b, &mut st);
    }

    fn popped(&self, record: Bytes, d: &Delivery, offset: i64, e: &Entry) -> Popped {
        Popped {
            record,
            attempt: e.attempt,
            handle: ReceiptHandle {
                ck: e.ck,
                pop_time: d.now,
                invisible_time: d.invisible_ms,
                kind: d.kind,
                broker_name: self.broker_name.clone(),
                queue_id: d.queue_id,
                queue_offset: offset,
                commit_log_offset: e.phy,
            },
        }
    }

    fn handle_state(
        &self,
        group: &str,
        topic: &str,
        h: &ReceiptHandle,
    ) -> Result<Arc<Mutex<QueueState>>, HandleError> {
        let t = match h.kind {
            TopicKind::Normal => topic.to_string(),
            TopicKind::Retry => retry_topic(group, topic),
        };
        self.find(group, &t, h.queue_id).ok_or(HandleError::Invalid("no such queue in flight"))
    }

    /// Ack messages of `topic` (handles of a retry-topic pop name the original topic).
    /// One journal write for the batch; per-handle results. A batch's handles come in runs of
    /// one queue (one pop's messages): each run takes one state lookup, one lock, one
    /// [`Record::Acks`] and one report of the committed offset, not one per handle.
    pub fn ack(
        &self,
        b: &Broker,
        group: &str,
        topic: &str,
        handles: &[ReceiptHandle],
    ) -> Vec<Result<(), HandleError>> {
        let now = now_millis();
        let mut journal = Vec::new();
        let mut out = Vec::with_capacity(handles.len());
        for run in handles.chunk_by(|x, y| x.kind == y.kind && x.queue_id == y.queue_id) {
            let st = match self.handle_state(group, topic, &run[0]) {
                Ok(st) => st,
                Err(e) => {
                    out.extend(run.iter().map(|_| Err(e.clone())));
                    continue;
                }
            };
            let mut st = st.lock();
            let mut acked = Vec::new();
            for h in run {
                let r = check_handle(st.inflight.get(&h.queue_offset).copied(), h, now);
                if r.is_ok() {
                    st.remove(h.queue_offset);
                    acked.push(h.queue_offset);
                }
                out.push(r.map(drop));
            }
            let fifo_unblocked = !acked.is_empty() && st.fifo && st.inflight.is_empty();
            if !acked.is_empty() {
                Record::Acks { id: st.id, offsets: acked }.encode(&mut journal);
            }
            report(b, &mut st);
            drop(st);
            if fifo_unblocked {
                self.wake.wake(topic);
            }
        }
        if let Err(e) = self.append(&journal) {
            return handles.iter().map(|_| Err(e.clone())).collect();
        }
        out
    }

    /// Set a new invisible time (from now) for a message; returns its new handle. The old one
    /// stops working: a handle is valid only while its pop time + invisible time is the
    /// deadline its entry's handle names. The check-point offset stays (Java's remoting
    /// clients rebuild the new handle from the old one's first field and the answer's pop and
    /// invisible times). The broker stops renewing the message: the client decided.
    pub fn change_invisible(
        &self,
        group: &str,
        topic: &str,
        h: &ReceiptHandle,
        invisible_ms: i64,
    ) -> Result<ReceiptHandle, HandleError> {
        let now = now_millis();
        let st = self.handle_state(group, topic, h)?;
        let mut journal = Vec::new();
        let nh = {
            let mut st = st.lock();
            let e = check_handle(st.inflight.get(&h.queue_offset).copied(), h, now)?;
            let deadline = now.saturating_add(invisible_ms);
            let e = Entry { handle_deadline: deadline, deadline, owner: 0, ..e };
            st.set(h.queue_offset, e);
            Record::Change { id: st.id, offset: h.queue_offset, ck: e.ck, deadline }
                .encode(&mut journal);
            ReceiptHandle { ck: e.ck, pop_time: now, invisible_time: invisible_ms, ..h.clone() }
        };
        self.append(&journal)?;
        Ok(nh)
    }

    /// Keep owned messages invisible while their owner lives (Apache's proxy renews the
    /// receipt handles of push consumers' `auto_renew` receives the same way): what becomes
    /// visible within `p.ahead_ms` gets `p.step_ms` more from now, the client's handle staying
    /// valid; a message whose owner is gone (`alive` false) becomes visible after
    /// `p.released_ms`; one renewed for more than `p.max_ms` is left to expire (then it is
    /// redelivered as any expired message).
    pub fn renew(&self, now: i64, p: RenewPolicy, alive: impl Fn(u64) -> bool) -> RenewStats {
        let mut stats = RenewStats::default();
        let mut journal = Vec::new();
        for st in self.all() {
            let mut st = st.lock();
            for offset in st.owned_due(now.saturating_add(p.ahead_ms)) {
                let Some(e) = st.inflight.get(&offset).copied() else { continue };
                let ne = if !alive(e.owner) {
                    stats.released += 1;
                    Entry {
                        deadline: now.saturating_add(p.released_ms).min(e.deadline),
                        owner: 0,
                        ..e
                    }
                } else if e.deadline.saturating_sub(e.handle_deadline) >= p.max_ms {
                    stats.stopped += 1;
                    Entry { owner: 0, ..e }
                } else {
                    stats.renewed += 1;
                    Entry { deadline: now.saturating_add(p.step_ms).max(e.deadline), ..e }
                };
                st.set(offset, ne);
                if ne.deadline != e.deadline {
                    Record::Renew { id: st.id, offset, deadline: ne.deadline }.encode(&mut journal);
                }
            }
        }
        if !journal.is_empty() {
            let _ = self.append(&journal);
        }
        stats
    }

    /// Check a handle and return the record it names (for a forward to the DLQ).
    pub fn peek(
        &self,
        b: &Broker,
        group: &str,
        topic: &str,
        h: &ReceiptHandle,
    ) -> Result<(Bytes, i32), HandleError> {
        let st = self.handle_state(group, topic, h)?;
        let st = st.lock();
        let e = check_handle(st.inflight.get(&h.queue_offset).copied(), h, now_millis())?;
        b.store
            .look_message_by_offset(e.phy)
            .map(|r| (r, e.attempt))
            .ok_or(HandleError::Invalid("message no longer stored"))
    }

    /// Reset a group's cursor on (topic, queue) (offset reset by the admin).
    pub fn reset(&self, b: &Broker, group: &str, topic: &str, queue_id: i32, offset: i64) {
        let Some(st) = self.find(group, topic, queue_id) else { return };
        let mut journal = Vec::new();
        {
            let mut st = st.lock();
            let r = Record::Reset { id: st.id, cursor: offset };
            st.apply(&r);
            r.encode(&mut journal);
            report(b, &mut st);
        }
        let _ = self.append(&journal);
    }

    /// In-flight count and retry backlog of a group.
    pub fn group_stats(&self, b: &Broker, group: &str) -> GroupPopStats {
        let mut s = GroupPopStats::default();
        for q in self.queues.iter().filter(|q| q.key().group == group) {
            let st = q.lock();
            s.inflight += st.inflight.len();
            if st.topic.starts_with(system_topics::RETRY_PREFIX) {
                let max = b.store.get_max_offset_in_queue(&st.topic, st.queue_id);
                s.retry_backlog += (max - st.committed()).max(0);
            }
        }
        s
    }

    /// Groups with POP state.
    pub fn groups(&self) -> Vec<String> {
        let mut v: Vec<String> = self.queues.iter().map(|q| q.key().group.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// `(group, topic, queue id, cursor)` of every queue state: how far each POP group has
    /// read (the metrics' "pulled" position).
    pub fn cursors(&self) -> Vec<(String, String, i32, i64)> {
        self.queues
            .iter()
            .map(|q| {
                let st = q.lock();
                (st.group.clone(), st.topic.clone(), st.queue_id, st.cursor)
            })
            .collect()
    }

    /// Every queue state (for revive and snapshots).
    pub(crate) fn all(&self) -> Vec<Arc<Mutex<QueueState>>> {
        self.queues.iter().map(|q| q.value().clone()).collect()
    }

    /// `fdatasync` the journal.
    pub fn sync(&self) {
        if let Err(e) = self.journal.lock().sync() {
            tracing::warn!(error = %e, "syncing the pop journal failed");
        }
    }

    /// Rotate the journal and write a snapshot when the journal is above `max_bytes`.
    pub fn compact_if_above(&self, max_bytes: u64) {
        let (dir, seq) = {
            let mut j = self.journal.lock();
            if j.len() < max_bytes {
                return;
            }
            match j.rotate() {
                Ok(seq) => (j.dir().to_path_buf(), seq),
                Err(e) => {
                    tracing::warn!(error = %e, "rotating the pop journal failed");
                    return;
                }
            }
        };
        let mut buf = Vec::new();
        for st in self.all() {
            st.lock().snapshot(&mut buf);
        }
        match journal::write_snapshot(&dir, seq, &buf) {
            Ok(()) => tracing::info!(seq, bytes = buf.len(), "pop state snapshot written"),
            Err(e) => tracing::warn!(error = %e, "writing the pop snapshot failed"),
        }
    }
}

/// The in-flight entry a handle names, if the handle is its current one and not expired.
fn check_handle(e: Option<Entry>, h: &ReceiptHandle, now: i64) -> Result<Entry, HandleError> {
    let e = e.ok_or(HandleError::Invalid("not in flight (acked or redelivered)"))?;
    if e.ck != h.ck || e.handle_deadline != h.deadline() {
        return Err(HandleError::Invalid("superseded by a newer receipt handle"));
    }
    if e.deadline < now {
        return Err(HandleError::Expired);
    }
    Ok(e)
}

/// What one pop may still return.
struct Budget {
    max: usize,
    bytes_left: usize,
}

impl Budget {
    fn full(&self, out: &[Popped]) -> bool {
        out.len() >= self.max || (!out.is_empty() && self.bytes_left == 0)
    }

    /// A record of `len` bytes fits (the first one always does).
    fn fits(&self, out: &[Popped], len: usize) -> bool {
        out.len() < self.max && (out.is_empty() || len <= self.bytes_left)
    }

    fn take(&mut self, len: usize) {
        self.bytes_left = self.bytes_left.saturating_sub(len);
    }
}

/// The delivery one pop makes from one queue: every message of it carries the same pop time,
/// invisible time and check-point offset (the first offset handed out).
struct Delivery {
    kind: TopicKind,
    queue_id: i32,
    now: i64,
    invisible_ms: i64,
    ck: Option<i64>,
}

impl Delivery {
    /// The check-point offset, fixed by the first message (messages come in offset order).
    fn ck(&mut self, offset: i64) -> i64 {
        *self.ck.get_or_insert(offset)
    }
}

/// Hand the committed offset to the offset table when it moved.
pub(crate) fn report(b: &Broker, st: &mut QueueState) {
    let c = st.committed();
    if c != st.reported {
        b.offsets.commit(&st.group, &st.topic, st.queue_id, c);
        st.reported = c;
    }
}

/// Where a group that never consumed a queue starts: its committed offset if it has one; else
/// the head when the queue still starts at 0 (as QUERY_CONSUMER_OFFSET answers), else the end
/// (Apache pops with init mode MAX). Retry topics always from their head.
fn initial_cursor(b: &Broker, group: &str, topic: &str, queue_id: i32) -> i64 {
    if let Some(o) = b.offsets.query(group, topic, queue_id) {
        return o;
    }
    let min = b.store.get_min_offset_in_queue(topic, queue_id);
    if min <= 0 || topic.starts_with(system_topics::RETRY_PREFIX) {
        return min.max(0);
    }
    b.store.get_max_offset_in_queue(topic, queue_id)
}
