//! Timer micro-benches (criterion). Run: `cargo bench -p mq-broker --bench timer`.
//!
//! * `intercept/plain`: what every ordinary send now pays: the timer check on a message with
//!   typical properties (TAGS, KEYS, UNIQ_KEY, WAIT, CLUSTER) and no timer.
//! * `intercept/timer`: a `TIMER_DELAY_SEC` message rewritten into the timer topic.
//! * `wheel/place_commit`: placing one timer in the in-memory wheel (3600 occupied slots).
//! * `log/append_256`: appending 256 entries to the timer log (one `pwrite`).

use criterion::{Criterion, Throughput};
use mq_broker::timer::log::{Entry, TimerLog, NO_PREV};
use mq_broker::timer::wheel::{Placement, Wheel};
use mq_broker::timer::{intercept::intercept, TimerConfig};
use mq_common::message::property::{
    encode_properties, CLUSTER, KEYS, TAGS, TIMER_DELAY_SEC, UNIQ_KEY, WAIT,
};
use mq_common::message::MessageExtBrokerInner;

fn message(extra: Option<(&str, &str)>) -> MessageExtBrokerInner {
    let mut props = vec![
        (TAGS, "TagA"),
        (KEYS, "order-12345"),
        (UNIQ_KEY, "7F0000010F2A18B4AAC2725C1DB70000"),
        (WAIT, "true"),
        (CLUSTER, "DefaultCluster"),
    ];
    props.extend(extra);
    MessageExtBrokerInner {
        topic: "TopicTest".into(),
        properties: encode_properties(props),
        ..Default::default()
    }
}

fn benches(c: &mut Criterion) {
    let cfg = TimerConfig::default();
    let now = 1_700_000_000_000;
    let mut g = c.benchmark_group("intercept");
    g.throughput(Throughput::Elements(1));
    let plain = message(None);
    g.bench_function("plain", |b| {
        b.iter_batched_ref(
            || plain.clone(),
            |m| intercept(&cfg, now, m, |_| 0),
            criterion::BatchSize::SmallInput,
        )
    });
    let timed = message(Some((TIMER_DELAY_SEC, "30")));
    g.bench_function("timer", |b| {
        b.iter_batched_ref(
            || timed.clone(),
            |m| intercept(&cfg, now, m, |_| 0),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("wheel");
    g.throughput(Throughput::Elements(1));
    let mut w = Wheel::new(1000, now, 0);
    let none = Default::default();
    let mut i = 0i64;
    g.bench_function("place_commit", |b| {
        b.iter(|| {
            i += 1;
            let t = now + (i * 7919) % 3_600_000;
            if let Placement::Slot { slot, .. } = w.place(t, &none) {
                w.commit(slot, i);
            }
        })
    });
    g.finish();

    let dir = tempfile::tempdir().expect("tempdir");
    let log = TimerLog::open(dir.path(), 100 << 20).expect("log");
    let batch: Vec<Entry> = (0..256)
        .map(|i| Entry {
            deliver_ms: now + i,
            phy: i * 300,
            size: 300,
            cq_offset: i,
            prev: NO_PREV,
        })
        .collect();
    let mut g = c.benchmark_group("log");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("append_256", |b| b.iter(|| log.append(&batch).expect("append")));
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
