//! Producer mode: `w` senders sharing one producer, each keeping `inflight` requests in flight
//! (1 = send-and-wait, as Apache's tool), optionally at a fixed total rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use mq_client::{Message, Producer};
use serde_json::json;

use crate::grpc::Grpc;
use crate::payload;
use crate::stats::{self, Stats};
use crate::ProduceArgs;

/// Where the senders send: the remoting producer, or a gRPC endpoint (`--grpc`).
#[derive(Clone)]
pub enum Sink {
    /// `mq-client`'s producer (remoting).
    Remoting(Producer),
    /// The 5.x gRPC protocol (SendMessage, one message per request).
    Grpc(Box<Grpc>),
}

impl Sink {
    async fn send(&self, msgs: Vec<Message>, id: impl Fn(usize) -> String) -> anyhow::Result<()> {
        match self {
            Sink::Remoting(p) if msgs.len() == 1 => {
                let m = msgs.into_iter().next().expect("one message");
                p.send(m).await.map(|_| ())?;
            }
            Sink::Remoting(p) => p.send_batch(&msgs).await.map(|_| ())?,
            Sink::Grpc(g) => {
                for (i, m) in msgs.into_iter().enumerate() {
                    g.send(m, id(i)).await?;
                }
            }
        }
        Ok(())
    }
}

/// Start a producer for the benchmark.
pub async fn producer(a: &ProduceArgs) -> anyhow::Result<Producer> {
    let mut b = Producer::builder();
    if let Some(c) = a.common.auth.credentials() {
        b = b.credentials(c.access_key, c.secret_key);
    }
    if let Some(ca) = &a.common.auth.tls_ca {
        b = b.tls_ca(ca)?;
    }
    let p = b
        .namesrv_addr(&a.common.namesrv)
        .group(a.group.clone())
        .compress_threshold(usize::MAX)
        .auto_batch(a.auto_batch)
        .batch_max_delay(Duration::from_millis(a.batch_max_delay_ms))
        .batch_max_bytes(a.batch_max_bytes)
        .batch_flush_when_idle(!a.batch_java_flush)
        .start()
        .await?;
    // Resolve the route (and auto-create through TBW102 if needed) before timing anything.
    let queues = p.publish_queues(&a.common.topic).await?;
    anyhow::ensure!(!queues.is_empty(), "topic {} has no writable queue", a.common.topic);
    Ok(p)
}

/// Run the sender tasks until `stats` says stop. Each completed request records its latency in
/// a per-sender histogram, merged into `stats` at the end.
pub async fn spawn_senders(
    a: &ProduceArgs,
    p: Sink,
    stats: Arc<Stats>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let window = if a.sync { 1 } else { a.inflight.max(1) };
    let workers = a.workers.max(1);
    let filler = payload::filler(a.size.max(16));
    // Per-sender interval between scheduled requests (each request carries `batch` messages).
    let interval = if a.rate > 0.0 {
        Some(Duration::from_secs_f64(workers as f64 * a.batch.max(1) as f64 / a.rate))
    } else {
        None
    };
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let (p, stats, filler, a) = (p.clone(), stats.clone(), filler.clone(), a.clone());
        handles.push(tokio::spawn(async move {
            sender(w, a, p, stats, filler, window, interval).await;
        }));
    }
    handles
}

