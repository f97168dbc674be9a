//! Slave lag in time, measured on the master where it happens (issue 18's "p99 ≤ 5 ms").
//!
//! The master keeps a ring of (commit-log end, monotonic time) samples, one per stored
//! message ([`EndTimeline::record`], from [`super::HaService::on_arrival`]: the store's arrival
//! listener, right after the append, on every put path and in every master role); each report
//! that advances a slave then becomes a lag: the time since the master's log first reached the
//! offset it acknowledges ([`EndTimeline::reached_at`], interpolated between the two samples
//! around it). That is what the newest message an acknowledgement covers waited for its
//! replica, on one clock, with no sampling period: `bench/ha_probe.py` samples
//! GET_BROKER_RUNTIME_INFO every ~5 ms and cannot resolve less. Each slave's lags go into an HDR histogram ([`LagHistogram`]) shown in
//! GET_BROKER_RUNTIME_INFO (`haSlaveAckLag`, `haSlaveAckLagHistogram`) and the metrics
//! (`rmq_replica_ack_lag_ms`).
//!
//! Cost on the put path: one clock read and one uncontended lock per stored put, only on a
//! master with a slave connected. Samples less than [`SAMPLE_GAP_NS`] after the one before
//! the last overwrite the last, so the ring covers at least `RING / 2 × SAMPLE_GAP_NS` of
//! writing (400 ms) at any rate, and every sample is a real put's end and time.

use std::time::Instant;

use hdrhistogram::Histogram;
use mq_common::metrics::{Buckets, Histogram as BucketHistogram};
use parking_lot::Mutex;

/// Samples kept (16 bytes each).
const RING: usize = 16 * 1024;
/// Minimum spacing between kept samples (see the module doc): an interpolation error of at
/// most this, 100× below the 5 ms target.
pub const SAMPLE_GAP_NS: u64 = 50_000;

/// When an acknowledged offset was first reached by the master's log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reached {
    /// At this time (ns on the timeline's clock), interpolated between two samples.
    At(u64),
    /// After the newest sample (a put whose sample is not recorded yet): just now.
    NotSeen,
    /// Before the oldest sample kept: no later than this time (the lag is at least
    /// now − this).
    BeforeRing(u64),
    /// No sample at all (nothing stored since this broker became a master with a slave).
    Unknown,
}

struct Ring {
    /// (commit-log end, ns since `base`), oldest at `head` once full.
    buf: Vec<(i64, u64)>,
    /// Where the next sample goes once `buf` is full.
    head: usize,
}

impl Ring {
    fn len(&self) -> usize {
        self.buf.len()
    }

    /// The `i`-th sample, oldest first.
    fn get(&self, i: usize) -> (i64, u64) {
        self.buf[(self.head + i) % self.buf.len()]
    }

    fn set_last(&mut self, s: (i64, u64)) {
        let n = self.buf.len();
        let i = (self.head + n - 1) % n;
        self.buf[i] = s;
    }

    fn push(&mut self, s: (i64, u64)) {
        if self.buf.len() < RING {
            self.buf.push(s);
        } else {
            self.buf[self.head] = s;
            self.head = (self.head + 1) % RING;
        }
    }
}

/// The master's commit-log end over time (see the module doc).
pub struct EndTimeline {
    base: Instant,
    ring: Mutex<Ring>,
}

impl Default for EndTimeline {
    fn default() -> Self {
        EndTimeline { base: Instant::now(), ring: Mutex::new(Ring { buf: Vec::new(), head: 0 }) }
    }
}

impl EndTimeline {
    /// Now, in ns on this timeline's clock.
    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Forget every sample (a role change: the log may have been truncated since).
    pub fn clear(&self) {
        let mut r = self.ring.lock();
        r.buf.clear();
        r.head = 0;
    }

    /// A put that ends at `end` was stored (now).
    pub fn record(&self, end: i64) {
        let now = self.now_ns();
        self.record_at(end, now);
    }

    /// [`EndTimeline::record`] at a given time (tests).
    pub fn record_at(&self, end: i64, now: u64) {
        let mut r = self.ring.lock();
        let n = r.len();
        if n > 0 && end <= r.get(n - 1).0 {
            // Puts are answered on several threads: a later put's sample may come first. The
            // end never falls, so the ring stays sorted by offset and by time.
            return;
        }
        if n >= 2 && now.saturating_sub(r.get(n - 2).1) < SAMPLE_GAP_NS {
            r.set_last((end, now));
        } else {
            r.push((end, now));
        }
    }

