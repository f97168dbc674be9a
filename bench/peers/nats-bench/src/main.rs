//! JetStream load generator for `bench/compare.sh PEER=nats`, shaped like `mqbench`: one
//! publisher with N acknowledged publishes in flight (N=1: one at a time), a reader
//! draining a backlog, or an end-to-end run at a fixed rate (publish -> receipt by a pull
//! consumer, stamped in the body). Prints one JSON record on stdout (the fields compare.sh reads).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use futures::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;

#[derive(Parser)]
struct Args {
    /// Server URL.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    url: String,
    /// Stream name (created with file storage if absent).
    #[arg(long, default_value = "BENCH")]
    stream: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Publish `size`-byte messages with `inflight` acknowledgements outstanding.
    Produce {
        #[arg(short, long, default_value_t = 1024)]
        size: usize,
        #[arg(long, default_value_t = 256)]
        inflight: usize,
        /// Messages to publish (0: run for `duration`).
        #[arg(long, default_value_t = 0)]
        count: u64,
        #[arg(long, default_value_t = 10)]
        duration: u64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
    },
    /// Read `count` stored messages from the start of the stream (no acks).
    Consume {
        #[arg(long)]
        count: u64,
    },
    /// Publish at `rate` msgs/s (at most `inflight` unacknowledged) while a pull consumer reads
    /// the new messages; latency from the body's publish stamp to receipt.
    E2e {
        #[arg(short, long, default_value_t = 1024)]
        size: usize,
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        #[arg(long, default_value_t = 64)]
        inflight: usize,
        #[arg(long, default_value_t = 10)]
        duration: u64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
    },
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let client = async_nats::connect(&a.url).await?;
    let js = jetstream::new(client);
    let st = js
        .get_or_create_stream(stream::Config {
            name: a.stream.clone(),
            subjects: vec![format!("{}.>", a.stream.to_lowercase())],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let subject = format!("{}.m", a.stream.to_lowercase());
    match a.cmd {
        Cmd::Produce { size, inflight, count, duration, warmup } => {
            let payload = Bytes::from(vec![b'a'; size]);
            // Warm-up: not measured.
            run(&js, &subject, &payload, inflight, 0, Duration::from_secs(warmup), None).await?;
            let mut hist = Histogram::<u64>::new(3)?;
            let t0 = Instant::now();
            let (sent, failed) = run(
                &js,
                &subject,
                &payload,
                inflight,
                count,
                Duration::from_secs(duration),
                Some(&mut hist),
            )
            .await?;
            let secs = t0.elapsed().as_secs_f64();
            print_record(sent, failed, secs, Some(&hist));
        }
        Cmd::Consume { count } => {
            let c = st
                .get_or_create_consumer(
                    "bench-reader",
                    consumer::pull::Config {
                        durable_name: Some("bench-reader".into()),
                        ack_policy: consumer::AckPolicy::None,
                        deliver_policy: consumer::DeliverPolicy::All,
                        ..Default::default()
                    },
                )
                .await?;
            let mut msgs = c.stream().max_messages_per_batch(1000).messages().await?;
            let t0 = Instant::now();
            let mut n = 0u64;
            while n < count {
                match msgs.next().await {
                    Some(Ok(_)) => n += 1,
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                }
            }
            print_record(n, 0, t0.elapsed().as_secs_f64(), None);
        }
        Cmd::E2e { size, rate, inflight, duration, warmup } => {
            e2e(&js, &st, &subject, size, rate, inflight, warmup, duration).await?;
        }
    }
    Ok(())
}

/// Microseconds since the Unix epoch: the stamp an e2e body starts with (one process, one clock).
fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Publish at `rate` msgs/s (the messages due are sent every millisecond, so a stall is caught
/// up, not skipped) while a pull consumer from "new" reads them; receipt - stamp is recorded
/// after the warm-up.
#[allow(clippy::too_many_arguments)]
async fn e2e(
    js: &jetstream::Context,
    st: &stream::Stream,
    subject: &str,
    size: usize,
    rate: u64,
    inflight: usize,
    warmup: u64,
    duration: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let c = st
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await?;
    let mut msgs = c.stream().max_messages_per_batch(1000).messages().await?;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (measuring, stop) = (measuring.clone(), stop.clone());
        tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), msgs.next()).await {
                    Ok(Some(Ok(m))) => {
                        if measuring.load(Ordering::Relaxed) && m.payload.len() >= 8 {
                            let t = u64::from_le_bytes(m.payload[..8].try_into().expect("8 bytes"));
                            let _ = hist.record(now_us().saturating_sub(t).max(1));
                            n += 1;
                        }
                    }
                    Ok(Some(Err(_))) | Ok(None) => break,
                    Err(_) => {}
                }
            }
            (n, hist)
        })
    };
    let start = Instant::now();
    let (warm_end, end) =
        (start + Duration::from_secs(warmup), start + Duration::from_secs(warmup + duration));
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut pending = FuturesUnordered::new();
    let (mut sent, mut failed, mut t_measure) = (0u64, 0u64, start);
    while Instant::now() < end {
        tick.tick().await;
        if !measuring.load(Ordering::Relaxed) && Instant::now() >= warm_end {
            measuring.store(true, Ordering::Relaxed);
            t_measure = Instant::now();
        }
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            while pending.len() >= inflight.max(1) {
                if let Some(Err(_)) = pending.next().await {
                    failed += 1;
                }
            }
            let mut body = vec![b'a'; size.max(8)];
            body[..8].copy_from_slice(&now_us().to_le_bytes());
            let ack = js.publish(subject.to_string(), Bytes::from(body)).await?;
            pending.push(async move { ack.await });
            sent += 1;
        }
        // Collect acknowledgements that are already in without waiting.
        while let Some(Some(r)) = futures::FutureExt::now_or_never(pending.next()) {
            if r.is_err() {
                failed += 1;
            }
        }
    }
    let secs = t_measure.elapsed().as_secs_f64();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(r) = pending.next().await {
            if r.is_err() {
                failed += 1;
            }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (n, hist) = reader.await?;
    print_record(n, failed, secs, Some(&hist));
    Ok(())
}

