//! Long polling (spec §2.4): pulls that found nothing are parked per (topic, queue) and woken
//! when a matching message arrives in that queue, or when their suspend time is up. The
//! arrival hook runs on the append path, so it is a single atomic load when nothing waits.
//!
//! Each connection may hold a bounded number of parked pulls ([`PullHold::reserve`]): a
//! parked pull costs a task and its request (~2 KB), and nothing else bounds how many one
//! client parks (issue 16, R4: 200,000 on one connection took 385 MB).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::oneshot;

struct Waiter {
    id: u64,
    offset: i64,
    codes: Option<Arc<BTreeSet<i32>>>,
    tx: oneshot::Sender<()>,
}

/// Parked pull requests.
#[derive(Default)]
pub struct PullHold {
    waiting: DashMap<String, HashMap<i32, Vec<Waiter>>>,
    parked: AtomicUsize,
    next_id: AtomicU64,
    /// Parked pulls per connection id.
    per_conn: Arc<DashMap<u64, usize>>,
}

/// One connection's claim on a parked-pull slot; dropping it gives the slot back.
pub struct ParkSlot {
    conn: u64,
    per_conn: Arc<DashMap<u64, usize>>,
}

impl Drop for ParkSlot {
    fn drop(&mut self) {
        if let dashmap::Entry::Occupied(mut e) = self.per_conn.entry(self.conn) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// A parked pull: await `rx`, then call [`PullHold::forget`] with `id` if it timed out.
pub struct Parked {
    /// Waiter id.
    pub id: u64,
    /// Fires on a matching arrival (or on shutdown).
    pub rx: oneshot::Receiver<()>,
}

impl PullHold {
    /// Claim a parked-pull slot for connection `conn`; `None` when it already holds `max`.
    pub fn reserve(&self, conn: u64, max: usize) -> Option<ParkSlot> {
        let mut n = self.per_conn.entry(conn).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ParkSlot { conn, per_conn: self.per_conn.clone() })
    }

    /// Parked pulls of connection `conn`.
    pub fn parked_by(&self, conn: u64) -> usize {
        self.per_conn.get(&conn).map(|n| *n).unwrap_or(0)
    }

    /// Park a pull waiting for offset ≥ `offset` in (topic, queue). `codes` = tag filter.
    pub fn park(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        codes: Option<Arc<BTreeSet<i32>>>,
    ) -> Parked {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.waiting
            .entry(topic.to_string())
            .or_default()
            .entry(queue_id)
            .or_default()
            .push(Waiter { id, offset, codes, tx });
        self.parked.fetch_add(1, Ordering::SeqCst);
        Parked { id, rx }
    }

    /// Wake one waiter now (a message arrived between its read and its parking).
    pub fn wake(&self, topic: &str, queue_id: i32, id: u64) {
        self.remove(topic, queue_id, id, true);
    }

    /// Remove a waiter that timed out.
    pub fn forget(&self, topic: &str, queue_id: i32, id: u64) {
        self.remove(topic, queue_id, id, false);
    }

    fn remove(&self, topic: &str, queue_id: i32, id: u64, fire: bool) {
        if let Some(mut t) = self.waiting.get_mut(topic) {
            if let Some(v) = t.get_mut(&queue_id) {
                if let Some(pos) = v.iter().position(|w| w.id == id) {
                    let w = v.swap_remove(pos);
                    self.parked.fetch_sub(1, Ordering::SeqCst);
                    if fire {
                        let _ = w.tx.send(());
                    }
                }
                if v.is_empty() {
                    t.remove(&queue_id);
                }
            }
        }
    }

    /// A message was dispatched to (topic, queue) at `offset` with `tags_code`.
    pub fn on_arrival(&self, topic: &str, queue_id: i32, offset: i64, tags_code: i64) {
        if self.parked.load(Ordering::SeqCst) == 0 {
            return;
        }
        let Some(mut t) = self.waiting.get_mut(topic) else { return };
        let Some(v) = t.get_mut(&queue_id) else { return };
        let before = v.len();
        let mut keep = Vec::with_capacity(v.len());
        for w in v.drain(..) {
            let matches = w.codes.as_ref().is_none_or(|c| c.contains(&(tags_code as i32)));
            if offset >= w.offset && matches {
                let _ = w.tx.send(());
            } else {
                keep.push(w);
            }
        }
        self.parked.fetch_sub(before - keep.len(), Ordering::SeqCst);
        *v = keep;
    }

    /// Wake every parked pull (shutdown: they answer with what they have).
    pub fn wake_all(&self) {
        for mut t in self.waiting.iter_mut() {
            for (_, v) in t.iter_mut() {
                self.parked.fetch_sub(v.len(), Ordering::SeqCst);
                for w in v.drain(..) {
                    let _ = w.tx.send(());
                }
            }
        }
    }

    /// Number of parked pulls.
    pub fn parked(&self) -> usize {
        self.parked.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_connection_and_given_back() {
        let h = PullHold::default();
        let a: Vec<ParkSlot> = (0..3).map(|_| h.reserve(1, 3).expect("slot")).collect();
        assert!(h.reserve(1, 3).is_none(), "a 4th pull of connection 1 is refused");
        let b = h.reserve(2, 3).expect("other connections are not affected");
        assert_eq!(h.parked_by(1), 3);
        drop(a);
        assert_eq!(h.parked_by(1), 0);
        assert!(h.reserve(1, 3).is_some());
        drop(b);
        assert!(h.per_conn.is_empty(), "{:?}", h.per_conn);
    }
}
