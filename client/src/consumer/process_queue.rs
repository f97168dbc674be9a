//! The client-side state of one assigned queue (Java `ProcessQueue`): messages pulled but not
//! yet consumed, flow-control counters, the drop flag, and the orderly lock state.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use mq_common::message::MessageExt;
use parking_lot::Mutex;

/// Messages of one queue between pull and acknowledgement.
#[derive(Debug, Default)]
pub struct ProcessQueue {
    inner: Mutex<Inner>,
    dropped: AtomicBool,
    locked: AtomicBool,
    last_lock: Mutex<Option<Instant>>,
    /// Next offset to pull.
    pub next_offset: AtomicI64,
    /// Replica the broker suggested for the next pull (0 = master).
    pub suggested_broker: AtomicI64,
    /// Serializes orderly consumption of this queue.
    pub consume_lock: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Inner {
    msgs: BTreeMap<i64, Cached>,
    bytes: usize,
    /// Highest offset ever put (the commit point when the cache drains).
    max_put: i64,
    /// Orderly: messages taken out for consumption but not yet committed.
    consuming: BTreeMap<i64, MessageExt>,
}

/// A cached message, or what is kept of one already handed to a handler.
#[derive(Debug)]
enum Cached {
    /// boxed: concurrent mode keeps only `Len`s, which should not take a message's room
    Msg(Box<MessageExt>),
    /// body length
    Len(usize),
}

impl Cached {
    fn len(&self) -> usize {
        match self {
            Cached::Msg(m) => m.body.len(),
            Cached::Len(n) => *n,
        }
    }
}

impl Inner {
    fn add(&mut self, off: i64, c: Cached, len: usize) {
        if self.msgs.insert(off, c).is_none() {
            self.bytes += len;
        }
        self.max_put = self.max_put.max(off);
    }
}

impl ProcessQueue {
    /// A queue starting at `offset`.
    pub fn new(offset: i64) -> Self {
        let pq = ProcessQueue::default();
        pq.next_offset.store(offset, Ordering::SeqCst);
        pq.inner.lock().max_put = -1;
        pq
    }

    /// Cache freshly pulled messages (already filtered) for orderly consumption, which takes
    /// them from here ([`ProcessQueue::take_in_order`]).
    pub fn put(&self, msgs: Vec<MessageExt>) {
        let mut g = self.inner.lock();
        for m in msgs {
            let (off, len) = (m.queue_offset, m.body.len());
            g.add(off, Cached::Msg(Box::new(m)), len);
        }
    }

    /// Track freshly pulled messages that go straight to the handlers (concurrent
    /// consumption): only their offsets and sizes are kept, for the commit point and flow
    /// control (a copy of every message was most of what caching cost).
    pub fn track(&self, msgs: &[MessageExt]) {
        let mut g = self.inner.lock();
        for m in msgs {
            g.add(m.queue_offset, Cached::Len(m.body.len()), m.body.len());
        }
    }

    /// Remove acknowledged messages and return the offset that is now safe to commit: the
    /// smallest offset still cached, or one past the highest ever put when the cache is empty.
    /// `None` if nothing was ever cached.
    pub fn remove(&self, offsets: &[i64]) -> Option<i64> {
        let mut g = self.inner.lock();
        for o in offsets {
            if let Some(c) = g.msgs.remove(o) {
                g.bytes -= c.len();
            }
        }
        Self::commit_point(&g)
    }

    fn commit_point(g: &Inner) -> Option<i64> {
        match (g.msgs.keys().next(), g.consuming.keys().next()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (Some(a), None) | (None, Some(a)) => Some(*a),
            (None, None) if g.max_put >= 0 => Some(g.max_put + 1),
            _ => None,
        }
    }

    /// Number of cached messages.
    pub fn cached_count(&self) -> usize {
        let g = self.inner.lock();
        g.msgs.len() + g.consuming.len()
    }

    /// Bytes of cached bodies.
    pub fn cached_bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.cached_count() == 0
    }

    /// Orderly: take the first `n` messages in offset order for consumption.
    pub fn take_in_order(&self, n: usize) -> Vec<MessageExt> {
        let mut g = self.inner.lock();
        let mut out = Vec::new();
        while out.len() < n {
            let Some((o, c)) = g.msgs.pop_first() else { break };
            g.bytes -= c.len();
            if let Cached::Msg(m) = c {
                g.consuming.insert(o, (*m).clone());
                out.push(*m);
            }
        }
        out
    }

