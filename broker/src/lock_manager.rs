//! Orderly-consumption queue locks (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ, spec §2.8): a queue is
//! held by one (group, clientId) until it unlocks or stops refreshing for `lockMaxLiveTime`.

use std::collections::{BTreeSet, HashMap};

use dashmap::DashMap;
use mq_common::protocol::body::MessageQueue;

struct Lock {
    client_id: String,
    last: i64,
}

/// Locks per group.
pub struct LockManager {
    groups: DashMap<String, HashMap<MessageQueue, Lock>>,
    max_live_ms: i64,
}

impl LockManager {
    /// New manager; Java's expiry is 60 s.
    pub fn new(max_live_ms: i64) -> Self {
        LockManager { groups: DashMap::new(), max_live_ms }
    }

    /// Lock what is free, expired or already ours; returns the set now held by `client_id`.
    pub fn try_lock(
        &self,
        group: &str,
        client_id: &str,
        mqs: &BTreeSet<MessageQueue>,
        now: i64,
    ) -> BTreeSet<MessageQueue> {
        let mut g = self.groups.entry(group.to_string()).or_default();
        let mut ok = BTreeSet::new();
        for mq in mqs {
            match g.get_mut(mq) {
                Some(l) if l.client_id == client_id => {
                    l.last = now;
                    ok.insert(mq.clone());
                }
                Some(l) if now - l.last > self.max_live_ms => {
                    tracing::info!(group, queue = ?mq, old = %l.client_id, new = client_id, "queue lock expired, reassigned");
                    l.client_id = client_id.to_string();
                    l.last = now;
                    ok.insert(mq.clone());
                }
                Some(_) => {}
                None => {
                    g.insert(mq.clone(), Lock { client_id: client_id.to_string(), last: now });
                    ok.insert(mq.clone());
                }
            }
        }
        ok
    }

    /// Release the given queues if held by `client_id`.
    pub fn unlock(&self, group: &str, client_id: &str, mqs: &BTreeSet<MessageQueue>) {
        if let Some(mut g) = self.groups.get_mut(group) {
            for mq in mqs {
                if g.get(mq).is_some_and(|l| l.client_id == client_id) {
                    g.remove(mq);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_semantics() {
        let m = LockManager::new(60_000);
        let q: BTreeSet<_> =
            [MessageQueue::new("T", "b", 0), MessageQueue::new("T", "b", 1)].into();
        assert_eq!(m.try_lock("G", "c1", &q, 0).len(), 2);
        assert_eq!(m.try_lock("G", "c2", &q, 1000).len(), 0);
        assert_eq!(m.try_lock("G", "c2", &q, 70_000).len(), 2);
        m.unlock("G", "c2", &q);
        assert_eq!(m.try_lock("G", "c1", &q, 70_001).len(), 2);
    }
}
