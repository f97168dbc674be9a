//! Durability: the commit-log flusher (ASYNC interval or SYNC group commit), fsync poisoning,
//! and the [`DurabilityTicket`] every put returns.
//!
//! A put is synchronous and cheap on the caller's thread; whether its bytes must be on disk
//! before the sender is answered is carried by the ticket it returns (SYNC_FLUSH and the
//! message's `WAIT` property not `false`). The ticket is `#[must_use]` and complains when it
//! is dropped while still pending, so a put path cannot forget it: it awaits it
//! ([`DurabilityTicket::wait`]) or hands it a callback ([`DurabilityTicket::on_durable`]).
//!
//! Group commit: a pending ticket registers "flushed ≥ my end offset" and wakes the flusher;
//! the flusher takes the current end of the log, msyncs everything up to it (one fsync for
//! every append completed before it) and completes every satisfied waiter in one pass, on its
//! own thread (no task or timer per message). Overdue waiters fail with
//! [`DurabilityError::FlushTimeout`] on the flusher's next round.
//!
//! Poisoning: if an msync fails, the kernel may already have dropped the dirty pages, so a retry
//! could report success for data that is gone. The store is poisoned: waiters get an error,
//! later puts are refused, and nothing past the last good flush is ever acknowledged.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::commit_log::CommitLog;
use super::config::{FlushDiskType, StoreConfig};

/// Why a durable wait failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurabilityError {
    /// Not flushed within `syncFlushTimeout` (maps to FLUSH_DISK_TIMEOUT).
    #[error("flush timed out")]
    FlushTimeout,
    /// An fsync failed; the data may be lost and the store refuses writes.
    #[error("store poisoned by a failed fsync")]
    Poisoned,
    /// The store shut down before the data was flushed.
    #[error("store shut down")]
    ShutDown,
    /// The log was truncated below the data (replication) before it was flushed.
    #[error("commit log truncated below the data")]
    Truncated,
}

/// Called exactly once with the outcome of a durable wait (on the flusher thread, or on the
/// calling thread when the outcome is already known). Must not block.
pub type DurableCallback = Box<dyn FnOnce(Result<(), DurabilityError>) + Send>;

struct Waiter {
    end: i64,
    deadline: Instant,
    cb: DurableCallback,
}

/// A wake-up flag with timeout (condvar + bool), used by the background threads.
#[derive(Default)]
pub struct Waker {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Waker {
    /// Wake the waiting thread (sticky until consumed).
    pub fn wake(&self) {
        let mut f = self.flag.lock();
        *f = true;
        self.cv.notify_one();
    }

    /// Wait until woken or `timeout` passes; consumes the wake-up.
    pub fn wait(&self, timeout: Duration) {
        let mut f = self.flag.lock();
        if !*f {
            self.cv.wait_for(&mut f, timeout);
        }
        *f = false;
    }
}

/// State shared by appenders, tickets and the flusher.
pub struct FlushControl {
    /// Commit-log offset up to which data is durable.
    flushed: AtomicI64,
    /// Highest offset some waiter needs durable.
    requested: AtomicI64,
    /// Wakes the flusher (shared with its thread, which must not keep the store alive).
    pub(crate) waker: Arc<Waker>,
    poisoned: AtomicBool,
    shut_down: AtomicBool,
    waiters: Mutex<Vec<Waiter>>,
    /// Number of entries in `waiters` (lets the flusher skip the lock when there are none).
    waiter_count: AtomicI64,
    timeout: Duration,
}

impl FlushControl {
    /// New control; durable waits time out after `timeout` (`syncFlushTimeout`).
    pub fn new(timeout: Duration) -> Self {
        FlushControl {
            flushed: AtomicI64::new(0),
            requested: AtomicI64::new(0),
            waker: Default::default(),
            poisoned: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            waiters: Mutex::new(Vec::new()),
            waiter_count: AtomicI64::new(0),
            timeout,
        }
    }

