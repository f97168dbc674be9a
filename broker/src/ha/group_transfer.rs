//! SYNC_MASTER waits (Java's GroupTransferService, docs/ha-protocol.md §5): a send whose
//! record ends at `end` is answered once some slave has acknowledged `end`, or with
//! FLUSH_SLAVE_TIMEOUT after `slaveTimeout`. Waits are callbacks in one list, completed by the
//! connection that reads the acknowledgement and expired by one ticker task: no task,
//! thread or timer per send.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

/// Called once: `true` when a slave holds the bytes, `false` on timeout or shutdown.
pub type ReplicaCallback = Box<dyn FnOnce(bool) + Send>;

struct Waiter {
    end: i64,
    deadline: Instant,
    cb: ReplicaCallback,
}

/// Pending SYNC_MASTER waits and the best acknowledged offset.
#[derive(Default)]
pub struct GroupTransfer {
    /// Java's `push2SlaveMaxOffset`: the highest offset any slave acknowledged (never falls).
    acked: AtomicI64,
    waiters: Mutex<Vec<Waiter>>,
    /// Entries in `waiters` (lets the ack path skip the lock when nobody waits).
    count: AtomicUsize,
}

impl GroupTransfer {
    /// The highest offset any slave acknowledged.
    pub fn acked(&self) -> i64 {
        self.acked.load(Ordering::Acquire)
    }

    /// Call `cb(true)` once a slave acknowledged `end` (at once if one has), `cb(false)` at
    /// `deadline`.
    pub fn wait(&self, end: i64, deadline: Instant, cb: ReplicaCallback) {
        if self.acked() >= end {
            return cb(true);
        }
        let mut w = self.waiters.lock();
        // Re-check under the lock: an ack that landed in between completes nobody else.
        if self.acked() >= end {
            drop(w);
            return cb(true);
        }
        w.push(Waiter { end, deadline, cb });
        self.count.fetch_add(1, Ordering::Release);
    }

    /// A slave acknowledged `offset`: raise the best offset and complete the waits it covers.
    pub fn on_ack(&self, offset: i64) {
        let prev = self.acked.fetch_max(offset, Ordering::AcqRel);
        if offset <= prev || self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        self.complete(|w| (w.end <= offset).then_some(true));
    }

    /// Forget the acknowledged offset (a replica that becomes master again: acknowledgements
    /// of its earlier term say nothing about its log now).
    pub fn reset(&self) {
        self.acked.store(-1, Ordering::Release);
    }

    /// Fail the waits whose deadline passed (the ticker calls this).
    pub fn expire(&self, now: Instant) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let acked = self.acked();
        self.complete(|w| {
            if w.end <= acked {
                Some(true)
            } else {
                (w.deadline <= now).then_some(false)
            }
        });
    }

    /// Fail every wait (shutdown).
    pub fn fail_all(&self) {
        self.complete(|_| Some(false));
    }

    /// Pending waits.
    pub fn pending(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    fn complete(&self, decide: impl Fn(&Waiter) -> Option<bool>) {
        let mut done = Vec::new();
        {
            let mut w = self.waiters.lock();
            let mut i = 0;
            while i < w.len() {
                match decide(&w[i]) {
                    Some(ok) => done.push((w.swap_remove(i), ok)),
                    None => i += 1,
                }
            }
            self.count.store(w.len(), Ordering::Release);
        }
        // Callbacks run outside the lock (they answer clients).
        for (x, ok) in done {
            (x.cb)(ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    type Log = Arc<Mutex<Vec<(i64, bool)>>>;

    fn recorder() -> (Log, impl Fn(i64) -> ReplicaCallback) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        (log, move |tag| {
            let l = l.clone();
            Box::new(move |ok| l.lock().push((tag, ok)))
        })
    }

    #[test]
    fn acks_complete_covered_waits_and_deadlines_fail_the_rest() {
        let g = GroupTransfer::default();
        let (log, cb) = recorder();
        let now = Instant::now();
        g.wait(100, now + Duration::from_secs(60), cb(100));
        g.wait(200, now + Duration::from_secs(60), cb(200));
        g.wait(300, now + Duration::from_millis(1), cb(300));
        assert_eq!(g.pending(), 3);
        g.on_ack(150);
        assert_eq!(*log.lock(), vec![(100, true)]);
        g.on_ack(120); // a lower ack changes nothing
        g.expire(now + Duration::from_millis(5));
        assert_eq!(*log.lock(), vec![(100, true), (300, false)]);
        g.on_ack(200);
        assert_eq!(g.pending(), 0);
        assert_eq!(log.lock().last(), Some(&(200, true)));
        g.wait(50, now, cb(50)); // already acknowledged: at once
        assert_eq!(log.lock().last(), Some(&(50, true)));
        assert_eq!(g.acked(), 200);
    }
}
