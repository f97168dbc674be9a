//! A bounded "seen recently" set of ids (FIFO eviction), used by the observer (by client
//! message id, before publishing) and the gateway (before pushing to sockets).

use std::collections::{HashSet, VecDeque};

/// Remembers the last `capacity` distinct ids.
#[derive(Debug)]
pub struct SeenSet {
    set: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl SeenSet {
    /// An empty set remembering up to `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        SeenSet { set: HashSet::new(), order: VecDeque::new(), capacity: capacity.max(1) }
    }

    /// Whether `id` was inserted and not yet evicted.
    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// Insert `id`; returns false if it was already there.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(id.to_string());
        self.order.push_back(id.to_string());
        true
    }

    /// Number of ids remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::SeenSet;

    #[test]
    fn evicts_oldest() {
        let mut s = SeenSet::new(2);
        assert!(s.insert("a") && s.insert("b"));
        assert!(!s.insert("a"));
        assert!(s.insert("c"));
        assert!(!s.contains("a") && s.contains("b") && s.contains("c"));
        assert_eq!(s.len(), 2);
    }
}
