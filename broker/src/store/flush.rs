//! Flushing: the commit-log flusher thread (ASYNC interval or SYNC group commit) and the
//! durability waiters.
//!
//! Group commit: appends are synchronous on the caller's thread; a sender that needs durability
//! registers "flushed ≥ my end offset" by raising `requested` and waking the flusher, then awaits
//! a `tokio::sync::watch` of the flushed offset. The flusher takes the current end of the log,
//! msyncs everything up to it (one fsync for every append completed before it), and publishes
//! the new flushed offset, releasing all satisfied waiters at once.
//!
//! Callback waiters ([`FlushControl::on_durable`]) are the cheap form for the broker's SYNC_FLUSH
//! sends: no task, timer or watch subscription per message. The flusher thread completes every
//! satisfied callback right after it publishes a flush (and expires overdue ones on each round),
//! so one fsync answers all the sends it covers in one pass.
//!
//! Poisoning: if an msync fails, the kernel may already have dropped the dirty pages, so a retry
//! could report success for data that is gone. The store is poisoned: waiters get an error,
//! later puts are refused, and nothing past the last good flush is ever acknowledged.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

/// Published flush progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushProgress {
    /// commit-log offset up to which data is durable
    pub flushed: i64,
    /// an fsync failed; the store refuses writes
    pub poisoned: bool,
}

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
}

/// Called exactly once with the outcome of a durable wait (on the flusher thread, or on the
/// registering thread when the outcome is already known). Must not block.
pub type DurableCallback = Box<dyn FnOnce(Result<(), DurabilityError>) + Send>;

struct CallbackWaiter {
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

/// Shared state between appenders, waiters and the flusher.
pub struct FlushControl {
    /// Highest offset some waiter needs durable.
    pub requested: AtomicI64,
    /// Wakes the flusher (shared with its thread, which must not keep the store alive).
    pub waker: std::sync::Arc<Waker>,
    tx: watch::Sender<FlushProgress>,
    poisoned: AtomicBool,
    shut_down: AtomicBool,
    callbacks: Mutex<Vec<CallbackWaiter>>,
    /// Number of entries in `callbacks` (lets the flusher skip the lock when there are none).
    callback_count: AtomicI64,
}

impl FlushControl {
    /// New control with `flushed` as the initial durable offset.
    pub fn new(flushed: i64) -> Self {
        let (tx, _) = watch::channel(FlushProgress { flushed, poisoned: false });
        FlushControl {
            requested: AtomicI64::new(flushed),
            waker: Default::default(),
            tx,
            poisoned: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            callbacks: Mutex::new(Vec::new()),
            callback_count: AtomicI64::new(0),
        }
    }

    /// Current progress.
    pub fn progress(&self) -> FlushProgress {
        *self.tx.borrow()
    }

    /// Whether the store is poisoned.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Publish a successful flush up to `flushed`.
    pub fn publish(&self, flushed: i64) {
        self.tx.send_if_modified(|p| {
            if flushed > p.flushed {
                p.flushed = flushed;
                true
            } else {
                false
            }
        });
    }

    /// Poison the store and release every waiter with an error.
    pub fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
        self.tx.send_modify(|p| p.poisoned = true);
        self.complete_callbacks();
    }

    /// Mark shut down (waiters not yet satisfied fail with `ShutDown`).
    pub fn mark_shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
        self.tx.send_modify(|_| {});
        self.complete_callbacks();
    }

    /// Call `cb` once `offset` is durable (`Ok`), or with the error if the store is poisoned,
    /// shuts down, or `timeout` passes first. Asks the flusher to flush.
    pub fn on_durable(&self, offset: i64, timeout: Duration, cb: DurableCallback) {
        let p = self.progress();
        if p.poisoned {
            return cb(Err(DurabilityError::Poisoned));
        }
        if p.flushed >= offset {
            return cb(Ok(()));
        }
        self.callbacks.lock().push(CallbackWaiter {
            end: offset,
            deadline: Instant::now() + timeout,
            cb,
        });
        self.callback_count.fetch_add(1, Ordering::AcqRel);
        self.request(offset);
        // The flusher may have published (and drained) between our check and the push; then
        // nobody would look at this waiter until its next round. Look again ourselves.
        let p = self.progress();
        if p.poisoned || p.flushed >= offset || self.shut_down.load(Ordering::Acquire) {
            self.complete_callbacks();
        }
    }

    /// Complete every callback waiter whose outcome is known: flushed, poisoned, shut down or
    /// overdue. Callbacks run outside the lock.
    pub fn complete_callbacks(&self) {
        if self.callback_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let p = self.progress();
        let shut = self.shut_down.load(Ordering::Acquire);
        let now = Instant::now();
        let mut done = Vec::new();
        {
            let mut w = self.callbacks.lock();
            let mut i = 0;
            while i < w.len() {
                let x = &w[i];
                if p.poisoned || x.end <= p.flushed || shut || x.deadline <= now {
                    done.push(w.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            self.callback_count.store(w.len() as i64, Ordering::Release);
        }
        for x in done {
            let r = if p.poisoned {
                Err(DurabilityError::Poisoned)
            } else if x.end <= p.flushed {
                Ok(())
            } else if shut {
                Err(DurabilityError::ShutDown)
            } else {
                Err(DurabilityError::FlushTimeout)
            };
            (x.cb)(r);
        }
    }

    /// Ask the flusher to make `offset` durable.
    pub fn request(&self, offset: i64) {
        if self.requested.fetch_max(offset, Ordering::AcqRel) < offset {
            self.waker.wake();
        }
    }

    /// Wait until `offset` is durable, up to `timeout`.
    pub async fn wait_durable(
        &self,
        offset: i64,
        timeout: Duration,
    ) -> Result<(), DurabilityError> {
        let check = |p: &FlushProgress| -> Option<Result<(), DurabilityError>> {
            if p.poisoned {
                Some(Err(DurabilityError::Poisoned))
            } else if p.flushed >= offset {
                Some(Ok(()))
            } else {
                None
            }
        };
        if let Some(r) = check(&self.tx.borrow()) {
            return r;
        }
        self.request(offset);
        let mut rx = self.tx.subscribe();
        let shut = &self.shut_down;
        let res = tokio::time::timeout(timeout, async {
            match rx.wait_for(|p| check(p).is_some() || shut.load(Ordering::Acquire)).await {
                Ok(p) => check(&p).unwrap_or(Err(DurabilityError::ShutDown)),
                Err(_) => Err(DurabilityError::ShutDown),
            }
        })
        .await;
        res.unwrap_or(Err(DurabilityError::FlushTimeout))
    }
}
