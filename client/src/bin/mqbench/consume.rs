//! Consumer mode: a push consumer that counts messages and records born→consume and
//! store→consume latency (µs when the body carries a benchmark stamp, else ms from the
//! message's born timestamp); for timer messages the second figure is the lateness, from
//! `TIMER_DELIVER_MS` to receipt.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mq_client::{ConsumeFromWhere, MessageExt, MessageSelector, PushConsumer, SimpleConsumer};
use mq_common::message::property::TIMER_DELIVER_MS;
use serde_json::json;

use crate::payload;
use crate::stats::{self, Stats};
use crate::ConsumeArgs;

/// What to consume and how.
pub struct ConsumerSpec<'a> {
    /// Name server address(es).
    pub namesrv: &'a str,
    /// Topic.
    pub topic: &'a str,
    /// Tag expression.
    pub expr: &'a str,
    /// SQL92 filter (replaces `expr`).
    pub sql: Option<&'a str>,
    /// Consumer group.
    pub group: &'a str,
    /// Start from the first offset instead of the last.
    pub from_first: bool,
    /// Messages per pull.
    pub pull_batch: i32,
    /// Handler concurrency.
    pub concurrency: usize,
    /// ACL credentials.
    pub auth: &'a crate::Auth,
}

/// Start a push consumer feeding `stats`: `hist` gets send→receipt, `hist2` store→receipt;
/// `last_arrival` holds the ms time of the latest message.
pub async fn consumer(
    spec: ConsumerSpec<'_>,
    stats: Arc<Stats>,
    last_arrival: Arc<AtomicI64>,
) -> anyhow::Result<PushConsumer> {
    let mut b = PushConsumer::builder();
    if let Some(c) = spec.auth.credentials() {
        b = b.credentials(c.access_key, c.secret_key);
    }
    if let Some(ca) = &spec.auth.tls_ca {
        b = b.tls_ca(ca)?;
    }
    let c = b
        .namesrv_addr(spec.namesrv)
        .group(spec.group.to_string())
        .subscribe_with(
            spec.topic.to_string(),
            match spec.sql {
                Some(sql) => MessageSelector::sql(sql),
                None => MessageSelector::tag(spec.expr),
            },
        )
        .consume_from(if spec.from_first {
            ConsumeFromWhere::First
        } else {
            ConsumeFromWhere::Last
        })
        .pull_batch_size(spec.pull_batch)
        .concurrency(spec.concurrency)
        .max_cached_msgs(4096)
        .rebalance_interval(Duration::from_secs(1))
        // A benchmark topic may have been auto-created a moment ago: learn its route quickly
        // rather than after the default 30 s refresh.
        .route_refresh_interval(Duration::from_secs(1))
        .start(move |msg: MessageExt| {
            let stats = stats.clone();
            let last = last_arrival.clone();
            async move {
                let now_us = payload::now_micros();
                last.store((now_us / 1000) as i64, Ordering::Relaxed);
                if stats.measuring() {
                    let sent_us = payload::stamp(&msg.body)
                        .unwrap_or((msg.born_timestamp.max(0) as u64) * 1000);
                    let _ = stats.hist.lock().record(now_us.saturating_sub(sent_us).max(1));
                    // Timer messages: lateness from the requested time instead of from the
                    // store time (an early one would be a bug: counted apart).
                    let from_us = match timer_deliver_ms(&msg) {
                        Some(at) => {
                            TIMERS_SEEN.fetch_add(1, Ordering::Relaxed);
                            if now_us < at * 1000 {
                                TIMERS_EARLY.fetch_add(1, Ordering::Relaxed);
                            }
                            at * 1000
                        }
                        None => (msg.store_timestamp.max(0) as u64) * 1000,
                    };
                    let _ = stats.hist2.lock().record(now_us.saturating_sub(from_us).max(1));
                }
                stats.add_ok(1, msg.body.len() as u64);
                Ok(())
            }
        })
        .await?;
    Ok(c)
}

/// Timer messages received while measuring, and how many of them before their time.
static TIMERS_SEEN: AtomicU64 = AtomicU64::new(0);
static TIMERS_EARLY: AtomicU64 = AtomicU64::new(0);

fn timer_deliver_ms(m: &MessageExt) -> Option<u64> {
    m.property(TIMER_DELIVER_MS).and_then(|v| v.parse().ok())
}

/// Label of the second histogram: timer lateness once timer messages were seen.
pub fn second_label() -> &'static str {
    let (seen, early) = (TIMERS_SEEN.load(Ordering::Relaxed), TIMERS_EARLY.load(Ordering::Relaxed));
    if seen == 0 {
        return "store_to_consume";
    }
    eprintln!("timer messages: {seen} received, {early} before their TIMER_DELIVER_MS");
    "timer_lateness"
}

/// A fresh group name.
pub fn fresh_group(prefix: &str) -> String {
    format!("{prefix}_{}", payload::now_micros() % 1_000_000_000)
}