/// Publish until `count` messages (when > 0) or `duration` passed, with at most `inflight`
/// unacknowledged; latency from publish to acknowledgement into `hist`.
async fn run(
    js: &jetstream::Context,
    subject: &str,
    payload: &Bytes,
    inflight: usize,
    count: u64,
    duration: Duration,
    mut hist: Option<&mut Histogram<u64>>,
) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let end = Instant::now() + duration;
    let mut pending = FuturesUnordered::new();
    let (mut sent, mut acked, mut failed) = (0u64, 0u64, 0u64);
    loop {
        let more = if count > 0 { sent < count } else { Instant::now() < end };
        if more && pending.len() < inflight.max(1) {
            let ack = js.publish(subject.to_string(), payload.clone()).await?;
            let at = Instant::now();
            pending.push(async move { (at, ack.await) });
            sent += 1;
            continue;
        }
        match pending.next().await {
            Some((at, r)) => {
                match r {
                    Ok(_) => acked += 1,
                    Err(_) => failed += 1,
                }
                if let Some(h) = hist.as_deref_mut() {
                    let _ = h.record(at.elapsed().as_micros() as u64);
                }
            }
            None => break,
        }
    }
    Ok((acked, failed))
}

fn print_record(msgs: u64, failed: u64, secs: f64, hist: Option<&Histogram<u64>>) {
    let q = |p: f64| hist.map_or(0, |h| h.value_at_quantile(p));
    let rec = serde_json::json!({
        "system": "nats",
        "msgs": msgs,
        "failed": failed,
        "msgs_s": msgs as f64 / secs.max(1e-9),
        "p50_us": q(0.5),
        "p99_us": q(0.99),
        "max_us": hist.map_or(0, |h| h.max()),
    });
    println!("{rec}");
}