    /// Commit-log offset up to which data is durable.
    pub fn flushed(&self) -> i64 {
        self.flushed.load(Ordering::Acquire)
    }

    /// Whether the store is poisoned.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Publish a successful flush up to `flushed` and complete the waiters it covers.
    pub fn publish(&self, flushed: i64) {
        self.flushed.fetch_max(flushed, Ordering::AcqRel);
        self.complete_waiters();
    }

    /// The log was truncated at `end` (replication): lower the durable offset and fail the
    /// waiters of data that is gone.
    pub fn truncated(&self, end: i64) {
        self.flushed.fetch_min(end, Ordering::AcqRel);
        self.requested.fetch_min(end, Ordering::AcqRel);
        let gone: Vec<Waiter> = {
            let mut w = self.waiters.lock();
            let (gone, keep): (Vec<Waiter>, Vec<Waiter>) = w.drain(..).partition(|x| x.end > end);
            *w = keep;
            self.waiter_count.store(w.len() as i64, Ordering::Release);
            gone
        };
        for x in gone {
            (x.cb)(Err(DurabilityError::Truncated));
        }
    }

    /// Poison the store and release every waiter with an error.
    pub fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
        self.complete_waiters();
    }

    /// Mark shut down (waiters not yet satisfied fail with `ShutDown`).
    pub fn mark_shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
        self.complete_waiters();
    }

    /// Ask the flusher to make `offset` durable.
    pub fn request(&self, offset: i64) {
        if self.requested.fetch_max(offset, Ordering::AcqRel) < offset {
            self.waker.wake();
        }
    }

    /// Highest offset a waiter asked for.
    pub fn requested(&self) -> i64 {
        self.requested.load(Ordering::Acquire)
    }

    fn outcome(
        &self,
        end: i64,
        now: Instant,
        deadline: Instant,
    ) -> Option<Result<(), DurabilityError>> {
        if self.is_poisoned() {
            Some(Err(DurabilityError::Poisoned))
        } else if self.flushed() >= end {
            Some(Ok(()))
        } else if self.shut_down.load(Ordering::Acquire) {
            Some(Err(DurabilityError::ShutDown))
        } else if deadline <= now {
            Some(Err(DurabilityError::FlushTimeout))
        } else {
            None
        }
    }

    /// Call `cb` once `end` is durable (`Ok`), or with the error if the store is poisoned,
    /// shuts down, or `syncFlushTimeout` passes first. Asks the flusher to flush.
    fn on_durable(&self, end: i64, cb: DurableCallback) {
        let now = Instant::now();
        let deadline = now + self.timeout;
        if let Some(r) = self.outcome(end, now, deadline) {
            return cb(r);
        }
        self.waiters.lock().push(Waiter { end, deadline, cb });
        self.waiter_count.fetch_add(1, Ordering::AcqRel);
        self.request(end);
        // The flusher may have published (and drained) between our check and the push; then
        // nobody would look at this waiter until its next round. Look again ourselves.
        if self.outcome(end, now, deadline).is_some() {
            self.complete_waiters();
        }
    }

    /// Complete every waiter whose outcome is known: flushed, poisoned, shut down or overdue.
    /// Callbacks run outside the lock.
    pub fn complete_waiters(&self) {
        if self.waiter_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let now = Instant::now();
        let mut done = Vec::new();
        {
            let mut w = self.waiters.lock();
            let mut i = 0;
            while i < w.len() {
                match self.outcome(w[i].end, now, w[i].deadline) {
                    Some(r) => done.push((w.swap_remove(i), r)),
                    None => i += 1,
                }
            }
            self.waiter_count.store(w.len() as i64, Ordering::Release);
        }
        for (x, r) in done {
            (x.cb)(r);
        }
    }
}

/// Whether a put must be durable before it is acknowledged, and the means to wait for it.
#[must_use = "a put may be acknowledged only once its durability ticket is awaited or forwarded"]
pub struct DurabilityTicket {
    pending: Option<(Arc<FlushControl>, i64)>,
}

