//! Message-store benches (criterion + a small custom measurement for SYNC_FLUSH percentiles).
//!
//! * `append_async_1k`: ASYNC_FLUSH `put_message` of 1 KiB bodies (TAGS + UNIQ_KEY indexed).
//! * `append_batch_32x1k`: `put_messages` of 32 × 1 KiB.
//! * `sync_flush/{1,8,64}`: concurrent tokio tasks doing `put_message(..).durable()` under SYNC_FLUSH
//!   (group commit); msgs/s and latency percentiles printed (custom, not criterion).
//! * `backlog_read`: `get_message` (32 per call) over a ~1 GiB backlog through the consume queue.
//! * `index_lookup`: `query_message` by UNIQ_KEY among 1 M indexed messages.
//!
//! Run: `cargo bench -p mq-broker --bench store`. Env knobs: `STORE_BENCH_DIR` (disk to use),
//! `ONLY_SYNC=1` / `ONLY_CUSTOM=1` (just the SYNC_FLUSH or the custom append report),
//! `SKIP_SYNC=1`, `SYNC_BENCH_SECS`, `APPEND_MSGS`, `BACKLOG_MSGS`, `STORE_BENCH_NO_WARM=1`,
//! `STORE_BENCH_PWRITE=1|0` (commit log written with pwrite / through the mapping),
//! `STORE_BENCH_GROUP=N` (the custom append report puts N messages per `put_group`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use mq_broker::store::{FlushDiskType, MessageStore, PutMessageStatus, PutSet, StoreConfig};
use mq_common::message::property::{encode_properties, TAGS, UNIQ_KEY};
use mq_common::message::MessageExtBrokerInner;

fn tmp() -> tempfile::TempDir {
    match std::env::var_os("STORE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).expect("tempdir"),
        None => tempfile::tempdir().expect("tempdir"),
    }
}

fn cfg(dir: &std::path::Path, flush: FlushDiskType) -> StoreConfig {
    let mut c = StoreConfig::with_root(dir);
    c.flush_disk_type = flush;
    c.warm_mapped_file_enable = std::env::var_os("STORE_BENCH_NO_WARM").is_none();
    if let Some(v) = std::env::var_os("STORE_BENCH_PWRITE") {
        c.commit_log_pwrite_enable = v == "1";
    }
    c
}

