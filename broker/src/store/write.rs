//! The write side: the put lock (the only maker of [`WriteToken`]s), the commit log it guards,
//! and the put path that appends a record and dispatches it under that lock.
//!
//! A put, in order (`put_group.rs`; a single put is a group of one): checks
//! (`message_check.rs`) and the consume-queue lookup run outside the lock; under it the disk
//! blocks dispatch will need are reserved (a full disk refuses the put here, before anything
//! is written), the record is encoded (straight into the mapped file, or into the lock's
//! scratch buffer for one `pwrite`), and its consume-queue unit and index entries are written. The lock makes queue offsets
//! consecutive in commit-log order and makes the message readable as soon as the put returns.
//! Durability is not decided here: the put returns a [`DurabilityTicket`] (see
//! `durability.rs`).

// The `Err` of the put path's helpers is the refused put itself (a `Put`, answered once per
// refused message): boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mq_common::message::MessageExtBrokerInner;

use super::commit_log::CommitLog;
use super::consume_queue::ConsumeQueue;
use super::dispatch::Dispatcher;
use super::durability::{DurabilityTicket, Flusher, Waker};
use super::hooks::StoreClock;
use super::message_check;
use super::put_group::PutSet;
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
    pub(super) log: CommitLog,
    /// Store time of the newest appended record (checkpoint physic timestamp source).
    last_put_ts: AtomicI64,
    /// Offset of the newest record (recorded at clean shutdown, verified at the next start).
    last_record_offset: AtomicI64,
    /// Counters.
    pub stats: PutStats,
    /// Wakes the pre-allocator when a put rolled the log to a new file.
    prealloc: Arc<Waker>,
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

    pub(super) fn fail(&self, r: PutMessageResult) -> Put {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        Put::failed(r)
    }

    pub(super) fn out_of_space_or_error(&self, what: &str, e: std::io::Error) -> Put {
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
    pub(super) fn ready_cq(
        &self,
        env: &PutEnv<'_>,
        topic: &str,
        qid: i32,
    ) -> Result<Arc<ConsumeQueue>, Put> {
        let cq = env.dispatch.find_or_create_cq(topic, qid);
        cq.prepare().map_err(|e| self.out_of_space_or_error("creating a consume-queue file", e))?;
        Ok(cq)
    }

    /// Append one message and dispatch it: a group of one (see [`WriteSide::put_group`]).
    pub fn put(&self, env: &PutEnv<'_>, msg: MessageExtBrokerInner) -> Put {
        self.put_one_set(env, PutSet::One(msg))
    }

    /// Append a batch (SEND_BATCH) and dispatch it: all messages of one topic and queue, plain
    /// and undelayed (checked by `message_check::batch_lens`); the whole batch lands in one
    /// file with consecutive queue offsets; the result carries every offsetMsgId.
    pub fn put_batch(&self, env: &PutEnv<'_>, msgs: Vec<MessageExtBrokerInner>) -> Put {
        self.put_one_set(env, PutSet::Batch(msgs))
    }

    fn put_one_set(&self, env: &PutEnv<'_>, set: PutSet) -> Put {
        let mut puts = self.put_group(env, vec![set]);
        // A group answers every set: exactly one here.
        puts.pop().unwrap_or_else(|| {
            self.fail(PutMessageResult::failed(PutMessageStatus::UnknownError, "put not answered"))
        })
    }

    /// Check a message's record length (see `message_check.rs`).
    pub(super) fn checked_len(
        &self,
        env: &PutEnv<'_>,
        msg: &MessageExtBrokerInner,
    ) -> Result<usize, Put> {
        message_check::record_len(msg, env.max_body)
            .and_then(|l| message_check::fits_in_file(l, self.log.file_size()).map(|_| l))
            .map_err(|r| self.fail(r))
    }

    /// Bookkeeping after an append, outside the lock: latency, and a failed dispatch (the
    /// record is in the log; recovery would re-dispatch it) turned into a failed put.
    pub(super) fn after_append<A>(
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
    pub(super) fn roll_hint(&self, rolled: bool) {
        if rolled {
            self.prealloc.wake();
        }
    }
}

/// A put refused before anything was written has nothing to wait for.
impl Put {
    pub(crate) fn failed(result: PutMessageResult) -> Put {
        Put { result, ticket: DurabilityTicket::done() }
    }
}
