//! Observer state: the DM block table and the window of message ids already published.
//!
//! Both are rebuilt from `chat_inbox` (the follower) and updated directly by the processing
//! path. Each room remembers the inbox offset of the last policy event applied to it, so the
//! follower replaying an older block never overrides a newer unblock the owner already applied.

use std::collections::{HashMap, HashSet};

use crate::dedupe::SeenSet;

/// Blocks and dedupe window.
#[derive(Debug)]
pub struct Policy {
    /// rid → users who blocked the other party of that DM.
    blocks: HashMap<String, HashSet<String>>,
    /// rid → inbox offset of the last policy event applied.
    applied: HashMap<String, i64>,
    seen: SeenSet,
}

impl Policy {
    /// Empty state with a dedupe window of `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        Policy { blocks: HashMap::new(), applied: HashMap::new(), seen: SeenSet::new(capacity) }
    }

    /// Apply a block (`on`) or unblock stored at inbox `offset` (`None`: apply unconditionally).
    /// Returns false when a newer event was already applied.
    pub fn apply_block(&mut self, rid: &str, blocker: &str, on: bool, offset: Option<i64>) -> bool {
        if let Some(o) = offset {
            if self.applied.get(rid).is_some_and(|a| *a >= o) {
                return false;
            }
            self.applied.insert(rid.to_string(), o);
        }
        let set = self.blocks.entry(rid.to_string()).or_default();
        if on {
            set.insert(blocker.to_string());
        } else {
            set.remove(blocker);
        }
        true
    }

    /// Whether `blocker` blocked the other party of `rid`.
    pub fn is_blocked_by(&self, rid: &str, blocker: &str) -> bool {
        self.blocks.get(rid).is_some_and(|s| s.contains(blocker))
    }

    /// Remember that `id` was published.
    pub fn mark_seen(&mut self, id: &str) {
        self.seen.insert(id);
    }

    /// Whether `id` was published recently.
    pub fn seen(&self, id: &str) -> bool {
        self.seen.contains(id)
    }

    /// The non-empty entries of the block table (for `chat_policy_state`).
    pub fn blocks_snapshot(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.blocks
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(rid, s)| {
                let mut v: Vec<String> = s.iter().cloned().collect();
                v.sort();
                (rid.clone(), v)
            })
            .collect()
    }

    /// Load a snapshot's table (before any replay).
    pub fn restore(&mut self, blocks: &std::collections::BTreeMap<String, Vec<String>>) {
        for (rid, blockers) in blocks {
            self.blocks.insert(rid.clone(), blockers.iter().cloned().collect());
        }
    }

    /// Number of rooms with at least one block.
    pub fn block_count(&self) -> usize {
        self.blocks.values().filter(|s| !s.is_empty()).count()
    }

    /// Ids in the dedupe window.
    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Policy;

    #[test]
    fn stale_replay_does_not_override() {
        let mut p = Policy::new(10);
        assert!(p.apply_block("d_a_b", "a", true, Some(5)));
        assert!(p.apply_block("d_a_b", "a", false, Some(6)));
        // The follower reads the block at offset 5 again: ignored.
        assert!(!p.apply_block("d_a_b", "a", true, Some(5)));
        assert!(!p.is_blocked_by("d_a_b", "a"));
        p.apply_block("d_a_c", "c", true, None);
        let snap = p.blocks_snapshot();
        assert_eq!(snap.len(), 1);
        let mut q = Policy::new(10);
        q.restore(&snap);
        assert!(q.is_blocked_by("d_a_c", "c") && !q.is_blocked_by("d_a_b", "a"));
        p.mark_seen("x");
        assert!(p.seen("x") && !p.seen("y"));
    }
}
