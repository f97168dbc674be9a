//! What metrics add to one request on the hot path (`metricsExporterType=PROM`), next to the
//! broker's ~7-9 µs of CPU per 1 KiB message in `bench/compare.sh async256`:
//!
//! * `clock/std_instant_pair`, `clock/stopwatch_pair`: the two clock reads that time one request,
//!   with `std::time::Instant` and with the [`Stopwatch`] the servers use;
//! * `send_request`: what a SEND_MESSAGE_V2 pays: two clock reads (RPC latency), the topic's
//!   counters looked up by `&str`, the message type read from the properties, one add of
//!   messages/bytes/size and one RPC histogram observation;
//! * `pull_request`: what a PULL_MESSAGE pays: group → topic lookup, counts, next pull offset;
//! * `disabled`: the same calls with metrics off (one branch each, no clock read).
//!
//! Run: `cargo bench -p mq-broker --bench metrics`.

use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use mq_broker::metrics::{BrokerMetrics, MessageType};
use mq_common::metrics::Stopwatch;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    c.bench_function("clock/std_instant_pair", |b| {
        b.iter(|| black_box(Instant::now()).elapsed());
    });
    c.bench_function("clock/stopwatch_pair", |b| {
        b.iter(|| black_box(Stopwatch::start()).elapsed());
    });
    let props =
        "TAGS\u{1}TagA\u{2}KEYS\u{1}k1\u{2}UNIQ_KEY\u{1}0A0B0C0D0E0F\u{2}WAIT\u{1}true\u{2}";
    for (name, on) in [("send_request", true), ("disabled/send_request", false)] {
        let m = BrokerMetrics::new(on);
        // 50 topics, as a small production broker has.
        let topics: Vec<String> = (0..50).map(|i| format!("Topic{i}")).collect();
        let mut i = 0usize;
        c.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % topics.len();
                // As the request handler: no clock read at all with metrics off.
                let t0 = m.enabled().then(Stopwatch::start);
                let h = m.topic_in(black_box(&topics[i]));
                let counted = h.map(|t| (t, MessageType::of_send(0, Some(props)), 1024usize));
                if let Some((t, ty, bytes)) = counted {
                    t.add(ty, 1, bytes);
                }
                if let Some(t0) = t0 {
                    m.rpc.observe(310, 0, t0.elapsed());
                }
            })
        });
    }
    for (name, on) in [("pull_request", true), ("disabled/pull_request", false)] {
        let m = BrokerMetrics::new(on);
        let mut off = 0i64;
        c.bench_function(name, |b| {
            b.iter(|| {
                off += 32;
                m.pulled(
                    black_box("GroupA"),
                    black_box("Topic7"),
                    (off % 8) as i32,
                    32,
                    32 * 1100,
                    off,
                );
            })
        });
    }
    c.final_summary();
}