/// CPU time consumed by the calling thread.
fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime writes into the timespec.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Custom async-append run: wall-clock rate and rate per CPU-second of the appending thread
/// (the latter is meaningful on a loaded shared machine).
fn append_cpu_report() {
    let dir = tmp();
    let store = MessageStore::open(cfg(dir.path(), FlushDiskType::Async)).expect("open");
    store.start().expect("start");
    let body = Bytes::from(vec![b'c'; 1024]);
    let n: u64 =
        std::env::var("APPEND_MSGS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let msgs: Vec<_> = (0..n).map(|i| message("BenchC", (i % 8) as i32, i, &body)).collect();
    // Let the pre-allocator warm the first (cold-created) file, as it would be in steady state.
    let _ = store.put_message(message("BenchC", 0, u64::MAX, &body)).result;
    let warm_ms: u64 =
        std::env::var("WARM_WAIT_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    std::thread::sleep(Duration::from_millis(warm_ms));
    // Puts of `STORE_BENCH_GROUP` messages at a time (`put_group`: a connection's pipelined
    // sends of one read); 1 = one `put_message` per message.
    let group: usize =
        std::env::var("STORE_BENCH_GROUP").ok().and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let (w0, c0) = (Instant::now(), thread_cpu());
    if group == 1 {
        for m in msgs {
            let r = store.put_message(m).result;
            debug_assert_eq!(r.status, PutMessageStatus::PutOk);
        }
    } else {
        let mut it = msgs.into_iter().peekable();
        while it.peek().is_some() {
            let sets: Vec<PutSet> = it.by_ref().take(group).map(PutSet::One).collect();
            for p in store.put_group(sets) {
                debug_assert_eq!(p.result.status, PutMessageStatus::PutOk);
            }
        }
    }
    let (wall, cpu) = (w0.elapsed(), thread_cpu() - c0);
    let bytes = store.get_max_phy_offset() as f64;
    println!(
        "append_async_1k custom: {n} msgs, wall {:.2} s = {:.0} msgs/s ({:.2} GB/s); appender CPU {:.2} s = {:.0} msgs per CPU-s ({:.2} GB per CPU-s)",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        bytes / wall.as_secs_f64() / 1e9,
        cpu.as_secs_f64(),
        n as f64 / cpu.as_secs_f64(),
        bytes / cpu.as_secs_f64() / 1e9,
    );
    store.shutdown().expect("shutdown");
}

fn host(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

fn message(topic: &str, queue: i32, seq: u64, body: &Bytes) -> MessageExtBrokerInner {
    MessageExtBrokerInner {
        topic: topic.into(),
        queue_id: queue,
        born_timestamp: 1,
        born_host: host("10.0.0.1:5555"),
        store_host: host("10.0.0.2:10911"),
        body: body.clone(),
        properties: encode_properties([(TAGS, "TagA"), (UNIQ_KEY, &format!("{seq:032X}"))]),
        ..Default::default()
    }
}

fn bench_append(c: &mut Criterion) {
    let dir = tmp();
    let store = MessageStore::open(cfg(dir.path(), FlushDiskType::Async)).expect("open");
    store.start().expect("start");
    let body = Bytes::from(vec![b'a'; 1024]);
    let mut seq = 0u64;
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1));
    g.bench_function("async_1k", |b| {
        b.iter_custom(|iters| {
            let msgs: Vec<_> =
                (0..iters).map(|i| message("BenchA", (i % 8) as i32, seq + i, &body)).collect();
            seq += iters;
            let t = Instant::now();
            for m in msgs {
                let r = store.put_message(m).result;
                debug_assert_eq!(r.status, PutMessageStatus::PutOk);
            }
            t.elapsed()
        })
    });
    g.throughput(Throughput::Elements(32));
    g.bench_function("batch_32x1k", |b| {
        b.iter_custom(|iters| {
            let batches: Vec<Vec<_>> = (0..iters)
                .map(|i| {
                    (0..32)
                        .map(|j| message("BenchB", (i % 8) as i32, seq + i * 32 + j, &body))
                        .collect()
                })
                .collect();
            seq += iters * 32;
            let t = Instant::now();
            for b in batches {
                let r = store.put_messages(b).result;
                debug_assert_eq!(r.status, PutMessageStatus::PutOk);
            }
            t.elapsed()
        })
    });
    g.finish();
    let info = store.runtime_info();
    eprintln!(
        "append: wrote {:.2} GiB, max put latency {} us",
        info.commit_log_max_offset as f64 / (1u64 << 30) as f64,
        info.put_message_max_latency_us
    );
    store.shutdown().expect("shutdown");
}

/// SYNC_FLUSH with N concurrent appenders: msgs/s and latency percentiles.
fn sync_flush_report() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let secs: f64 =
        std::env::var("SYNC_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(3.0);
    for n in [1usize, 8, 64] {
        let dir = tmp();
        let store = MessageStore::open(cfg(dir.path(), FlushDiskType::Sync)).expect("open");
        store.start().expect("start");
        let body = Bytes::from(vec![b's'; 1024]);
        let (count, hist) = rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs_f64(secs);
            let mut tasks = Vec::new();
            for t in 0..n {
                let store = store.clone();
                let body = body.clone();
                tasks.push(tokio::spawn(async move {
                    let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("hist");
                    let mut i = 0u64;
                    while Instant::now() < deadline {
                        let t0 = Instant::now();
                        let m = message("BenchS", (t % 8) as i32, (t as u64) << 40 | i, &body);
                        let r = store.put_message(m).durable().await;
                        assert_eq!(r.status, PutMessageStatus::PutOk);
                        let _ = h.record(t0.elapsed().as_micros() as u64);
                        i += 1;
                    }
                    h
                }));
            }
            let mut all = hdrhistogram::Histogram::<u64>::new(3).expect("hist");
            for t in tasks {
                let h = t.await.expect("task");
                all.add(&h).expect("add");
            }
            (all.len(), all)
        });
        println!(
            "sync_flush/{n:<2} appenders: {:>8.0} msgs/s  p50 {:>6} us  p99 {:>6} us  p99.9 {:>6} us  max {:>6} us",
            count as f64 / secs,
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.99),
            hist.value_at_quantile(0.999),
            hist.max()
        );
        store.shutdown().expect("shutdown");
    }
}

