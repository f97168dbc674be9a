//! A fixed-bucket histogram of lock-free atomic counters, for the request path: one
//! `observe` is a short bucket search plus two relaxed atomic adds, with no lock and no
//! allocation (prometheus-client's own `Histogram` takes a mutex per observation); in a
//! [`PerThread`](super::PerThread) value, [`Histogram::observe_owned`] makes them plain adds
//! and [`Snapshot`] sums the threads' histograms at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{MetricEncoder, NoLabelSet};

use super::per_thread::owned_add;

/// Bucket upper bounds and the factor that converts observed integers to exported units.
#[derive(Debug)]
pub struct Buckets {
    /// Upper bounds in observed units (µs, bytes), ascending; `+Inf` is implicit.
    pub bounds: &'static [u64],
    /// Exported value = observed / `divisor` (e.g. 1000 to observe µs and export ms).
    pub divisor: f64,
}

/// RocketMQ 5's `rocketmq_rpc_latency` buckets (ms): 1, 3, 5, 7, 10, 100, 1000, 2000, 3000,
/// observed in µs.
pub const RPC_LATENCY_MS: Buckets = Buckets {
    bounds: &[1_000, 3_000, 5_000, 7_000, 10_000, 100_000, 1_000_000, 2_000_000, 3_000_000],
    divisor: 1000.0,
};

/// RocketMQ 5's `rocketmq_message_size` buckets (bytes): 1 KiB, 4 KiB, 512 KiB, 1, 2, 4 MiB.
pub const MESSAGE_SIZE_BYTES: Buckets =
    Buckets { bounds: &[1 << 10, 4 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20], divisor: 1.0 };

/// RocketMQ 5's `rocketmq_delay_message_latency` buckets (seconds): 1 min, 10 min, 1 h, 12 h,
/// 1 d, 3 d: how far ahead timer messages ask to be delivered.
pub const DELAY_SET_LATENCY_SECS: Buckets =
    Buckets { bounds: &[60, 600, 3_600, 43_200, 86_400, 259_200], divisor: 1.0 };

/// Counts per bucket, sum and count.
#[derive(Debug)]
pub struct Histogram {
    buckets: &'static Buckets,
    /// Per bucket (not cumulative); the last is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `buckets`.
    pub fn new(buckets: &'static Buckets) -> Histogram {
        Histogram {
            buckets,
            counts: (0..=buckets.bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Record one value (in observed units).
    #[inline]
    pub fn observe(&self, v: u64) {
        let i = self.buckets.bounds.partition_point(|&b| b < v);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    /// [`Histogram::observe`] for a histogram only the calling thread writes (a
    /// [`PerThread`](super::PerThread) value): plain adds, no locked instruction.
    #[inline]
    pub fn observe_owned(&self, v: u64) {
        let i = self.buckets.bounds.partition_point(|&b| b < v);
        owned_add(&self.counts[i], 1);
        owned_add(&self.sum, v);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Sum of the observed values (observed units).
    pub fn sum(&self) -> u64 {
        self.sum.load(Ordering::Relaxed)
    }

    /// Write as a Prometheus histogram (sum, count and cumulative buckets).
    pub fn encode(&self, enc: MetricEncoder<'_>) -> std::fmt::Result {
        let mut s = Snapshot::new(self.buckets);
        s.add(self);
        s.encode(enc)
    }
}

/// The sum of several histograms over the same buckets (one per thread), read at scrape time.
#[derive(Debug, Clone)]
pub struct Snapshot {
    buckets: &'static Buckets,
    counts: Vec<u64>,
    sum: u64,
}

impl Snapshot {
    /// Empty, over `buckets`.
    pub fn new(buckets: &'static Buckets) -> Snapshot {
        Snapshot { buckets, counts: vec![0; buckets.bounds.len() + 1], sum: 0 }
    }

    /// Add `h`'s current counts (same buckets).
    pub fn add(&mut self, h: &Histogram) {
        debug_assert_eq!(self.buckets.bounds, h.buckets.bounds);
        for (t, c) in self.counts.iter_mut().zip(h.counts.iter()) {
            *t = t.wrapping_add(c.load(Ordering::Relaxed));
        }
        self.sum = self.sum.wrapping_add(h.sum.load(Ordering::Relaxed));
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of the observed values (observed units).
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// Write as a Prometheus histogram (sum, count and cumulative buckets).
    pub fn encode(&self, mut enc: MetricEncoder<'_>) -> std::fmt::Result {
        let d = self.buckets.divisor;
        let buckets: Vec<(f64, u64)> = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, &n)| (self.buckets.bounds.get(i).map_or(f64::INFINITY, |&b| b as f64 / d), n))
            .collect();
        enc.encode_histogram::<NoLabelSet>(self.sum as f64 / d, self.count(), &buckets, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_upper_inclusive() {
        let h = Histogram::new(&MESSAGE_SIZE_BYTES);
        for v in [0, 1024, 1025, 4096, 5 << 20] {
            h.observe(v);
        }
        let c: Vec<u64> = h.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(c, vec![2, 2, 0, 0, 0, 0, 1]);
        assert_eq!(h.count(), 5);
        assert_eq!(h.sum.load(Ordering::Relaxed), 1024 + 1025 + 4096 + (5 << 20));
    }
}