async fn sender(
    w: usize,
    a: ProduceArgs,
    p: Sink,
    stats: Arc<Stats>,
    filler: Bytes,
    window: usize,
    interval: Option<Duration>,
) {
    let mut hist = stats::histogram();
    let mut inflight = FuturesUnordered::new();
    let mut seq: u64 = 0;
    let pid = std::process::id(); // a syscall each time (glibc does not cache it)
    let start = Instant::now();
    let batch = a.batch.max(1);
    loop {
        while inflight.len() < window && !stats.stopped() {
            // With a fixed rate the latency clock starts at the scheduled time, not when we got
            // round to sending (coordinated-omission correction, as wrk2).
            let scheduled = match interval {
                Some(iv) => {
                    let at = start + iv.mul_f64(seq as f64);
                    if at > Instant::now() && inflight.is_empty() {
                        tokio::time::sleep_until(at.into()).await;
                    } else if at > Instant::now() {
                        break;
                    }
                    at
                }
                None => Instant::now(),
            };
            let msgs: Vec<Message> =
                (0..batch).map(|i| make_message(&a, w, seq, i, &filler)).collect();
            seq += 1;
            let p = p.clone();
            let n = seq;
            // Boxed: a send's future (the gRPC call's state) is kilobytes, and the set would
            // otherwise move it byte by byte on every push (a tenth of the gRPC client's CPU).
            inflight.push(Box::pin(async move {
                let id = |i: usize| format!("{pid:08X}{w:04X}{n:012X}{i:04X}");
                (scheduled, p.send(msgs, id).await)
            }));
        }
        let next = if interval.is_some() && inflight.len() < window && !stats.stopped() {
            // Wake up for the next scheduled send even if nothing completes.
            tokio::select! {
                r = inflight.next() => r,
                _ = tokio::time::sleep(Duration::from_micros(200)) => continue,
            }
        } else {
            inflight.next().await
        };
        match next {
            Some((t0, Ok(()))) => {
                if stats.measuring() {
                    let _ = hist.record(t0.elapsed().as_micros().max(1) as u64);
                }
                stats.add_ok(batch as u64, (batch * a.size) as u64);
            }
            Some((_, Err(e))) => {
                tracing::debug!(error = %e, "send failed");
                stats.add_failed();
            }
            None => break,
        }
        if stats.stopped() && inflight.is_empty() {
            break;
        }
    }
    let _ = stats.hist.lock().add(&hist);
}

fn make_message(a: &ProduceArgs, w: usize, seq: u64, i: usize, filler: &Bytes) -> Message {
    let mut m =
        Message::new(a.common.topic.clone(), payload::body(a.size, payload::now_micros(), filler));
    if !a.tag.is_empty() {
        m.set_tags(a.tag.clone());
    }
    if a.keys {
        m.set_keys([format!("k{w}-{seq}-{i}")]);
    }
    if a.timer_window > 0.0 || a.timer_lead > 0.0 {
        // Spread uniformly over the window (a cheap hash of the message's identity: the
        // deliveries arrive at a steady rate whatever the send order).
        let h = (w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (seq.wrapping_mul(64) + i as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        let offset = ((h >> 11) as f64 / (1u64 << 53) as f64) * a.timer_window;
        let at = payload::now_micros() / 1000 + ((a.timer_lead + offset) * 1000.0) as u64;
        m.set_deliver_time_ms(at as i64);
    }
    if a.prop_mod > 0 {
        // The message number of this sender: `seq` counts requests of `a.batch` messages.
        m.put_property("n", ((seq * a.batch as u64 + i as u64) % a.prop_mod).to_string());
    }
    m
}

/// `mqbench producer`.
pub async fn run(a: ProduceArgs) -> anyhow::Result<()> {
    let (sink, p) = match &a.grpc {
        Some(addr) => {
            anyhow::ensure!(a.batch <= 1, "--grpc sends one message per request (no -b)");
            (Sink::Grpc(Box::new(Grpc::connect(addr).await?)), None)
        }
        None => {
            let p = producer(&a).await?;
            (Sink::Remoting(p.clone()), Some(p))
        }
    };
    let stats = Stats::new();
    let senders = spawn_senders(&a, sink, stats.clone()).await;
    stats::supervise(
        stats.clone(),
        "send",
        crate::secs(a.common.warmup),
        crate::secs(a.common.duration),
        a.common.count,
    )
    .await;
    for h in senders {
        let _ = h.await;
    }
    if let Some(p) = p {
        p.shutdown().await;
    }
    let extra = json!({
        "size": a.size, "workers": a.workers, "inflight": if a.sync { 1 } else { a.inflight },
        "batch": a.batch, "rate": a.rate,
        "auto_batch": a.auto_batch.then(|| json!({
            "max_delay_ms": a.batch_max_delay_ms, "max_bytes": a.batch_max_bytes,
            "flush_when_idle": !a.batch_java_flush,
        })), "topic": a.common.topic,
        "protocol": if a.grpc.is_some() { "grpc" } else { "remoting" },
        "timer_lead_s": a.timer_lead, "timer_window_s": a.timer_window,
    });
    stats::report(&stats, "Send", &a.common, extra, None);
    Ok(())
}