impl DurabilityTicket {
    /// A ticket with nothing to wait for (ASYNC_FLUSH, `WAIT=false`, or a failed put).
    pub fn done() -> Self {
        DurabilityTicket { pending: None }
    }

    pub(crate) fn pending(ctl: Arc<FlushControl>, end: i64) -> Self {
        DurabilityTicket { pending: Some((ctl, end)) }
    }

    /// Whether the put still has to reach the disk before it may be acknowledged.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Call `cb` once the put is durable (or with why not). Runs at once when nothing is
    /// pending; otherwise on the flusher thread right after the fsync that covers it.
    pub fn on_durable(mut self, cb: DurableCallback) {
        match self.pending.take() {
            Some((ctl, end)) => ctl.on_durable(end, cb),
            None => cb(Ok(())),
        }
    }

    /// Drop this ticket because `later`, the ticket of a put appended after this one, is
    /// awaited instead: the log is flushed in order, so when `later` is durable so is this.
    pub fn covered_by(mut self, later: &DurabilityTicket) {
        if let Some((_, end)) = self.pending.take() {
            let covered = later.pending.as_ref().is_some_and(|(_, e)| *e >= end);
            debug_assert!(covered, "covered_by needs a pending ticket of a later put");
            if !covered {
                tracing::error!(end, "a durability ticket was not covered by a later put");
            }
        }
    }

    /// Wait until the put is durable (or why not).
    pub async fn wait(self) -> Result<(), DurabilityError> {
        let Some(timeout) = self.pending.as_ref().map(|(c, _)| c.timeout) else {
            return Ok(());
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.on_durable(Box::new(move |r| {
            let _ = tx.send(r);
        }));
        // The flusher expires overdue waiters; this bound is only a backstop for a flusher
        // that is not running (a store never started).
        match tokio::time::timeout(timeout + Duration::from_secs(1), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(DurabilityError::ShutDown),
            Err(_) => Err(DurabilityError::FlushTimeout),
        }
    }
}

impl Drop for DurabilityTicket {
    fn drop(&mut self) {
        if self.pending.is_some() && !std::thread::panicking() {
            tracing::error!("a pending durability ticket was dropped: a put path forgot to wait");
            debug_assert!(false, "a pending durability ticket was dropped unawaited");
        }
    }
}

/// The commit-log flusher: when to flush, and the flush itself. Runs on its own thread
/// (`store-flush`); SYNC_FLUSH waiters also make `flush_now` run from shutdown/checkpoints.
pub struct Flusher {
    /// Shared with tickets.
    pub ctl: Arc<FlushControl>,
    mode: FlushDiskType,
    interval: Duration,
    least_bytes: i64,
    /// Store time of the newest record the last flush covered (checkpoint `physicMsgTimestamp`).
    pub flushed_store_ts: AtomicI64,
    inject_failure: AtomicBool,
    paused: AtomicBool,
}

impl Flusher {
    /// A flusher for `cfg`'s `flushDiskType`, intervals and `syncFlushTimeout`.
    pub fn new(cfg: &StoreConfig) -> Self {
        Flusher {
            ctl: Arc::new(FlushControl::new(Duration::from_millis(cfg.sync_flush_timeout))),
            mode: cfg.flush_disk_type,
            interval: Duration::from_millis(cfg.flush_interval_commit_log.max(1)),
            least_bytes: (cfg.flush_commit_log_least_pages * 4096) as i64,
            flushed_store_ts: AtomicI64::new(0),
            inject_failure: AtomicBool::new(false),
            paused: AtomicBool::new(false),
        }
    }

    /// The ticket of a put that ended at `end`: pending under SYNC_FLUSH when the sender waits
    /// for the store (`WAIT` not `false`); otherwise done (under SYNC_FLUSH the flusher is
    /// still nudged so the data goes to disk soon).
    pub fn ticket(&self, wait: bool, end: i64) -> DurabilityTicket {
        if self.mode != FlushDiskType::Sync {
            return DurabilityTicket::done();
        }
        if !wait {
            self.ctl.request(end);
            return DurabilityTicket::done();
        }
        DurabilityTicket::pending(self.ctl.clone(), end)
    }