    /// When the log first reached `offset` (offsets are record ends, as slaves acknowledge).
    pub fn reached_at(&self, offset: i64) -> Reached {
        let r = self.ring.lock();
        let n = r.len();
        if n == 0 {
            return Reached::Unknown;
        }
        // The first sample at or beyond `offset`.
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if r.get(mid).0 < offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == n {
            return Reached::NotSeen;
        }
        let (eb, tb) = r.get(lo);
        if eb == offset {
            return Reached::At(tb);
        }
        if lo == 0 {
            return Reached::BeforeRing(tb);
        }
        // Linear between the samples around it: the bytes in between arrived in that span.
        let (ea, ta) = r.get(lo - 1);
        let frac = (offset - ea) as f64 / (eb - ea) as f64;
        Reached::At(ta + ((tb - ta) as f64 * frac) as u64)
    }

    /// The lag of an acknowledgement that advanced a slave to `offset`, received at `now`
    /// (ns), in µs, and whether it is only a lower bound (older than the ring); `None` when it
    /// cannot be timed. (A report that repeats the previous offset says nothing new and is
    /// not timed: on an idle master it would count the idle time.)
    pub fn lag_us(&self, offset: i64, now: u64) -> Option<(u64, bool)> {
        match self.reached_at(offset) {
            Reached::At(t) => Some((now.saturating_sub(t) / 1000, false)),
            Reached::NotSeen => Some((0, false)),
            Reached::BeforeRing(t) => Some((now.saturating_sub(t) / 1000, true)),
            Reached::Unknown => None,
        }
    }
}

/// Buckets of `rmq_replica_ack_lag_ms` (observed in µs, exported in ms): around issue 18's
/// 5 ms target, and `slaveTimeout`'s 3 s.
pub const ACK_LAG_MS: Buckets = Buckets {
    bounds: &[
        250, 500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000, 20_000, 50_000, 100_000, 500_000,
        1_000_000, 3_000_000,
    ],
    divisor: 1000.0,
};

/// One slave's acknowledgement lags since it connected.
pub struct LagHistogram {
    /// µs, 2 significant digits; the lowest discernible value is 16 µs, so the
    /// `haSlaveAckLagHistogram` listing stays short (≤ 256 buckets below 4 ms).
    hdr: Mutex<Histogram<u64>>,
    /// The same values in the metric's fixed buckets (cumulative counters, for rates).
    buckets: BucketHistogram,
    /// Lags that were only lower bounds (the offset predates the ring).
    beyond_ring: std::sync::atomic::AtomicU64,
}

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram {
            hdr: Mutex::new(
                Histogram::new_with_bounds(16, 3_600_000_000, 2).expect("valid HDR bounds"),
            ),
            buckets: BucketHistogram::new(&ACK_LAG_MS),
            beyond_ring: Default::default(),
        }
    }
}

