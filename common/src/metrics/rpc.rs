//! `rocketmq_rpc_latency{protocol_type, request_code, response_code}`: time from a request's
//! dispatch to its response, per request code and response code, for both servers.
//!
//! Bounded labels: request codes below [`MAX_CODE`] get their own series (a fixed table indexed
//! by code, so recording takes no lock and no hash); any other code counts as `other`, so a
//! client sending random codes cannot grow the label set. Response codes are the server's own
//! (a short fixed list).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::histogram::{Histogram, RPC_LATENCY_MS};

/// Times one request for [`RpcMetrics`]. Reads the CPU's time-stamp counter (quanta) where it
/// is invariant, else the OS monotonic clock: two `std::time::Instant` reads cost ~70 ns on
/// this project's VM, a third of what metrics added to a send (`benches/metrics.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(quanta::Instant);

impl Stopwatch {
    /// Start timing now.
    #[inline]
    pub fn start() -> Stopwatch {
        Stopwatch(quanta::Instant::now())
    }

    /// Time since [`Stopwatch::start`].
    #[inline]
    pub fn elapsed(&self) -> Duration {
        quanta::Instant::now().saturating_duration_since(self.0)
    }
}

/// Request codes at or above this share the `other` series (RocketMQ's codes are < 1024 apart
/// from a few rarely used admin codes).
pub const MAX_CODE: usize = 1024;

struct Slot {
    /// SUCCESS (0): the common case, no lock.
    ok: Histogram,
    /// Other response codes (the cold error path).
    others: Mutex<Vec<(i32, Arc<Histogram>)>>,
}

/// Latency histograms by (request code, response code).
pub struct RpcMetrics {
    slots: Box<[OnceLock<Slot>]>,
    /// Requests that were answered asynchronously (long polling, SYNC_FLUSH) are not timed;
    /// their count still shows how many there were.
    deferred: AtomicI64,
}

impl Default for RpcMetrics {
    fn default() -> Self {
        // The first time-stamp-counter read calibrates quanta's clock (a few ms): here at
        // start-up, not on the first request.
        let _ = Stopwatch::start();
        RpcMetrics {
            slots: (0..=MAX_CODE).map(|_| OnceLock::new()).collect(),
            deferred: AtomicI64::new(0),
        }
    }
}

impl std::fmt::Debug for RpcMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcMetrics").finish_non_exhaustive()
    }
}

fn slot_index(code: i32) -> usize {
    usize::try_from(code).ok().filter(|&c| c < MAX_CODE).unwrap_or(MAX_CODE)
}

impl RpcMetrics {
    /// Record one answered request.
    #[inline]
    pub fn observe(&self, request_code: i32, response_code: i32, elapsed: Duration) {
        let slot = self.slots[slot_index(request_code)].get_or_init(|| Slot {
            ok: Histogram::new(&RPC_LATENCY_MS),
            others: Mutex::new(Vec::new()),
        });
        let us = elapsed.as_micros().min(u64::MAX as u128) as u64;
        if response_code == 0 {
            slot.ok.observe(us);
            return;
        }
        let mut others = slot.others.lock();
        let h = match others.iter().find(|(c, _)| *c == response_code) {
            Some((_, h)) => h.clone(),
            None => {
                let h = Arc::new(Histogram::new(&RPC_LATENCY_MS));
                others.push((response_code, h.clone()));
                h
            }
        };
        drop(others);
        h.observe(us);
    }

    /// Record a processor's [`Reply`](crate::remoting::Reply): a response sent now (`Ok(Some)`
    /// or `Err`) is timed; `Ok(None)` (answered later, or oneway) is counted as deferred.
    #[inline]
    pub fn observe_reply(
        &self,
        request_code: i32,
        reply: &crate::remoting::Reply,
        elapsed: Duration,
    ) {
        match reply {
            Ok(Some(r)) | Err(r) => self.observe(request_code, r.code, elapsed),
            Ok(None) => self.deferred(),
        }
    }

    /// Count a request whose response is sent later (not timed).
    #[inline]
    pub fn deferred(&self) {
        self.deferred.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests observed so far (all codes), for tests.
    pub fn count(&self) -> u64 {
        self.slots
            .iter()
            .filter_map(|s| s.get())
            .map(|s| s.ok.count() + s.others.lock().iter().map(|(_, h)| h.count()).sum::<u64>())
            .sum()
    }

    /// Write the histogram family and the deferred counter.
    pub fn encode(&self, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        let mut fam = enc.encode_descriptor(
            "rocketmq_rpc_latency",
            "Time from a request's dispatch to its response, ms, by request and response code.",
            None,
            MetricType::Histogram,
        )?;
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(slot) = slot.get() else { continue };
            let code = if i == MAX_CODE { "other".to_string() } else { i.to_string() };
            let mut hs = vec![(0, &slot.ok as &Histogram)];
            let others = slot.others.lock().clone();
            hs.extend(others.iter().map(|(c, h)| (*c, h.as_ref())));
            for (resp, h) in hs {
                if h.count() == 0 {
                    continue; // the SUCCESS slot of a code that only ever failed
                }
                let labels = [
                    ("protocol_type", "remoting".to_string()),
                    ("request_code", code.clone()),
                    ("response_code", resp.to_string()),
                ];
                h.encode(fam.encode_family(&labels)?)?;
            }
        }
        let mut fam = enc.encode_descriptor(
            "rmq_rpc_deferred_responses",
            "Requests answered later (long polling, SYNC_FLUSH); not in rocketmq_rpc_latency.",
            None,
            MetricType::Counter,
        )?;
        fam.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
            &(self.deferred.load(Ordering::Relaxed).max(0) as u64),
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_bounded() {
        let m = RpcMetrics::default();
        m.observe(10, 0, Duration::from_micros(500));
        m.observe(10, 17, Duration::from_millis(2));
        m.observe(50_000, 0, Duration::from_millis(2));
        m.observe(-3, 0, Duration::from_millis(2));
        assert_eq!(m.count(), 4);
        let mut out = String::new();
        let mut reg = prometheus_client::registry::Registry::default();
        reg.register_collector(Box::new(Wrap(m)));
        prometheus_client::encoding::text::encode(&mut out, &reg).unwrap();
        assert!(out.contains(r#"rocketmq_rpc_latency_count{protocol_type="remoting",request_code="10",response_code="0"} 1"#), "{out}");
        assert!(out.contains(r#"request_code="10",response_code="17"} 1"#), "{out}");
        assert!(out.contains(r#"rocketmq_rpc_latency_count{protocol_type="remoting",request_code="other",response_code="0"} 2"#), "{out}");
        assert!(out.contains(r#"rocketmq_rpc_latency_bucket{le="1.0",protocol_type="remoting",request_code="10",response_code="0"} 1"#) || out.contains(r#"request_code="10",response_code="0",le="1.0"} 1"#), "{out}");
    }

    #[derive(Debug)]
    struct Wrap(RpcMetrics);
    impl prometheus_client::collector::Collector for Wrap {
        fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
            self.0.encode(&mut enc)
        }
    }
}
