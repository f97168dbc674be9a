//! RabbitMQ streams through the stream protocol. The in-flight depth is a semaphore of
//! `inflight * batch` permits, one given back per confirmation: the confirm window.
//!
//! On `rabbitmq-stream-client` 0.3: from 0.4 on the client opens every connection with
//! ExchangeCommandVersions, a command RabbitMQ added in 3.13, and 3.10 (Debian 12's) closes
//! the connection on it. 0.3's producer queues single sends in an accumulator that is flushed
//! when it holds `batch_size` messages or every `batch_delay`; the driver sets the size to the
//! confirm window (at most the client's default of 100) and the delay to 1 ms, so a send never
//! waits for a timer it would not wait for on a newer client. Batch sends are one frame each.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hdrhistogram::Histogram;
use rabbitmq_stream_client::error::StreamCreateError;
use rabbitmq_stream_client::types::{Message, OffsetSpecification, ResponseCode};
use rabbitmq_stream_client::{Environment, NoDedup, Producer};
use tokio::sync::Semaphore;

use crate::record::{histogram, now_us, record, stamp_of, stamped_body, WINDOW_WAIT};
use crate::Cmd;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Confirmation counts and send -> confirm latencies of one phase (warm-up or measured).
#[derive(Default)]
struct Acks {
    acked: AtomicU64,
    failed: AtomicU64,
    hist: Mutex<Option<Histogram<u64>>>,
}

