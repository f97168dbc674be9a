//! `rocketmq_rpc_latency{protocol_type, request_code, response_code}`: time from a request's
//! dispatch to its response, per request code and response code, for both servers.
//!
//! Bounded labels: request codes below [`MAX_CODE`] get their own series (a fixed table indexed
//! by code, one per thread, so recording takes no lock, no hash and no locked instruction);
//! any other code counts as `other`, so a client sending random codes cannot grow the label
//! set. Response codes are the server's own (a short fixed list).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::histogram::{Histogram, Snapshot, RPC_LATENCY_MS};
use super::per_thread::PerThread;
use crate::protocol::RemotingCommand;
use crate::remoting::RequestTimer;

/// Request codes at or above this share the `other` series (RocketMQ's codes are < 1024 apart
/// from a few rarely used admin codes).
pub const MAX_CODE: usize = 1024;

/// One thread's SUCCESS histograms, by request code (created on first use).
struct OkTable(Box<[OnceLock<Histogram>]>);

impl Default for OkTable {
    fn default() -> Self {
        OkTable((0..=MAX_CODE).map(|_| OnceLock::new()).collect())
    }
}

/// Latency histograms by (request code, response code). Servers time requests through the
/// [`RequestTimer`] hook (`ServerConfig::timer`): one raw clock read per request.
pub struct RpcMetrics {
    /// The raw clock (`rdtsc` where invariant): readings are scaled only to observe.
    clock: quanta::Clock,
    /// SUCCESS (the common case): per thread, so a request pays no locked instruction.
    ok: PerThread<OkTable>,
    /// Other response codes (the cold error path), shared: (request slot, response code).
    errors: Mutex<BTreeMap<(usize, i32), Histogram>>,
    /// Requests that were answered asynchronously (long polling, SYNC_FLUSH) are not timed;
    /// their count still shows how many there were.
    deferred: AtomicI64,
}

impl Default for RpcMetrics {
    fn default() -> Self {
        // Creating the clock calibrates it against the OS clock (a few ms, once): here at
        // start-up, not on the first request.
        RpcMetrics {
            clock: quanta::Clock::new(),
            ok: PerThread::default(),
            errors: Mutex::new(BTreeMap::new()),
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
    /// Record one answered request timed elsewhere (servers time through [`RequestTimer`]).
    pub fn record(&self, request_code: i32, response_code: i32, elapsed: Duration) {
        let us = elapsed.as_micros().min(u64::MAX as u128) as u64;
        self.observe_us(slot_index(request_code), response_code, us);
    }

    #[inline]
    fn observe_us(&self, slot: usize, response_code: i32, us: u64) {
        if response_code == 0 {
            let h = self.ok.local().0[slot].get_or_init(|| Histogram::new(&RPC_LATENCY_MS));
            return h.observe_owned(us);
        }
        self.errors
            .lock()
            .entry((slot, response_code))
            .or_insert_with(|| Histogram::new(&RPC_LATENCY_MS))
            .observe(us);
    }

    /// Count a request whose response is sent later (not timed).
    #[inline]
    pub fn deferred(&self) {
        self.deferred.fetch_add(1, Ordering::Relaxed);
    }

    /// SUCCESS latencies of request slot `slot`, summed over threads.
    fn ok_snapshot(&self, slot: usize) -> Option<Snapshot> {
        let mut s: Option<Snapshot> = None;
        for t in self.ok.iter() {
            if let Some(h) = t.0[slot].get() {
                s.get_or_insert_with(|| Snapshot::new(&RPC_LATENCY_MS)).add(h);
            }
        }
        s
    }

    /// Requests observed so far (all codes), for tests.
    pub fn count(&self) -> u64 {
        let ok: u64 = (0..=MAX_CODE).filter_map(|i| self.ok_snapshot(i)).map(|s| s.count()).sum();
        ok + self.errors.lock().values().map(Histogram::count).sum::<u64>()
    }

    /// Write the histogram family and the deferred counter.
    pub fn encode(&self, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        let mut fam = enc.encode_descriptor(
            "rocketmq_rpc_latency",
            "Time from a request's dispatch to its response, ms, by request and response code.",
            None,
            MetricType::Histogram,
        )?;
        let mut rows: BTreeMap<(usize, i32), Snapshot> = BTreeMap::new();
        for slot in 0..=MAX_CODE {
            if let Some(s) = self.ok_snapshot(slot) {
                rows.insert((slot, 0), s);
            }
        }
        for (k, h) in self.errors.lock().iter() {
            let mut s = Snapshot::new(&RPC_LATENCY_MS);
            s.add(h);
            rows.insert(*k, s);
        }
        for ((slot, resp), s) in rows {
            if s.count() == 0 {
                continue;
            }
            let code = if slot == MAX_CODE { "other".to_string() } else { slot.to_string() };
            let labels = [
                ("protocol_type", "remoting".to_string()),
                ("request_code", code),
                ("response_code", resp.to_string()),
            ];
            s.encode(fam.encode_family(&labels)?)?;
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

impl RequestTimer for RpcMetrics {
    #[inline]
    fn now(&self) -> u64 {
        self.clock.raw()
    }

    #[inline]
    fn observe(&self, code: i32, response: Option<&RemotingCommand>, start: u64, end: u64) {
        match response {
            Some(r) => {
                let us = self.clock.delta_as_nanos(start, end) / 1000;
                self.observe_us(slot_index(code), r.code, us);
            }
            None => self.deferred(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_bounded() {
        let m = RpcMetrics::default();
        m.record(10, 0, Duration::from_micros(500));
        m.record(10, 17, Duration::from_millis(2));
        m.record(50_000, 0, Duration::from_millis(2));
        m.record(-3, 0, Duration::from_millis(2));
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
