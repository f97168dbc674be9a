//! The write side: the put lock (the only maker of [`WriteToken`]s), the commit log it guards,
//! and the put path that appends a record and dispatches it under that lock.
//!
//! A put, in order: checks (`message_check.rs`) and the consume-queue lookup run outside the
//! lock; under it the disk blocks dispatch will need are reserved (a full disk refuses the put
//! here, before anything is written), the record is encoded straight into the mapped file,
//! and its consume-queue unit and index entries are written. The lock makes queue offsets
//! consecutive in commit-log order and makes the message readable as soon as the put returns.
//! Durability is not decided here: the put returns a [`DurabilityTicket`] (see
//! `durability.rs`).

// The `Err` of the put path's helpers is the refused put itself (a `Put`, answered once per
// refused message): boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mq_common::message::{crc32_masked, encode_offset_msg_id, encode_record_into};
use mq_common::message::{sysflag, MessageExtBrokerInner};

use super::commit_log::CommitLog;
use super::consume_queue::ConsumeQueue;
use super::dispatch::{Arrival, DispatchRequest, Dispatcher, RecordProps};
use super::durability::{DurabilityTicket, Flusher, Waker};
use super::hooks::StoreClock;
use super::message_check;
use super::put_lock::{PutLock, WriteToken};
use super::sys;
use super::types::{Put, PutMessageResult, PutMessageStatus};

/// Put counters (GET_BROKER_RUNTIME_INFO).
#[derive(Default)]
pub struct PutStats {
    /// messages stored
    pub total: AtomicU64,
    /// bytes stored
    pub bytes: AtomicU64,
    /// puts refused or failed
    pub failed: AtomicU64,
    /// slowest append + dispatch, µs
    pub max_latency_us: AtomicU64,
}

/// What a put needs besides the write side: where to dispatch, who decides durability, the
/// time, and the live body limit.
pub struct PutEnv<'a> {
    /// consume queues and index
    pub dispatch: &'a Dispatcher,
    /// durability tickets
    pub flusher: &'a Flusher,
    /// store time of the record
    pub clock: &'a dyn StoreClock,
    /// `maxMessageSize` now
    pub max_body: usize,
}

/// The write side of the store.
pub struct WriteSide {
    lock: PutLock,
    log: CommitLog,
    /// Store time of the newest appended record (checkpoint physic timestamp source).
    last_put_ts: AtomicI64,
    /// Offset of the newest record (recorded at clean shutdown, verified at the next start).
    last_record_offset: AtomicI64,
    /// Counters.
    pub stats: PutStats,
    /// Wakes the pre-allocator when a put rolled the log to a new file.
    prealloc: Arc<Waker>,
}

/// The `(offset, bytes)` an append produced, and whether the log rolled to a new file.
struct Appended {
    phy: i64,
    rolled: bool,
}

impl WriteSide {
    /// A write side over `log`.
    pub fn new(log: CommitLog) -> Self {
        WriteSide {
            lock: PutLock::default(),
            log,
            last_put_ts: AtomicI64::new(0),
            last_record_offset: AtomicI64::new(-1),
            stats: PutStats::default(),
            prealloc: Arc::default(),
        }
    }

    /// The pre-allocator's wake-up (a put that rolls the log to a new file rings it).
    pub fn prealloc_waker(&self) -> &Arc<Waker> {
        &self.prealloc
    }