/// Count one received message (as the push handler does).
fn record(stats: &Stats, last: &AtomicI64, body: &[u8], born_ms: i64, stored_ms: i64) {
    let now_us = payload::now_micros();
    last.store((now_us / 1000) as i64, Ordering::Relaxed);
    if stats.measuring() {
        let sent_us = payload::stamp(body).unwrap_or((born_ms.max(0) as u64) * 1000);
        let _ = stats.hist.lock().record(now_us.saturating_sub(sent_us).max(1));
        if stored_ms > 0 {
            let _ =
                stats.hist2.lock().record(now_us.saturating_sub(stored_ms as u64 * 1000).max(1));
        }
    }
    stats.add_ok(1, body.len() as u64);
}

/// `--pop`: `concurrency` loops each receiving a batch and acking it in one request.
async fn pop_loops(
    a: &ConsumeArgs,
    group: &str,
    stats: Arc<Stats>,
    last: Arc<AtomicI64>,
) -> anyhow::Result<(Vec<tokio::task::JoinHandle<()>>, Option<SimpleConsumer>)> {
    let batch = a.pull_batch.clamp(1, 32);
    let poll = Duration::from_secs(2);
    let mut loops = Vec::new();
    if let Some(addr) = &a.grpc {
        let g = crate::grpc::Grpc::connect(addr).await?;
        for _ in 0..a.concurrency.max(1) {
            let (g, stats, last) = (g.clone(), stats.clone(), last.clone());
            let (group, topic) = (group.to_string(), a.common.topic.clone());
            loops.push(tokio::spawn(async move {
                while !stats.stopped() {
                    match g.receive_and_ack(&group, &topic, batch, poll).await {
                        Ok(bodies) => {
                            for b in bodies {
                                record(&stats, &last, &b, 0, 0);
                            }
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "receive failed");
                            stats.add_failed();
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }));
        }
        return Ok((loops, None));
    }
    let selector = match &a.sql {
        Some(sql) => MessageSelector::sql(sql.clone()),
        None => MessageSelector::tag(a.expr.clone()),
    };
    let c = SimpleConsumer::builder()
        .namesrv_addr(&a.common.namesrv)
        .group(group.to_string())
        .subscribe(a.common.topic.clone(), selector)
        .await_duration(poll)
        .start()
        .await?;
    for _ in 0..a.concurrency.max(1) {
        let (c, stats, last) = (c.clone(), stats.clone(), last.clone());
        loops.push(tokio::spawn(async move {
            while !stats.stopped() {
                let got = match c.receive(batch, Duration::from_secs(30)).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!(error = %e, "receive failed");
                        stats.add_failed();
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                for m in &got {
                    let msg = &m.message;
                    record(&stats, &last, &msg.body, msg.born_timestamp, msg.store_timestamp);
                }
                if let Err(e) = c.ack_batch(&got).await {
                    tracing::debug!(error = %e, "ack failed");
                    stats.add_failed();
                }
            }
        }));
    }
    Ok((loops, Some(c)))
}

/// `mqbench consumer`.
pub async fn run(a: ConsumeArgs) -> anyhow::Result<()> {
    let stats = Stats::new();
    let group = a.group.clone().unwrap_or_else(|| fresh_group("benchmark_consumer"));
    let last = Arc::new(AtomicI64::new(0));
    anyhow::ensure!(a.grpc.is_none() || a.pop, "--grpc consumes by POP: add --pop");
    // Count from the start: a backlog drain is measured from the first pull.
    let spec = ConsumerSpec {
        namesrv: &a.common.namesrv,
        auth: &a.common.auth,
        topic: &a.common.topic,
        expr: &a.expr,
        sql: a.sql.as_deref(),
        group: &group,
        from_first: a.from_first,
        pull_batch: a.pull_batch,
        concurrency: a.concurrency,
    };
    let (c, pop) = if a.pop {
        (None, Some(pop_loops(&a, &group, stats.clone(), last.clone()).await?))
    } else {
        (Some(consumer(spec, stats.clone(), last.clone()).await?), None)
    };
    if a.idle_exit > 0.0 {
        let (stats, last, idle) = (stats.clone(), last.clone(), crate::secs(a.idle_exit));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let l = last.load(Ordering::Relaxed);
                if l > 0 && (payload::now_micros() / 1000) as i64 - l > idle.as_millis() as i64 {
                    stats.finish();
                    break;
                }
            }
        });
    }
    stats::supervise(
        stats.clone(),
        "consume",
        crate::secs(a.common.warmup),
        crate::secs(a.common.duration),
        a.common.count,
    )
    .await;
    if let Some(c) = c {
        c.shutdown().await;
    }
    if let Some((loops, simple)) = pop {
        for l in loops {
            let _ = l.await;
        }
        if let Some(s) = simple {
            s.shutdown().await;
        }
    }
    let mode = match (a.pop, &a.grpc) {
        (false, _) => "pull",
        (true, None) => "pop",
        (true, Some(_)) => "grpc-pop",
    };
    let extra = json!({ "group": group, "topic": a.common.topic, "pull_batch": a.pull_batch, "sql": a.sql, "consume_mode": mode });
    stats::report(&stats, "Consume", &a.common, extra, Some(second_label()));
    Ok(())
}
