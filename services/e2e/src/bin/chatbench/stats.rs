//! What the load generator measures: deliveries (deduplicated per message and recipient) with
//! their latency from the *scheduled* send time, send outcomes, presence events, logins.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// Counters and histograms shared by every user task.
pub struct Stats {
    inner: Mutex<Deliveries>,
    /// `sendMessage` calls answered with a result.
    pub sent_ok: AtomicU64,
    /// `sendMessage` calls answered with an error.
    pub sent_err: AtomicU64,
    /// Recipient pushes expected (DM: 1, room: members − sender).
    pub expected: AtomicU64,
    /// `stream-user-presence` events received.
    pub presence_events: AtomicU64,
    /// Sockets closed by the gateway (not by us).
    pub closed_by_server: AtomicU64,
    /// Churn reconnect time (connect + login + subscriptions), µs.
    pub relogin: Mutex<Histogram<u64>>,
    /// Logins that failed (retried).
    pub login_errors: AtomicU64,
}

struct Deliveries {
    seen: HashSet<(u64, u32)>,
    latency_us: Histogram<u64>,
    dupes: u64,
}

impl Stats {
    /// Empty.
    pub fn new() -> Stats {
        Stats {
            inner: Mutex::new(Deliveries {
                seen: HashSet::new(),
                latency_us: Histogram::new(3).expect("histogram"),
                dupes: 0,
            }),
            sent_ok: AtomicU64::new(0),
            sent_err: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            presence_events: AtomicU64::new(0),
            closed_by_server: AtomicU64::new(0),
            relogin: Mutex::new(Histogram::new(3).expect("histogram")),
            login_errors: AtomicU64::new(0),
        }
    }

    /// Message `seq` reached user `user` `latency` after its scheduled send time.
    pub fn delivered(&self, seq: u64, user: u32, latency: Duration) {
        let mut d = self.inner.lock();
        if d.seen.insert((seq, user)) {
            // `record` grows the histogram (auto-resize); `saturating_record` would clamp to its
            // initial 2 µs range.
            let _ = d.latency_us.record(latency.as_micros().max(1) as u64);
        } else {
            d.dupes += 1;
        }
    }

    /// Distinct deliveries so far.
    pub fn delivered_count(&self) -> u64 {
        self.inner.lock().seen.len() as u64
    }

    /// `(distinct deliveries, raw duplicates, latency histogram)`.
    pub fn snapshot(&self) -> (u64, u64, Histogram<u64>) {
        let d = self.inner.lock();
        (d.seen.len() as u64, d.dupes, d.latency_us.clone())
    }

    /// Add one to `c`.
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Read `c`.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// `p50=… p99=… p999=… max=…` in ms.
pub fn quantiles(h: &Histogram<u64>) -> String {
    let ms = |v: u64| v as f64 / 1000.0;
    format!(
        "p50={:.1}ms p99={:.1}ms p999={:.1}ms max={:.1}ms",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.value_at_quantile(0.999)),
        ms(h.max())
    )
}