    /// Take the put lock: the token to write mapped files with.
    pub fn lock(&self) -> WriteToken<'_> {
        self.lock.lock()
    }

    /// Take the put lock, waiting at most `d`.
    pub fn try_lock_for(&self, d: std::time::Duration) -> Option<WriteToken<'_>> {
        self.lock.try_lock_for(d)
    }

    /// The commit log (reads; writes need a token).
    pub fn log(&self) -> &CommitLog {
        &self.log
    }

    /// Store time of the newest appended record.
    pub fn last_put_ts(&self) -> i64 {
        self.last_put_ts.load(Ordering::Acquire)
    }

    /// Offset of the newest record (-1 if none).
    pub fn last_record_offset(&self) -> i64 {
        self.last_record_offset.load(Ordering::Acquire)
    }

    /// Record the newest record (appends, recovery, replication).
    pub fn note_last_record(&self, _t: &WriteToken<'_>, offset: i64, store_ts: i64) {
        self.last_record_offset.store(offset, Ordering::Release);
        if store_ts > 0 {
            self.last_put_ts.store(store_ts, Ordering::Release);
        }
    }

    fn fail(&self, r: PutMessageResult) -> Put {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        Put::failed(r)
    }

    fn out_of_space_or_error(&self, what: &str, e: std::io::Error) -> Put {
        if sys::is_out_of_space(&e) {
            tracing::warn!(%e, "{what}: disk full, put refused");
            return self.fail(PutMessageResult::failed(
                PutMessageStatus::DiskFull,
                format!("{what}: {e}"),
            ));
        }
        tracing::error!(%e, "{what} failed");
        self.fail(PutMessageResult::failed(PutMessageStatus::UnknownError, format!("{what}: {e}")))
    }

    /// The queue of (topic, queue) with a file ready for its next unit, looked up and created
    /// *before* the put lock: file creation takes milliseconds and would stall every other
    /// sender (issue 7, 1024-queue topics).
    fn ready_cq(&self, env: &PutEnv<'_>, topic: &str, qid: i32) -> Result<Arc<ConsumeQueue>, Put> {
        let cq = env.dispatch.find_or_create_cq(topic, qid);
        cq.prepare().map_err(|e| self.out_of_space_or_error("creating a consume-queue file", e))?;
        Ok(cq)
    }

    /// Under the lock: reserve dispatch's disk blocks, then append `len` bytes encoded by
    /// `encode(phy, dst)`. Nothing is written when this fails.
    fn append(
        &self,
        t: &WriteToken<'_>,
        env: &PutEnv<'_>,
        cq: Option<(&ConsumeQueue, i64)>,
        (units, keys): (usize, usize),
        len: usize,
        encode: impl FnOnce(i64, &mut [u8]),
    ) -> Result<Appended, Put> {
        env.dispatch
            .reserve(t, cq, units, keys)
            .map_err(|e| self.out_of_space_or_error("reserving consume-queue/index space", e))?;
        let (phy, rolled) = self
            .log
            .append(t, len, encode)
            .map_err(|e| self.out_of_space_or_error("commit-log append", e))?;
        Ok(Appended { phy, rolled })
    }

    /// Check a message's record length (see `message_check.rs`).
    fn checked_len(&self, env: &PutEnv<'_>, msg: &MessageExtBrokerInner) -> Result<usize, Put> {
        message_check::record_len(msg, env.max_body)
            .and_then(|l| message_check::fits_in_file(l, self.log.file_size()).map(|_| l))
            .map_err(|r| self.fail(r))
    }

    /// Append one message and dispatch it. See the module docs.
    pub fn put(&self, env: &PutEnv<'_>, mut msg: MessageExtBrokerInner) -> Put {
        // One walk over the properties serves the checks, the reservation and dispatch; only a
        // delayed message (rewritten to the schedule topic) is read again.
        let props = RecordProps::parse(&msg.properties);
        let props = if props.delay.is_some() {
            message_check::apply_delay(&mut msg, env.dispatch.delay_levels());
            RecordProps::parse(&msg.properties)
        } else {
            props
        };
        let (wait, keys) = (props.waits_for_store(), props.index_keys());
        let len = match self.checked_len(env, &msg) {
            Ok(v) => v,
            Err(p) => return p,
        };
        let body_crc = crc32_masked(&msg.body);
        let dispatchable = sysflag::is_dispatchable(msg.sys_flag);
        let cq = match dispatchable.then(|| self.ready_cq(env, &msg.topic, msg.queue_id)) {
            Some(Err(p)) => return p,
            Some(Ok(c)) => Some(c),
            None => None,
        };
        let t0 = Instant::now();
        let t = self.lock();
        let now = env.clock.now_ms();
        // The topic may have been deleted between the lookup and the lock (rare): look again.
        let cq = cq.map(|c| {
            if c.is_destroyed() {
                env.dispatch.find_or_create_cq(&msg.topic, msg.queue_id)
            } else {
                c
            }
        });
        // PREPARED/ROLLBACK records get queue offset 0 and do not advance the queue.
        let queue_offset = cq.as_ref().map(|c| c.max_offset_in_queue()).unwrap_or(0);
        let encode = |phy: i64, dst: &mut [u8]| {
            let f = msg.record_fields(body_crc, queue_offset, phy, now);
            // Cannot fail: the length was checked and dst is exactly `len` bytes.
            let _ = encode_record_into(dst, &f);
        };
        let units = usize::from(dispatchable);
        let at = cq.as_deref().map(|c| (c, queue_offset));
        let a = match self.append(&t, env, at, (units, keys), len, encode) {
            Ok(a) => a,
            Err(p) => return p,
        };
        self.note_last_record(&t, a.phy, now);
        let d = DispatchRequest {
            topic: &msg.topic,
            queue_id: msg.queue_id,
            queue_offset,
            phy_offset: a.phy,
            size: len as i32,
            store_timestamp: now,
            sys_flag: msg.sys_flag,
            props,
        };
        let dispatched = env.dispatch.dispatch(&t, &d, cq.as_ref());
        drop(t);
        let arrival = match self.after_append(t0, a.phy, dispatched) {
            Ok(v) => v,
            Err(p) => return p,
        };
        self.stats.total.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(len as u64, Ordering::Relaxed);
        env.dispatch.notify(arrival.as_slice());
        let id = encode_offset_msg_id(msg.store_host, a.phy);
        let result = PutMessageResult {
            status: PutMessageStatus::PutOk,
            wrote_offset: a.phy,
            wrote_bytes: len as i32,
            msg_ids: vec![id.clone()],
            msg_id: id,
            queue_offset,
            msg_num: 1,
            store_timestamp: now,
            topic: msg.topic,
            queue_id: msg.queue_id,
            remark: String::new(),
            wait_store: wait,
        };
        let ticket = env.flusher.ticket(wait, a.phy + len as i64);
        self.roll_hint(a.rolled);
        Put { result, ticket }
    }

    /// Bookkeeping after an append, outside the lock: latency, and a failed dispatch (the
    /// record is in the log; recovery would re-dispatch it) turned into a failed put.
    fn after_append<A>(
        &self,
        t0: Instant,
        phy: i64,
        dispatched: std::io::Result<A>,
    ) -> Result<A, Put> {
        let us = t0.elapsed().as_micros() as u64;
        self.stats.max_latency_us.fetch_max(us, Ordering::Relaxed);
        dispatched.map_err(|e| {
            tracing::error!(%e, "dispatch to consume queue / index failed");
            self.fail(PutMessageResult::failed(
                PutMessageStatus::UnknownError,
                format!("stored at {phy} but dispatch failed: {e}"),
            ))
        })
    }

    /// A put that rolled the log to a new file wakes the pre-allocator to prepare the next.
    fn roll_hint(&self, rolled: bool) {
        if rolled {
            self.prealloc.wake();
        }
    }

    /// Append a batch (SEND_BATCH) and dispatch it: all messages of one topic and queue, plain
    /// and undelayed (checked by `message_check::batch_lens`); the whole batch lands in one
    /// file with consecutive queue offsets; the result carries every offsetMsgId.
    pub fn put_batch(&self, env: &PutEnv<'_>, msgs: Vec<MessageExtBrokerInner>) -> Put {
        let lens = match message_check::batch_lens(&msgs, env.max_body, self.log.file_size()) {
            Ok(l) => l,
            Err(r) => return self.fail(r),
        };
        let (topic, qid, store_host) =
            (msgs[0].topic.clone(), msgs[0].queue_id, msgs[0].store_host);
        let total: usize = lens.iter().sum();
        let crcs: Vec<i32> = msgs.iter().map(|m| crc32_masked(&m.body)).collect();
        let props: Vec<RecordProps<'_>> =
            msgs.iter().map(|m| RecordProps::parse(&m.properties)).collect();
        let wait = props.iter().all(RecordProps::waits_for_store);
        let keys: usize = props.iter().map(RecordProps::index_keys).sum();
        let cq = match self.ready_cq(env, &topic, qid) {
            Ok(c) => c,
            Err(p) => return p,
        };
        let t0 = Instant::now();
        let t = self.lock();
        let now = env.clock.now_ms();
        let cq = if cq.is_destroyed() { env.dispatch.find_or_create_cq(&topic, qid) } else { cq };
        let q0 = cq.max_offset_in_queue();
        let encode = |phy: i64, dst: &mut [u8]| {
            let mut at = 0usize;
            for (i, m) in msgs.iter().enumerate() {
                let f = m.record_fields(crcs[i], q0 + i as i64, phy + at as i64, now);
                let _ = encode_record_into(&mut dst[at..at + lens[i]], &f);
                at += lens[i];
            }
        };
        let a = match self.append(&t, env, Some((&cq, q0)), (msgs.len(), keys), total, encode) {
            Ok(a) => a,
            Err(p) => return p,
        };
        self.note_last_record(&t, a.phy + (total - lens[lens.len() - 1]) as i64, now);
        let dispatched = self.dispatch_batch(&t, env, &cq, (&msgs, &props), &lens, q0, a.phy, now);
        drop(t);
        let arrivals = match self.after_append(t0, a.phy, dispatched) {
            Ok(v) => v,
            Err(p) => return p,
        };
        self.stats.total.fetch_add(msgs.len() as u64, Ordering::Relaxed);
        self.stats.bytes.fetch_add(total as u64, Ordering::Relaxed);
        env.dispatch.notify(&arrivals);
        let mut ids = Vec::with_capacity(msgs.len());
        let mut at = 0i64;
        for l in &lens {
            ids.push(encode_offset_msg_id(store_host, a.phy + at));
            at += *l as i64;
        }
        let result = PutMessageResult {
            status: PutMessageStatus::PutOk,
            wrote_offset: a.phy,
            wrote_bytes: total as i32,
            msg_id: ids.join(","),
            msg_ids: ids,
            queue_offset: q0,
            msg_num: msgs.len() as i32,
            store_timestamp: now,
            topic,
            queue_id: qid,
            remark: String::new(),
            wait_store: wait,
        };
        let ticket = env.flusher.ticket(wait, a.phy + total as i64);
        self.roll_hint(a.rolled);
        Put { result, ticket }
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch_batch(
        &self,
        t: &WriteToken<'_>,
        env: &PutEnv<'_>,
        cq: &Arc<ConsumeQueue>,
        (msgs, props): (&[MessageExtBrokerInner], &[RecordProps<'_>]),
        lens: &[usize],
        q0: i64,
        phy: i64,
        now: i64,
    ) -> std::io::Result<Vec<Arrival>> {
        let mut arrivals = Vec::with_capacity(msgs.len());
        let mut at = 0i64;
        for (i, m) in msgs.iter().enumerate() {
            let d = DispatchRequest {
                topic: &m.topic,
                queue_id: m.queue_id,
                queue_offset: q0 + i as i64,
                phy_offset: phy + at,
                size: lens[i] as i32,
                store_timestamp: now,
                sys_flag: m.sys_flag,
                props: props[i],
            };
            at += lens[i] as i64;
            arrivals.extend(env.dispatch.dispatch(t, &d, Some(cq))?);
        }
        Ok(arrivals)
    }
}

/// A put refused before anything was written has nothing to wait for.
impl Put {
    pub(crate) fn failed(result: PutMessageResult) -> Put {
        Put { result, ticket: DurabilityTicket::done() }
    }
}
