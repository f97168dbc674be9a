//! Shared helpers of the presence end-to-end tests: a chat cluster whose gateways run the
//! presence extension with test timings, plus the `presence-service` process.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use chat_e2e::{Cluster, ClusterOpts, DdpClient};
use serde_json::{json, Value};

/// Gateway batch period and presence tick in tests (ms).
pub const SYNC_MS: u64 = 1000;
/// Lease = 3 × SYNC.
pub const LEASE: Duration = Duration::from_millis(3 * SYNC_MS);

fn presence_env() -> Vec<(String, String)> {
    vec![
        ("SYNC_INTERVAL".into(), SYNC_MS.to_string()),
        ("PRESENCE_QUEUES".into(), "8".into()),
        ("MAX_PRESENCE_WATCH".into(), "1000".into()),
        ("PRESENCE_BROADCAST_ALL".into(), "true".into()),
    ]
}

/// A chat cluster (no observers: presence does not need them) with presence-enabled gateways.
pub async fn cluster(gateways: usize) -> Cluster {
    Cluster::start(ClusterOpts {
        gateways,
        observers: 0,
        gateway_env: presence_env(),
        observer_env: Vec::new(),
    })
    .await
}

pub use chat_e2e::presence::PresenceProc;

/// Start `presence-service` against `c` with the test timings (plus `extra`) and wait until
/// `/ready`.
pub async fn spawn_presence(
    c: &Cluster,
    port: Option<u16>,
    extra: &[(&str, &str)],
) -> PresenceProc {
    let sync = SYNC_MS.to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("SYNC_INTERVAL", &sync),
        ("GATEWAY_LEASE_MISSES", "3"),
        ("CACHE_TTL", "10"),
        ("BROKER_HEARTBEAT_INTERVAL", "1000"),
        ("LOCK_INTERVAL", "1000"),
    ];
    env.extend_from_slice(extra);
    chat_e2e::presence::spawn_presence(c, port, &env).await
}

/// Log `n` users (`<prefix><i>` for i in range) into `url`, 50 at a time.
pub async fn login_many(
    c: &Cluster,
    url: &str,
    prefix: &str,
    range: std::ops::Range<usize>,
) -> Vec<DdpClient> {
    let mut out = Vec::new();
    let ids: Vec<usize> = range.collect();
    for chunk in ids.chunks(50) {
        let futs = chunk.iter().map(|i| {
            let token = c.token(&format!("{prefix}{i}"));
            let url = url.to_string();
            async move { DdpClient::login(&url, &token).await.expect("login") }
        });
        out.extend(futures::future::join_all(futs).await);
    }
    out
}

/// Subscribe `client` to the presence of `uids`.
pub async fn watch(client: &DdpClient, uids: &[String]) {
    client
        .sub("stream-user-presence", json!(["", {"added": uids, "removed": []}]))
        .await
        .expect("stream-user-presence ready");
}

/// Drain presence events from `client` for `d`: uid → statuses seen in order.
pub async fn drain_presence(client: &DdpClient, d: Duration) -> Vec<(String, i64, Instant)> {
    let end = tokio::time::Instant::now() + d;
    let mut out = Vec::new();
    let mut rx = client.events.lock().await;
    while let Ok(Some(ev)) = tokio::time::timeout_at(end, rx.recv()).await {
        if ev.collection == "stream-user-presence" {
            out.push((
                ev.event_name.clone(),
                ev.args.get(1).and_then(Value::as_i64).unwrap_or(-1),
                ev.at,
            ));
        }
    }
    out
}

/// How long until `f` holds (polled by the shared helper), or `None` after `deadline`.
pub async fn time_until(deadline: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    mq_test_support::poll_until(deadline, || std::future::ready(f())).await?;
    Some(start.elapsed())
}
