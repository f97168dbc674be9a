//! End-to-end mode: a producer and a consumer together; the reported latency is from the send
//! time stamped in each body to its receipt by the consumer.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::stats::{self, Stats};
use crate::{consume, produce, E2eArgs};

/// `mqbench e2e`.
pub async fn run(a: E2eArgs) -> anyhow::Result<()> {
    let p = produce::producer(&a.produce).await?;
    // Make sure the topic exists (auto-created through TBW102 on the first send) before the
    // consumer looks up its route; otherwise it would find no queues to consume.
    p.send(mq_client::Message::new(a.produce.common.topic.clone(), "mqbench e2e warm-up")).await?;
    let consumed = Stats::new();
    let group = a.consumer_group.clone().unwrap_or_else(|| consume::fresh_group("benchmark_e2e"));
    let spec = consume::ConsumerSpec {
        namesrv: &a.produce.common.namesrv,
        auth: &a.produce.common.auth,
        topic: &a.produce.common.topic,
        expr: "*",
        sql: None,
        group: &group,
        from_first: false,
        pull_batch: 32,
        concurrency: 20,
    };
    let c = consume::consumer(spec, consumed.clone(), Arc::new(AtomicI64::new(0))).await?;
    // Let the consumer take its queues before producing (it starts from the last offset).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while c.assigned_queues().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::ensure!(
        !c.assigned_queues().is_empty(),
        "the consumer got no queue of {} within 30 s",
        a.produce.common.topic
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = Stats::new();
    let senders =
        produce::spawn_senders(&a.produce, produce::Sink::Remoting(p.clone()), sent.clone()).await;
    let common = &a.produce.common;
    let sup_sent = tokio::spawn(stats::supervise(
        sent.clone(),
        "send",
        crate::secs(common.warmup),
        crate::secs(common.duration),
        common.count,
    ));
    stats::supervise(
        consumed.clone(),
        "receive",
        crate::secs(common.warmup),
        crate::secs(common.duration),
        common.count,
    )
    .await;
    let _ = sup_sent.await;
    for h in senders {
        let _ = h.await;
    }
    p.shutdown().await;
    c.shutdown().await;
    let extra = json!({ "size": a.produce.size, "rate": a.produce.rate, "topic": common.topic, "group": group });
    stats::report(&sent, "Send", common, extra.clone(), None);
    stats::report(&consumed, "E2E", common, extra, Some(consume::second_label()));
    Ok(())
}
