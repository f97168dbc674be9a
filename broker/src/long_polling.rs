//! Long polling (spec §2.4): pulls that found nothing are parked per (topic, queue) and woken
//! when a matching message arrives in that queue, or when their suspend time is up. The
//! arrival hook runs on the append path, so it is a single atomic load when nothing waits.

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
}

/// A parked pull: await `rx`, then call [`PullHold::forget`] with `id` if it timed out.
pub struct Parked {
    /// Waiter id.
    pub id: u64,
    /// Fires on a matching arrival (or on shutdown).
    pub rx: oneshot::Receiver<()>,
}

impl PullHold {
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
