//! Queue selection: round robin with fault avoidance, and key-hash selection for ordered sends.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use mq_common::message::java_hash;
use mq_common::protocol::body::MessageQueue;

/// The writable queues of one topic plus a round-robin cursor (Java `TopicPublishInfo`).
#[derive(Debug)]
pub struct TopicPublishInfo {
    /// Writable queues, sorted by broker name then queue id.
    pub queues: Vec<MessageQueue>,
    /// Whether this was derived from the TBW102 template (the topic is being auto-created).
    pub from_template: bool,
    cursor: AtomicUsize,
}

impl TopicPublishInfo {
    /// Wrap a queue list; the cursor starts at a random place so producers spread out.
    pub fn new(queues: Vec<MessageQueue>, from_template: bool) -> Self {
        TopicPublishInfo {
            queues,
            from_template,
            cursor: AtomicUsize::new(rand::random::<u16>() as usize),
        }
    }

    /// The next queue in round-robin order, skipping `avoid_broker` (the broker that just failed)
    /// and brokers the fault tracker marks as unavailable. Falls back to plain round robin when
    /// every broker is to be avoided (a single-broker cluster must still be tried).
    pub fn select(
        &self,
        avoid_broker: Option<&str>,
        faults: &FaultTracker,
    ) -> Option<MessageQueue> {
        let n = self.queues.len();
        if n == 0 {
            return None;
        }
        for _ in 0..n {
            let i = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
            let mq = &self.queues[i];
            if Some(mq.broker_name.as_str()) != avoid_broker && faults.is_available(&mq.broker_name)
            {
                return Some(mq.clone());
            }
        }
        // Second pass: only avoid the broker that just failed.
        for _ in 0..n {
            let i = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
            if Some(self.queues[i].broker_name.as_str()) != avoid_broker {
                return Some(self.queues[i].clone());
            }
        }
        let i = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
        Some(self.queues[i].clone())
    }
}

/// Brokers that failed recently and are skipped until their back-off expires.
#[derive(Debug)]
pub struct FaultTracker {
    until: DashMap<String, Instant>,
    backoff: Duration,
}

impl FaultTracker {
    /// A tracker that avoids a failed broker for `backoff`.
    pub fn new(backoff: Duration) -> Self {
        FaultTracker { until: DashMap::new(), backoff }
    }

    /// Record a failure of `broker`.
    pub fn mark_failed(&self, broker: &str) {
        if !self.backoff.is_zero() {
            self.until.insert(broker.to_string(), Instant::now() + self.backoff);
        }
    }

    /// Record a success of `broker`.
    pub fn mark_ok(&self, broker: &str) {
        if self.until.contains_key(broker) {
            self.until.remove(broker);
        }
    }

    /// Whether `broker` may be used now.
    pub fn is_available(&self, broker: &str) -> bool {
        match self.until.get(broker) {
            Some(t) => Instant::now() >= *t,
            None => true,
        }
    }
}

/// Chooses a queue for a message, e.g. to keep messages of one key in one queue (ordered).
pub trait MessageQueueSelector: Send + Sync {
    /// Pick one of `queues` (non-empty) for a message with selection argument `arg`.
    fn select(&self, queues: &[MessageQueue], arg: &str) -> MessageQueue;
}

/// Java `SelectMessageQueueByHash`: `abs(hash(arg)) % queues`, with Java's `String.hashCode`, so
/// a Rust and a Java producer put one key into the same queue.
#[derive(Debug, Default, Clone, Copy)]
pub struct SelectByHash;

impl MessageQueueSelector for SelectByHash {
    fn select(&self, queues: &[MessageQueue], arg: &str) -> MessageQueue {
        let h = java_hash(arg);
        // Java: Math.abs(hash) % size; abs(MIN_VALUE) stays negative there, use unsigned_abs.
        let i = h.unsigned_abs() as usize % queues.len();
        queues[i].clone()
    }
}

impl<F> MessageQueueSelector for F
where
    F: Fn(&[MessageQueue], &str) -> MessageQueue + Send + Sync,
{
    fn select(&self, queues: &[MessageQueue], arg: &str) -> MessageQueue {
        self(queues, arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> TopicPublishInfo {
        let qs = ["a", "a", "b", "b"]
            .iter()
            .enumerate()
            .map(|(i, b)| MessageQueue::new("T", *b, i as i32 % 2))
            .collect();
        TopicPublishInfo::new(qs, false)
    }

    #[test]
    fn round_robin_covers_all_queues() {
        let i = info();
        let f = FaultTracker::new(Duration::from_secs(10));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..4 {
            seen.insert(i.select(None, &f).unwrap());
        }
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn avoids_failed_broker() {
        let i = info();
        let f = FaultTracker::new(Duration::from_secs(10));
        for _ in 0..10 {
            assert_eq!(i.select(Some("a"), &f).unwrap().broker_name, "b");
        }
        f.mark_failed("b");
        for _ in 0..10 {
            assert_eq!(i.select(None, &f).unwrap().broker_name, "a");
        }
        // Everything failed: still returns something.
        f.mark_failed("a");
        assert!(i.select(Some("a"), &f).is_some());
        f.mark_ok("a");
        assert!(f.is_available("a"));
        assert!(TopicPublishInfo::new(vec![], false).select(None, &f).is_none());
    }

    #[test]
    fn hash_selector_is_stable_and_java_compatible() {
        let qs: Vec<_> = (0..4).map(|q| MessageQueue::new("T", "a", q)).collect();
        // java_hash("hello") = 99162322 → % 4 = 2
        assert_eq!(SelectByHash.select(&qs, "hello").queue_id, 2);
        assert_eq!(SelectByHash.select(&qs, "polygenelubricants").queue_id, 0);
        let f = |q: &[MessageQueue], _: &str| q[1].clone();
        assert_eq!(f.select(&qs, "x").queue_id, 1);
    }
}