fn bench_read_and_index(c: &mut Criterion) {
    let dir = tmp();
    let store = MessageStore::open(cfg(dir.path(), FlushDiskType::Async)).expect("open");
    store.start().expect("start");
    let body = Bytes::from(vec![b'r'; 1024]);
    let n: u64 =
        std::env::var("BACKLOG_MSGS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let queues = 8i32;
    let t = Instant::now();
    for i in 0..n {
        let r = store.put_message(message("BenchR", (i % queues as u64) as i32, i, &body)).result;
        assert_eq!(r.status, PutMessageStatus::PutOk);
    }
    let fill = t.elapsed();
    eprintln!(
        "backlog: {} msgs ({:.2} GiB) written in {:.2} s = {:.0} msgs/s",
        n,
        store.get_max_phy_offset() as f64 / (1u64 << 30) as f64,
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64()
    );
    let per_queue = n as i64 / queues as i64;
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(32));
    let mut cursor = 0i64;
    let mut q = 0i32;
    g.bench_function("backlog_get_message_32", |b| {
        b.iter(|| {
            let r = store.get_message("g", "BenchR", q, cursor, 32, 256 * 1024, None);
            cursor = r.next_begin_offset;
            if cursor >= per_queue {
                cursor = 0;
                q = (q + 1) % queues;
            }
            r.msg_count
        })
    });
    g.throughput(Throughput::Elements(1));
    let mut k = 0u64;
    g.bench_function("index_lookup_uniq_key", |b| {
        b.iter(|| {
            k = (k + 7919) % n;
            let r = store.query_message("BenchR", &format!("{k:032X}"), 32, 0, i64::MAX);
            assert!(!r.messages.is_empty());
            r.messages.len()
        })
    });
    g.finish();
    store.shutdown().expect("shutdown");
    drop(store);
    // Restart after a clean stop: no commit-log scan, only the consume queues' last files.
    let t = Instant::now();
    let store = MessageStore::open(cfg(dir.path(), FlushDiskType::Async)).expect("reopen");
    println!(
        "recovery after clean stop: {:.2} GiB log, {} queues: {:.1} ms",
        store.get_max_phy_offset() as f64 / (1u64 << 30) as f64,
        queues,
        t.elapsed().as_secs_f64() * 1000.0
    );
    store.halt();
    drop(store);
    // Restart after a crash (abort file left): CRC scan from the checkpointed file + replay.
    let t = Instant::now();
    let store = MessageStore::open(cfg(dir.path(), FlushDiskType::Async)).expect("reopen");
    println!("recovery after crash (abort file): {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);
    store.shutdown().expect("shutdown");
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    if std::env::var_os("ONLY_SYNC").is_some() {
        sync_flush_report();
        return;
    }
    append_cpu_report();
    if std::env::var_os("ONLY_CUSTOM").is_some() {
        return;
    }
    bench_append(&mut c);
    if std::env::var_os("SKIP_SYNC").is_none() {
        sync_flush_report();
    }
    bench_read_and_index(&mut c);
    c.final_summary();
}
