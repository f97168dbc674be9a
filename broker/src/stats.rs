//! Broker counters for GET_BROKER_RUNTIME_INFO: totals since boot/today and TPS over the last
//! sampling window (a background task calls [`BrokerStats::sample`] every second).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use parking_lot::Mutex;

/// Messages a consumer group pulled: running total and the rate over the last 10 s.
#[derive(Default)]
struct GroupGets {
    total: AtomicU64,
    /// (ms, total) samples, last 11.
    samples: Mutex<VecDeque<(i64, u64)>>,
}

/// Counters.
#[derive(Default)]
pub struct BrokerStats {
    /// Messages stored.
    pub put_msgs: AtomicU64,
    /// Bytes stored (bodies).
    pub put_bytes: AtomicU64,
    /// Messages returned by pulls.
    pub get_msgs: AtomicU64,
    /// Bytes returned by pulls.
    pub get_bytes: AtomicU64,
    /// Failed puts.
    pub put_failures: AtomicU64,
    /// Samples: (ms, put_msgs, get_msgs, get_bytes), last 601 (10 minutes).
    samples: Mutex<VecDeque<(i64, u64, u64, u64)>>,
    /// (day number, put, get) at the start of today.
    today_base: Mutex<(i64, u64, u64)>,
    /// Per consumer group pulled messages (GET_CONSUME_STATS consumeTps).
    group_gets: DashMap<String, GroupGets>,
}

impl BrokerStats {
    /// Count messages a group pulled (no allocation once the group is known).
    pub fn add_group_gets(&self, group: &str, n: u64) {
        if let Some(g) = self.group_gets.get(group) {
            g.total.fetch_add(n, Ordering::Relaxed);
            return;
        }
        self.group_gets.entry(group.to_string()).or_default().total.fetch_add(n, Ordering::Relaxed);
    }

    /// Messages/s a group pulled over the last ~10 s.
    pub fn group_tps(&self, group: &str) -> f64 {
        let Some(g) = self.group_gets.get(group) else { return 0.0 };
        let s = g.samples.lock();
        match (s.front(), s.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) as f64 * 1000.0 / (b.0 - a.0) as f64,
            _ => 0.0,
        }
    }

    /// Take a sample (once per second).
    pub fn sample(&self, now_ms: i64) {
        for g in self.group_gets.iter() {
            let mut s = g.samples.lock();
            s.push_back((now_ms, g.total.load(Ordering::Relaxed)));
            while s.len() > 11 {
                s.pop_front();
            }
        }
        let (p, g, gb) = (
            self.put_msgs.load(Ordering::Relaxed),
            self.get_msgs.load(Ordering::Relaxed),
            self.get_bytes.load(Ordering::Relaxed),
        );
        let mut s = self.samples.lock();
        s.push_back((now_ms, p, g, gb));
        while s.len() > 601 {
            s.pop_front();
        }
        let day = now_ms / 86_400_000;
        let mut base = self.today_base.lock();
        if base.0 == 0 {
            // First sample: everything since boot counts as today.
            base.0 = day;
        } else if base.0 != day {
            *base = (day, p, g);
        }
    }

    /// (putTps, getTransferedTps, getTransferedBytesPerSecond) over the last `window_s`
    /// seconds (or what has been sampled so far).
    pub fn tps(&self, window_s: usize) -> (f64, f64, f64) {
        let s = self.samples.lock();
        let first = s.len().saturating_sub(window_s + 1);
        match (s.get(first), s.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                let secs = (b.0 - a.0) as f64 / 1000.0;
                ((b.1 - a.1) as f64 / secs, (b.2 - a.2) as f64 / secs, (b.3 - a.3) as f64 / secs)
            }
            _ => (0.0, 0.0, 0.0),
        }
    }

    /// (puts today, gets today).
    pub fn today(&self) -> (u64, u64) {
        let base = self.today_base.lock();
        (
            self.put_msgs.load(Ordering::Relaxed).saturating_sub(base.1),
            self.get_msgs.load(Ordering::Relaxed).saturating_sub(base.2),
        )
    }
}
