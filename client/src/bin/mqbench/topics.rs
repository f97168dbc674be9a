//! Topics mode: create many topics on one broker (UPDATE_AND_CREATE_TOPIC, as
//! `mqadmin updateTopic -b`) to measure the broker's memory per topic and its create rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mq_client::admin::{Admin, BrokerTarget};
use mq_common::protocol::body::TopicConfig;
use serde_json::json;

use crate::TopicsArgs;

/// `mqbench topics`.
pub async fn run(a: TopicsArgs) -> anyhow::Result<()> {
    let admin = Admin::with_security(
        mq_client::options::parse_namesrv_addrs(&a.namesrv),
        std::time::Duration::from_secs(3),
        a.auth.credentials(),
        a.auth.tls()?,
    )?;
    let broker = match &a.broker {
        Some(b) => b.clone(),
        None => {
            let masters = admin.master_addrs(None).await?;
            masters
                .into_iter()
                .next()
                .ok_or_else(|| anyhow::anyhow!("no broker registered with {}", a.namesrv))?
        }
    };
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency.max(1) {
        let (admin, next, failed, broker, a) =
            (admin.clone(), next.clone(), failed.clone(), broker.clone(), a.clone());
        tasks.push(tokio::spawn(async move {
            let target = BrokerTarget::Addr(broker);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= a.count {
                    break;
                }
                let tc = TopicConfig::new(format!("{}{i}", a.prefix), a.queues, 6);
                if let Err(e) = admin.create_topic(&target, &tc).await {
                    if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("create {}: {e}", tc.topic_name);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    eprintln!(
        "created {} topics ({} failed) on {broker} in {secs:.2} s ({:.0}/s)",
        a.count - failed,
        failed,
        a.count as f64 / secs
    );
    if a.json {
        println!(
            "{}",
            json!({ "mode": "topics", "broker": broker, "count": a.count, "failed": failed, "queues": a.queues, "secs": secs })
        );
    }
    admin.close();
    Ok(())
}
