//! What metrics add to one request on the hot path (`metricsExporterType=PROM`), next to the
//! broker's ~7-9 µs of CPU per 1 KiB message in `bench/compare.sh async256`:
//!
//! * `clock/std_instant_pair`: two `std::time::Instant` reads (how requests used to be timed);
//!   `clock/raw_read`: the one raw TSC read (quanta) a request now pays (`RequestTimer::now`);
//! * `send_request`: everything a SEND_MESSAGE_V2 pays for metrics: the connection's clock read
//!   and RPC histogram observation (`RequestTimer`), the topic's counters handed over from
//!   the topic-table lookup (an `Arc` clone and drop), the message type read from the
//!   properties, one add of messages/bytes/size to this thread's shard. Its parts:
//!   `send_request/rpc` (clock + RPC histogram) and `send_request/topic` (the rest);
//! * `pull_request`: what a PULL_MESSAGE pays: group → topic lookup, counts, next pull offset;
//! * `disabled/*`: the same with metrics off (no clock read, no counters: one branch each).
//!
//! Run: `cargo bench -p mq-broker --bench metrics`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::Criterion;
use mq_broker::metrics::{BrokerMetrics, MessageType, TopicIn};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::RequestTimer;

const PROPS: &str =
    "TAGS\u{1}TagA\u{2}KEYS\u{1}k1\u{2}UNIQ_KEY\u{1}0A0B0C0D0E0F\u{2}WAIT\u{1}true\u{2}";

/// The topic part of a send: the handle from the topic table (cloned out of the entry's
/// lookup, dropped after the put), the message type, the add.
#[inline]
fn record_topic(handle: Option<&Arc<TopicIn>>) {
    let counted =
        handle.cloned().map(|t| (t, MessageType::of_send(0, Some(black_box(PROPS))), 1024usize));
    if let Some((t, ty, bytes)) = counted {
        t.add(ty, 1, bytes);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    c.bench_function("clock/std_instant_pair", |b| {
        b.iter(|| black_box(Instant::now()).elapsed());
    });
    let m = BrokerMetrics::new(true);
    c.bench_function("clock/raw_read", |b| b.iter(|| black_box(m.rpc.now())));

    // 50 topics, as a small production broker has.
    let topics: Vec<Arc<TopicIn>> = (0..50).map(|_| Arc::default()).collect();
    let ok = RemotingCommand::success();
    let mut i = 0usize;
    let mut last = m.rpc.now();
    c.bench_function("send_request", |b| {
        b.iter(|| {
            i = (i + 1) % topics.len();
            record_topic(Some(&topics[i]));
            // The connection's reader: one reading ends this request and starts the next.
            let end = m.rpc.now();
            m.rpc.observe(310, Some(black_box(&ok)), last, end);
            last = end;
        })
    });
    c.bench_function("send_request/rpc", |b| {
        b.iter(|| {
            let end = m.rpc.now();
            m.rpc.observe(310, Some(black_box(&ok)), last, end);
            last = end;
        })
    });
    c.bench_function("send_request/topic", |b| {
        b.iter(|| {
            i = (i + 1) % topics.len();
            record_topic(Some(&topics[i]));
        })
    });
    let off = BrokerMetrics::new(false);
    c.bench_function("disabled/send_request", |b| {
        // Metrics off: the topic table hands no counters and the reader reads no clock.
        b.iter(|| record_topic(black_box(None).filter(|_| off.enabled())))
    });

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
