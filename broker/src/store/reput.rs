//! A follower's dispatch of replicated records, after they are appended (Java's
//! `ReputMessageService` on a slave).
//!
//! A SLAVE acknowledges what its commit log holds: its report to the master must not wait for
//! the consume-queue units and index entries of the records it just appended (a whole read
//! buffer of them; that wait was most of the slave's lag tail, bench/RESULTS.md
//! "Replication"). So [`Replica::append`](super::replication::Replica::append) only checks and
//! publishes the bytes and moves [`Reput::checked`] forward; this cursor then walks the
//! published log from [`Reput::dispatched`] and writes what dispatch would have written, in
//! commit-log order, under the put lock, in short batches so the next append never waits long.
//! One thread per store runs it (`store-reput`, see `lifecycle.rs`); a store whose services
//! were not started (tools, store tests) dispatches right after each append instead.
//!
//! Invariants (all changes happen under the put lock):
//! * `dispatched <= checked <= log end`; every record below `dispatched` has its consume-queue
//!   unit and index entries, none at or above it does (a reader sees a message only once it is
//!   dispatched, and its bytes are always there);
//! * the checkpoint's consistent point is `dispatched`, not the log's end, so recovery after a
//!   crash with dispatch behind replays (rebuilds) the missing units from the commit log;
//! * before the store takes puts again (a promoted replica) or shuts down cleanly, everything
//!   is dispatched ([`Reput::run`] without a limit): puts take queue offsets from the consume
//!   queues, which must be complete by then.
//!
//! The cursors mean something only while the store is a follower; becoming one resets them to
//! the log's end (everything before was dispatched by puts or by recovery).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use mq_common::message::{DecodeError, RecordView};

use super::dispatch::{Arrival, DispatchRequest, Dispatcher};
use super::durability::Waker;
use super::put_lock::WriteToken;
use super::write::WriteSide;

/// Records dispatched per hold of the put lock by the background cursor: short enough that
/// an append waiting for the lock waits tens of microseconds, long enough to amortise the lock.
pub const BATCH: usize = 64;

/// The dispatch cursor of a follower. See the module docs.
#[derive(Default)]
pub struct Reput {
    dispatched: AtomicI64,
    checked: AtomicI64,
    paused: AtomicBool,
    threaded: AtomicBool,
    /// Wakes the dispatching thread (appends ring it).
    pub(crate) waker: Arc<Waker>,
}

/// What one [`Reput::run`] did.
pub struct Ran {
    /// Messages that reached their queues (for the arrival listener, outside the lock).
    pub arrivals: Vec<Arrival>,
    /// Whether the limit stopped it with checked records left.
    pub more: bool,
    /// Whether a record could not be dispatched (retried at the next round).
    pub failed: bool,
}

impl Reput {
    /// Where dispatch stands: every record below it is in its queue and the index.
    pub fn dispatched(&self) -> i64 {
        self.dispatched.load(Ordering::Acquire)
    }

    /// Bytes appended and checked but not dispatched yet.
    pub fn behind(&self) -> i64 {
        (self.checked.load(Ordering::Acquire) - self.dispatched()).max(0)
    }

    /// The store became a follower with its log ending at `end`, all of it dispatched.
    pub fn reset(&self, _t: &WriteToken<'_>, end: i64) {
        self.dispatched.store(end, Ordering::Release);
        self.checked.store(end, Ordering::Release);
    }

    /// An append checked and published every complete record below `end`.
    pub fn appended(&self, _t: &WriteToken<'_>, end: i64) {
        self.checked.store(end, Ordering::Release);
    }

    /// The log was cut at `offset`. Returns whether dispatch had passed the cut (then the
    /// caller records the new last record; else the records below the cut that are not
    /// dispatched yet still will be, and the last dispatched record stands).
    pub fn truncated(&self, _t: &WriteToken<'_>, offset: i64) -> bool {
        self.checked.fetch_min(offset, Ordering::AcqRel);
        let passed = self.dispatched() >= offset;
        if passed {
            self.dispatched.store(offset, Ordering::Release);
        }
        passed
    }

    /// Hold (`true`) or resume the background cursor and the dispatch after appends (a test
    /// hook: a crash with dispatch behind). Draining (promotion, shutdown) ignores it.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
        self.waker.wake();
    }

    /// Whether the background cursor is held ([`Reput::pause`]).
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// A thread dispatches from now on (the store's services started).
    pub fn set_threaded(&self) {
        self.threaded.store(true, Ordering::Release);
    }

    /// Whether a thread dispatches (else appends dispatch themselves).
    pub fn is_threaded(&self) -> bool {
        self.threaded.load(Ordering::Acquire)
    }

    /// Dispatch up to `limit` checked records (`usize::MAX`: all), in log order.
    pub fn run(&self, t: &WriteToken<'_>, w: &WriteSide, d: &Dispatcher, limit: usize) -> Ran {
        let end = self.checked.load(Ordering::Acquire);
        let mut at = self.dispatched();
        let mut arrivals = Vec::new();
        let mut n = 0;
        let mut failed = false;
        while at < end && n < limit {
            match dispatch_one(t, w, d, at) {
                Ok((next, arrival)) => {
                    arrivals.extend(arrival);
                    at = next;
                    n += 1;
                }
                Err(e) => {
                    // These bytes were checked before they were published, so this is I/O
                    // (a consume-queue or index write): retried at the next round.
                    tracing::error!(offset = at, error = %e, "dispatching a replicated record failed");
                    failed = true;
                    break;
                }
            }
        }
        self.dispatched.store(at, Ordering::Release);
        Ran { arrivals, more: !failed && at < end, failed }
    }
}

/// Dispatch the record (or skip the file's blank tail) at `at`; returns where the next starts.
fn dispatch_one(
    t: &WriteToken<'_>,
    w: &WriteSide,
    d: &Dispatcher,
    at: i64,
) -> io::Result<(i64, Option<Arrival>)> {
    let log = w.log();
    let file = log.queue().find(at).ok_or_else(|| io::Error::other("offset not in the log"))?;
    let rel = (at - file.from_offset()) as usize;
    let buf = file.written(rel, file.wrote_position().saturating_sub(rel)).unwrap_or(&[]);
    match RecordView::parse(buf, false) {
        Ok(v) if v.physical_offset == at => {
            let arrival = d.dispatch(t, &DispatchRequest::from_view(at, &v), None)?;
            w.note_last_record(t, at, v.store_timestamp);
            Ok((at + v.total_size as i64, arrival))
        }
        Err(DecodeError::Blank { size }) if rel + size as usize == file.size() => {
            Ok((file.from_offset() + file.size() as i64, None))
        }
        Ok(v) => Err(io::Error::other(format!("PHYSICALOFFSET says {}", v.physical_offset))),
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}