pub async fn run(host: &str, port: u16, stream: &str, cmd: Cmd) -> Res<serde_json::Value> {
    let env = Environment::builder().host(host).port(port).build().await?;
    match env.stream_creator().create(stream).await {
        Ok(())
        | Err(StreamCreateError::Create { status: ResponseCode::StreamAlreadyExists, .. }) => {}
        Err(e) => return Err(e.into()),
    }
    match cmd {
        Cmd::Produce { size, inflight, batch, count, duration, warmup } => {
            let (inflight, batch) = (inflight.max(1), batch.max(1));
            let producer = producer(&env, stream, inflight * batch).await?;
            let payload = vec![b'a'; size];
            // Warm-up: not measured.
            let warm = Arc::new(Acks::default());
            publish(&producer, &payload, inflight, batch, 0, Duration::from_secs(warmup), &warm)
                .await?;
            let acks = Arc::new(Acks { hist: Mutex::new(Some(histogram())), ..Default::default() });
            let t0 = Instant::now();
            publish(
                &producer,
                &payload,
                inflight,
                batch,
                count,
                Duration::from_secs(duration),
                &acks,
            )
            .await?;
            let secs = t0.elapsed().as_secs_f64();
            let _ = producer.close().await;
            let hist = acks.hist.lock().expect("hist lock").take();
            Ok(record(
                "rabbitmq",
                acks.acked.load(Ordering::Relaxed),
                acks.failed.load(Ordering::Relaxed),
                secs,
                hist.as_ref(),
            ))
        }
        Cmd::Consume { count } => {
            let mut consumer =
                env.consumer().offset(OffsetSpecification::First).build(stream).await?;
            let t0 = Instant::now();
            let mut n = 0u64;
            while n < count {
                match tokio::time::timeout(Duration::from_secs(10), consumer.next()).await {
                    Ok(Some(Ok(_))) => n += 1,
                    Ok(Some(Err(e))) => return Err(e.into()),
                    // Idle for 10 s or closed: report what was read.
                    Ok(None) | Err(_) => break,
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            let _ = consumer.handle().close().await;
            Ok(record("rabbitmq", n, count - n, secs, None))
        }
        Cmd::E2e { size, rate, inflight, duration, warmup } => {
            e2e(&env, stream, size, rate, inflight, warmup, duration).await
        }
    }
}

/// Publish until `count` messages (when > 0) or `duration` passed with at most `inflight`
/// requests of `batch` messages unconfirmed, then wait for the outstanding confirmations.
async fn publish(
    producer: &Producer<NoDedup>,
    payload: &[u8],
    inflight: usize,
    batch: usize,
    count: u64,
    duration: Duration,
    acks: &Arc<Acks>,
) -> Res<()> {
    let window = inflight * batch;
    let permits = Arc::new(Semaphore::new(window));
    let end = Instant::now() + duration;
    let mut sent = 0u64;
    while if count > 0 { sent < count } else { Instant::now() < end } {
        tokio::time::timeout(WINDOW_WAIT, permits.acquire_many(batch as u32)).await??.forget();
        let at = Instant::now();
        let confirm = {
            let (acks, permits) = (acks.clone(), permits.clone());
            move |ok: bool| {
                if ok {
                    acks.acked.fetch_add(1, Ordering::Relaxed);
                } else {
                    acks.failed.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(h) = acks.hist.lock().expect("hist lock").as_mut() {
                    let _ = h.record(at.elapsed().as_micros() as u64);
                }
                permits.add_permits(1);
            }
        };
        if batch == 1 {
            let msg = Message::builder().body(payload.to_vec()).build();
            producer
                .send(msg, move |s| {
                    confirm(s.is_ok_and(|c| c.confirmed()));
                    std::future::ready(())
                })
                .await?;
        } else {
            let msgs =
                (0..batch).map(|_| Message::builder().body(payload.to_vec()).build()).collect();
            producer
                .batch_send(msgs, move |s| {
                    confirm(s.is_ok_and(|c| c.confirmed()));
                    std::future::ready(())
                })
                .await?;
        }
        sent += batch as u64;
    }
    // Every confirmation back (bounded: a lost confirm must not hang the run).
    tokio::time::timeout(Duration::from_secs(30), permits.acquire_many(window as u32))
        .await??
        .forget();
    Ok(())
}

/// A producer whose accumulator sends a frame at `window` queued messages (at most 100, the
/// client's default) or after 1 ms.
async fn producer(env: &Environment, stream: &str, window: usize) -> Res<Producer<NoDedup>> {
    Ok(env
        .producer()
        .batch_size(window.clamp(1, 100))
        .batch_delay(Duration::from_millis(1))
        .build(stream)
        .await?)
}

/// Send at `rate` msgs/s (due messages sent every millisecond, so a stall is caught up, not
/// skipped) and read them back with one consumer; latency = receipt - body stamp, recorded
/// after the warm-up.
async fn e2e(
    env: &Environment,
    stream: &str,
    size: usize,
    rate: u64,
    inflight: usize,
    warmup: u64,
    duration: u64,
) -> Res<serde_json::Value> {
    let mut consumer = env.consumer().offset(OffsetSpecification::Next).build(stream).await?;
    // Single-message frames: a rate of 10 per ms would otherwise wait for the 1 ms flush.
    let producer = producer(env, stream, 1).await?;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (measuring, stop) = (measuring.clone(), stop.clone());
        tokio::spawn(async move {
            let mut hist = histogram();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(200), consumer.next()).await {
                    Ok(Some(Ok(d))) => {
                        if measuring.load(Ordering::Relaxed) {
                            if let Some(t) = d.message().data().and_then(stamp_of) {
                                let _ = hist.record(now_us().saturating_sub(t).max(1));
                                n += 1;
                            }
                        }
                    }
                    Ok(Some(Err(_))) | Ok(None) => break,
                    Err(_) => {}
                }
            }
            let _ = consumer.handle().close().await;
            (n, hist)
        })
    };
    let permits = Arc::new(Semaphore::new(inflight.max(1)));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let (warm_end, end) =
        (start + Duration::from_secs(warmup), start + Duration::from_secs(warmup + duration));
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut sent = 0u64;
    let mut t_measure = start;
    while Instant::now() < end {
        tick.tick().await;
        if !measuring.load(Ordering::Relaxed) && Instant::now() >= warm_end {
            measuring.store(true, Ordering::Relaxed);
            t_measure = Instant::now();
        }
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            tokio::time::timeout(WINDOW_WAIT, permits.acquire()).await??.forget();
            let (permits, failed) = (permits.clone(), failed.clone());
            let msg = Message::builder().body(stamped_body(size)).build();
            producer
                .send(msg, move |s| {
                    if !s.is_ok_and(|c| c.confirmed()) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    permits.add_permits(1);
                    std::future::ready(())
                })
                .await?;
            sent += 1;
        }
    }
    let secs = t_measure.elapsed().as_secs_f64();
    // Let the last sends arrive, then stop the reader.
    let _ =
        tokio::time::timeout(Duration::from_secs(5), permits.acquire_many(inflight.max(1) as u32))
            .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (n, hist) = reader.await?;
    let _ = producer.close().await;
    Ok(record("rabbitmq", n, failed.load(Ordering::Relaxed), secs, Some(&hist)))
}
