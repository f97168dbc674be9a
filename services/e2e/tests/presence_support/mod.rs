//! Shared helpers of the presence end-to-end tests: a chat cluster whose gateways run the
//! presence extension with test timings, plus the `presence-service` process.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chat_e2e::proc::{bin_dir, free_port, http_get, Proc};
use chat_e2e::{wait_until, Cluster, ClusterOpts, DdpClient};
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

/// A running presence service.
pub struct PresenceProc {
    /// The process.
    pub proc: Proc,
    /// HTTP port.
    pub port: u16,
}

impl PresenceProc {
    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// GET a JSON document.
    pub fn get(&self, path: &str) -> Value {
        match http_get(&self.addr(), path) {
            Ok((200, body)) => serde_json::from_str(&body).unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// Users online according to `/v1/stats` (-1 when unreachable).
    pub fn online(&self) -> i64 {
        self.get("/v1/stats")["users"]["online"].as_i64().unwrap_or(-1)
    }

    /// `/v1/status/<uid>` status.
    pub fn status(&self, uid: &str) -> String {
        self.get(&format!("/v1/status/{uid}"))["status"].as_str().unwrap_or("?").to_string()
    }

    /// Statuses of many users (batches of 500).
    pub fn statuses(&self, uids: &[String]) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for chunk in uids.chunks(500) {
            let v = self.get(&format!("/v1/status?uids={}", chunk.join(",")));
            for u in v.as_array().into_iter().flatten() {
                out.insert(
                    u["uid"].as_str().unwrap_or("").to_string(),
                    u["status"].as_str().unwrap_or("?").to_string(),
                );
            }
        }
        out
    }
}

/// Start `presence-service` against `c` and wait until `/ready`.
pub async fn spawn_presence(
    c: &Cluster,
    port: Option<u16>,
    extra: &[(&str, &str)],
) -> PresenceProc {
    // Never a stale binary: built with the workspace's binaries if missing or older than the sources.
    bin_dir();
    mq_test_support::ensure_bins(&["presence-service"]);
    let port = port.unwrap_or_else(free_port);
    let env: Vec<(String, String)> = vec![
        ("NAMESRV_ADDR".into(), c.namesrv_addr.clone()),
        ("PORT".into(), port.to_string()),
        ("BIND_ADDR".into(), "127.0.0.1".into()),
        ("INSTANCE_ID".into(), "presence-1".into()),
        ("SYNC_INTERVAL".into(), SYNC_MS.to_string()),
        ("GATEWAY_LEASE_MISSES".into(), "3".into()),
        ("CACHE_TTL".into(), "10".into()),
        ("BROKER_HEARTBEAT_INTERVAL".into(), "1000".into()),
        ("LOCK_INTERVAL".into(), "1000".into()),
        // As the gateways' (Cluster::common_env): nothing left under /tmp when SIGKILLed.
        ("OFFSETS_DIR".into(), c.dir().display().to_string()),
        ("RUST_LOG".into(), std::env::var("SERVICES_LOG").unwrap_or_else(|_| "info".into())),
    ];
    let mut env = env;
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let proc = Proc::spawn(c.dir(), "presence", "presence-service", &[], &env);
    let p = PresenceProc { proc, port };
    let addr = p.addr();
    wait_until("presence ready", Duration::from_secs(60), || {
        let addr = addr.clone();
        async move { matches!(http_get(&addr, "/ready"), Ok((200, _))) }
    })
    .await;
    p
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
