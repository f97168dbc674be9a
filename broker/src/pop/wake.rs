//! Long-polling wake-ups for POP receives: a waiter registers interest in topics (the topic
//! and its POP retry topic) and is woken when a message arrives in any queue of one of them,
//! or when an in-flight message there becomes deliverable again. The arrival hook on the
//! append path is one atomic load while nobody waits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::Notify;

/// Per-topic notifiers.
#[derive(Default)]
pub struct PopWake {
    waiters: AtomicUsize,
    topics: DashMap<String, Arc<Notify>>,
}

/// Keeps the waiter count up while a receive waits.
pub struct WaitGuard<'a>(&'a PopWake);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PopWake {
    /// The notifier of `topic`.
    pub fn notifier(&self, topic: &str) -> Arc<Notify> {
        if let Some(n) = self.topics.get(topic) {
            return n.clone();
        }
        self.topics.entry(topic.to_string()).or_default().clone()
    }

    /// Count a waiter until the guard drops (enables [`PopWake::wake`]).
    pub fn waiting(&self) -> WaitGuard<'_> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        WaitGuard(self)
    }

    /// Something became deliverable in `topic`.
    pub fn wake(&self, topic: &str) {
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        if let Some(n) = self.topics.get(topic) {
            n.notify_waiters();
        }
    }

    /// Wake everyone (shutdown).
    pub fn wake_all(&self) {
        for n in self.topics.iter() {
            n.notify_waiters();
        }
    }
}
