//! Named counters rendered in the Prometheus text format at `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// A set of counters and gauges keyed by their full name (with labels), e.g.
/// `chat_observer_dropped_total{reason="blocked"}`.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<BTreeMap<String, Arc<AtomicI64>>>>,
}

impl Metrics {
    /// The counter called `name` (created at 0).
    pub fn get(&self, name: &str) -> Arc<AtomicI64> {
        self.inner.lock().entry(name.to_string()).or_default().clone()
    }

    /// Add `n` to `name`.
    pub fn add(&self, name: &str, n: i64) {
        self.get(name).fetch_add(n, Ordering::Relaxed);
    }

    /// Add 1 to `name`.
    pub fn inc(&self, name: &str) {
        self.add(name, 1);
    }

    /// Set a gauge.
    pub fn set(&self, name: &str, v: i64) {
        self.get(name).store(v, Ordering::Relaxed);
    }

    /// Current value.
    pub fn value(&self, name: &str) -> i64 {
        self.get(name).load(Ordering::Relaxed)
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (k, v) in self.inner.lock().iter() {
            out.push_str(&format!("{k} {}\n", v.load(Ordering::Relaxed)));
        }
        out
    }
}