    /// Orderly: the taken messages were consumed; returns the offset to commit.
    pub fn commit_taken(&self) -> Option<i64> {
        let mut g = self.inner.lock();
        g.consuming.clear();
        Self::commit_point(&g)
    }

    /// Orderly: put the taken messages back (consumption failed, retry later).
    pub fn rollback_taken(&self) {
        let mut g = self.inner.lock();
        let taken = std::mem::take(&mut g.consuming);
        for (o, m) in taken {
            g.bytes += m.body.len();
            g.msgs.insert(o, Cached::Msg(Box::new(m)));
        }
    }

    /// Drop everything (queue reassigned or reset).
    pub fn clear(&self) {
        let mut g = self.inner.lock();
        g.msgs.clear();
        g.consuming.clear();
        g.bytes = 0;
    }

    /// Mark as no longer ours: its pull loop stops, late acknowledgements are not committed.
    pub fn set_dropped(&self) {
        self.dropped.store(true, Ordering::SeqCst);
    }

    /// Whether the queue was dropped.
    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Orderly: record the broker lock result.
    pub fn set_locked(&self, locked: bool) {
        self.locked.store(locked, Ordering::SeqCst);
        if locked {
            *self.last_lock.lock() = Some(Instant::now());
        }
    }

    /// Orderly: whether we hold a lock that is not older than `max_age` (the broker forgets
    /// locks after 60 s without refresh, so a stale lock must not be trusted).
    pub fn is_locked(&self, max_age: Duration) -> bool {
        self.locked.load(Ordering::SeqCst)
            && self.last_lock.lock().map(|t| t.elapsed() < max_age).unwrap_or(false)
    }

    /// (min, max) cached offsets, for running-info reports.
    pub fn offset_span(&self) -> (i64, i64) {
        let g = self.inner.lock();
        (g.msgs.keys().next().copied().unwrap_or(-1), g.msgs.keys().last().copied().unwrap_or(-1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(off: i64) -> MessageExt {
        MessageExt {
            store_size: 0,
            magic: 0,
            body_crc: 0,
            queue_id: 0,
            flag: 0,
            queue_offset: off,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_timestamp: 0,
            store_host: "127.0.0.1:1".parse().unwrap(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: Bytes::from_static(b"abc"),
            topic: "T".into(),
            properties: Default::default(),
            offset_msg_id: String::new(),
        }
    }

    #[test]
    fn commit_point_is_lowest_unacked() {
        let pq = ProcessQueue::new(10);
        assert_eq!(pq.remove(&[]), None);
        pq.put(vec![msg(10), msg(11), msg(12)]);
        assert_eq!(pq.cached_bytes(), 9);
        assert_eq!(pq.remove(&[11]), Some(10));
        assert_eq!(pq.remove(&[10]), Some(12));
        assert_eq!(pq.remove(&[12]), Some(13));
        assert!(pq.is_empty());
    }

    #[test]
    fn tracked_messages_count_for_flow_control_and_the_commit_point() {
        let pq = ProcessQueue::new(0);
        pq.track(&[msg(5), msg(6), msg(7)]);
        assert_eq!((pq.cached_count(), pq.cached_bytes()), (3, 9));
        assert_eq!(pq.offset_span(), (5, 7));
        assert_eq!(pq.remove(&[7, 5]), Some(6));
        assert_eq!(pq.remove(&[6]), Some(8));
        assert_eq!((pq.cached_count(), pq.cached_bytes()), (0, 0));
    }

    #[test]
    fn orderly_take_commit_rollback() {
        let pq = ProcessQueue::new(0);
        pq.put(vec![msg(2), msg(0), msg(1)]);
        let t = pq.take_in_order(1);
        assert_eq!(t[0].queue_offset, 0);
        pq.rollback_taken();
        assert_eq!(pq.take_in_order(1)[0].queue_offset, 0);
        assert_eq!(pq.commit_taken(), Some(1));
        assert_eq!(pq.take_in_order(5).len(), 2);
        assert_eq!(pq.commit_taken(), Some(3));
        pq.set_locked(true);
        assert!(pq.is_locked(Duration::from_secs(30)));
        assert!(!pq.is_locked(Duration::ZERO));
    }
}
