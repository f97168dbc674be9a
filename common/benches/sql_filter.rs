//! SQL92 filter costs per message (bench/RESULTS.md §SQL92): evaluating a 3-clause
//! expression against a stored message's encoded properties (what the broker does per
//! scanned record), the same through `MessageFilter::matches_record` on a whole stored record
//! (record header parse included), and compiling (once per subscription version).
//!
//! `cargo bench -p mq-common --bench sql_filter`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use mq_common::filter::{EncodedProperties, MessageFilter, SqlExpression};
use mq_common::message::record::{encode_record, RecordFields};
use mq_common::message::{crc32_masked, encode_properties};
use mq_common::protocol::body::SubscriptionData;

/// 3 clauses: a range, a string equality on a user property, an IN on TAGS.
const EXPR: &str = "a BETWEEN 10 AND 19 AND region = 'eu-west' AND TAGS IN ('TagA', 'TagB')";

/// Properties as a Java producer stores them (system keys first, user keys after).
fn props(a: u32, tags: &str) -> String {
    let a = a.to_string();
    encode_properties([
        ("UNIQ_KEY", "7F0000010B2C18B4AAC27E5E3F2A0000"),
        ("KEYS", "order-12345"),
        ("TAGS", tags),
        ("WAIT", "true"),
        ("a", a.as_str()),
        ("region", "eu-west"),
        ("tenant", "acme"),
    ])
}

fn record(props: &str) -> Vec<u8> {
    let body = vec![b'x'; 1024];
    encode_record(&RecordFields {
        queue_id: 0,
        flag: 0,
        queue_offset: 0,
        physical_offset: 0,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: "127.0.0.1:1".parse().unwrap(),
        store_timestamp: 2,
        store_host: "127.0.0.1:10911".parse().unwrap(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body: &body,
        body_crc: crc32_masked(&body),
        topic: "BenchmarkTest",
        properties: props,
    })
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let e = SqlExpression::compile(EXPR).unwrap();
    let hit = props(15, "TagA");
    let miss_first = props(42, "TagA"); // fails on the first clause
    let miss_last = props(15, "TagC"); // evaluates all three clauses
    assert!(e.matches(&EncodedProperties(&hit)));
    assert!(!e.matches(&EncodedProperties(&miss_first)));
    assert!(!e.matches(&EncodedProperties(&miss_last)));
    let mut g = c.benchmark_group("sql92");
    g.bench_function("eval_3_clauses_match", |b| {
        b.iter(|| e.matches(&EncodedProperties(black_box(&hit))))
    });
    g.bench_function("eval_3_clauses_miss_first", |b| {
        b.iter(|| e.matches(&EncodedProperties(black_box(&miss_first))))
    });
    g.bench_function("eval_3_clauses_miss_last", |b| {
        b.iter(|| e.matches(&EncodedProperties(black_box(&miss_last))))
    });
    let sd = SubscriptionData::from_expression("BenchmarkTest", EXPR, Some("SQL92"), 1).unwrap();
    let f = MessageFilter::compile(&sd).unwrap();
    let rec = record(&hit);
    assert!(f.matches_record(&rec));
    g.bench_function("record_3_clauses_1KiB", |b| b.iter(|| f.matches_record(black_box(&rec))));
    g.bench_function("compile_3_clauses", |b| {
        b.iter(|| SqlExpression::compile(black_box(EXPR)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