impl LagHistogram {
    /// Record one acknowledgement's lag (µs); `lower_bound`: older than the ring.
    pub fn record(&self, us: u64, lower_bound: bool) {
        self.hdr.lock().saturating_record(us);
        self.buckets.observe(us);
        if lower_bound {
            self.beyond_ring.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// `count:p50:p99:max:beyondRing`, µs (the runtime info's `haSlaveAckLag`).
    pub fn summary(&self) -> String {
        let h = self.hdr.lock();
        format!(
            "{}:{}:{}:{}:{}",
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            // As the quantiles: the highest value of the bucket (max() of a 0 is 0).
            h.highest_equivalent(h.max()),
            self.beyond_ring.load(std::sync::atomic::Ordering::Relaxed)
        )
    }

    /// The non-empty buckets as `value:count,...` (µs, each bucket's highest value): cumulative
    /// since the connection, so a tool diffs two readings for a window
    /// (`bench/ha_probe.py lag`).
    pub fn buckets_listing(&self) -> String {
        let h = self.hdr.lock();
        let mut s = String::new();
        for v in h.iter_recorded() {
            if !s.is_empty() {
                s.push(',');
            }
            s.push_str(&format!("{}:{}", v.value_iterated_to(), v.count_at_value()));
        }
        s
    }

    /// The metric's histogram.
    pub fn metric(&self) -> &BucketHistogram {
        &self.buckets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn interpolates_between_the_samples_around_an_offset() {
        let t = EndTimeline::default();
        t.record_at(1000, 10 * MS);
        t.record_at(2000, 20 * MS);
        t.record_at(4000, 40 * MS);
        assert_eq!(t.reached_at(2000), Reached::At(20 * MS));
        assert_eq!(t.reached_at(1500), Reached::At(15 * MS));
        assert_eq!(t.reached_at(3000), Reached::At(30 * MS));
        // An acknowledgement of 3000 read at 42 ms: 12 ms behind; of the whole log, 2 ms.
        assert_eq!(t.lag_us(3000, 42 * MS), Some((12_000, false)));
        assert_eq!(t.lag_us(4000, 42 * MS), Some((2_000, false)));
    }

    #[test]
    fn an_offset_not_yet_sampled_is_no_lag_and_an_empty_ring_cannot_time() {
        let t = EndTimeline::default();
        assert_eq!(t.reached_at(10), Reached::Unknown);
        assert_eq!(t.lag_us(10, MS), None);
        t.record_at(100, MS);
        // The master's end is 300 (a put whose sample is not in yet), the slave holds 200.
        assert_eq!(t.reached_at(200), Reached::NotSeen);
        assert_eq!(t.lag_us(200, 2 * MS), Some((0, false)));
    }

    #[test]
    fn late_and_close_samples_keep_the_ring_sorted_and_exact() {
        let t = EndTimeline::default();
        t.record_at(100, MS);
        t.record_at(200, 2 * MS);
        t.record_at(150, 3 * MS); // a put answered late: ignored
        assert_eq!(t.reached_at(200), Reached::At(2 * MS));
        // Within SAMPLE_GAP_NS of the one before the last: replaces the last sample.
        t.record_at(300, 2 * MS + 10_000);
        t.record_at(400, 2 * MS + 20_000);
        assert_eq!(t.ring.lock().len(), 3);
        assert_eq!(t.reached_at(400), Reached::At(2 * MS + 20_000));
        // Interpolation now spans 200..400 (the sample of 300 was replaced).
        assert_eq!(t.reached_at(300), Reached::At(2 * MS + 10_000));
    }

    #[test]
    fn the_ring_wraps_and_older_offsets_are_lower_bounds() {
        let t = EndTimeline::default();
        let n = RING as i64 + 10;
        for i in 1..=n {
            // One sample per ms: each is kept.
            t.record_at(i * 100, i as u64 * MS);
        }
        let r = t.ring.lock();
        assert_eq!(r.len(), RING);
        assert_eq!(r.get(0), (1100, 11 * MS)); // the ten oldest were overwritten
        assert_eq!(r.get(RING - 1), (n * 100, n as u64 * MS));
        drop(r);
        assert_eq!(t.reached_at(1100), Reached::At(11 * MS));
        assert_eq!(t.reached_at(1150), Reached::At(11 * MS + MS / 2));
        assert_eq!(t.reached_at(500), Reached::BeforeRing(11 * MS));
        let now = (n as u64 + 1) * MS;
        assert_eq!(t.lag_us(500, now), Some(((now - 11 * MS) / 1000, true)));
        assert_eq!(t.lag_us(n * 100 - 50, now), Some((1500, false)));
    }

    #[test]
    fn histogram_summary_and_listing() {
        let h = LagHistogram::default();
        for us in [100, 100, 100, 200, 5_000] {
            h.record(us, false);
        }
        h.record(9_000_000, true);
        let s = h.summary();
        let f: Vec<u64> = s.split(':').map(|x| x.parse().unwrap()).collect();
        assert_eq!(f[0], 6);
        // 16 µs buckets below 4 ms: 100 is counted as its bucket's highest value, 111.
        assert_eq!(f[1], 111, "{s}");
        assert!(f[3] >= 9_000_000 && f[3] < 9_100_000, "{s}");
        assert_eq!(f[4], 1);
        let listing = h.buckets_listing();
        let counts: u64 =
            listing.split(',').map(|p| p.split(':').nth(1).unwrap().parse::<u64>().unwrap()).sum();
        assert_eq!(counts, 6, "{listing}");
        assert!(listing.starts_with("111:3,207:1,"), "{listing}");
        assert_eq!(h.metric().count(), 6);
    }
}