    /// How long the flusher thread sleeps between rounds.
    pub fn period(&self) -> Duration {
        match self.mode {
            FlushDiskType::Sync => Duration::from_millis(10),
            FlushDiskType::Async => self.interval,
        }
    }

    /// One round of the flusher thread. Returns false to stop the thread (poisoned).
    pub fn round(&self, log: &CommitLog, last_put_ts: i64) -> bool {
        if self.ctl.is_poisoned() {
            return false;
        }
        let (max, flushed) = (log.max_offset(), log.flushed_offset());
        let need = match self.mode {
            FlushDiskType::Sync => max > flushed,
            FlushDiskType::Async => {
                // Least pages or a waiter's request first; once the interval has elapsed
                // (which is when this round runs) whatever is there (thorough flush).
                self.ctl.requested() > flushed || max - flushed >= self.least_bytes || max > flushed
            }
        };
        if need && !self.paused.load(Ordering::Acquire) {
            self.flush_now(log, last_put_ts);
        } else {
            // Expire overdue waiters (a stalled flush never reaches the branch above).
            self.ctl.complete_waiters();
        }
        true
    }

    /// Flush the commit log now; poison on failure. Returns whether it succeeded.
    pub fn flush_now(&self, log: &CommitLog, last_put_ts: i64) -> bool {
        let res = if self.inject_failure.swap(false, Ordering::AcqRel) {
            Err(std::io::Error::other("injected fsync failure"))
        } else {
            log.flush()
        };
        match res {
            Ok(off) => {
                if last_put_ts > 0 {
                    self.flushed_store_ts.fetch_max(last_put_ts, Ordering::AcqRel);
                }
                self.ctl.publish(off);
                true
            }
            Err(e) => {
                tracing::error!(%e, "commit-log fsync failed: poisoning the store");
                self.ctl.poison();
                false
            }
        }
    }

    /// Test hook: the next flush fails as if fsync returned EIO.
    pub fn inject_failure(&self) {
        self.inject_failure.store(true, Ordering::Release);
        self.ctl.waker.wake();
    }

    /// Test hook: hold (or resume) the flusher thread's flushes, to observe that answers wait
    /// for durability.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
        self.ctl.waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_complete_on_flush_poison_truncation_and_timeout() {
        let ctl = Arc::new(FlushControl::new(Duration::from_millis(30)));
        let (tx, rx) = std::sync::mpsc::channel();
        let t = |end: i64| DurabilityTicket::pending(ctl.clone(), end);
        for end in [10, 20, 30] {
            let tx = tx.clone();
            t(end).on_durable(Box::new(move |r| tx.send((end, r)).unwrap()));
        }
        ctl.publish(20);
        let mut got: Vec<_> = rx.try_iter().collect();
        got.sort_by_key(|g| g.0);
        assert_eq!(got, vec![(10, Ok(())), (20, Ok(()))]);
        ctl.truncated(25);
        assert_eq!(rx.try_recv().unwrap(), (30, Err(DurabilityError::Truncated)));
        let tx2 = tx.clone();
        t(40).on_durable(Box::new(move |r| tx2.send((40, r)).unwrap()));
        std::thread::sleep(Duration::from_millis(40));
        ctl.complete_waiters();
        assert_eq!(rx.try_recv().unwrap(), (40, Err(DurabilityError::FlushTimeout)));
        ctl.poison();
        t(50).on_durable(Box::new(move |r| tx.send((50, r)).unwrap()));
        assert_eq!(rx.try_recv().unwrap(), (50, Err(DurabilityError::Poisoned)));
        DurabilityTicket::done().on_durable(Box::new(|r| assert_eq!(r, Ok(()))));
    }
}
