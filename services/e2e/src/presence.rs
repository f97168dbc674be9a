//! The `presence-service` process next to a [`Cluster`].

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::cluster::Cluster;
use crate::proc::{bin_dir, free_port, http_get, Proc};
use crate::wait_until;

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

/// Start `presence-service` against `c` on `port` (a free one when `None`) with the cluster's
/// nameserver and offsets dir plus `extra` environment (later keys win), and wait until it
/// answers `/ready`.
pub async fn spawn_presence(
    c: &Cluster,
    port: Option<u16>,
    extra: &[(&str, &str)],
) -> PresenceProc {
    // Never a stale binary: built with the workspace's binaries if missing or older than the sources.
    bin_dir();
    mq_test_support::ensure_bins(&["presence-service"]);
    let port = port.unwrap_or_else(free_port);
    let mut env: Vec<(String, String)> = vec![
        ("NAMESRV_ADDR".into(), c.namesrv_addr.clone()),
        ("PORT".into(), port.to_string()),
        ("BIND_ADDR".into(), "127.0.0.1".into()),
        ("INSTANCE_ID".into(), "presence-1".into()),
        // As the gateways' (Cluster::common_env): nothing left under /tmp when SIGKILLed.
        ("OFFSETS_DIR".into(), c.dir().display().to_string()),
        ("RUST_LOG".into(), std::env::var("SERVICES_LOG").unwrap_or_else(|_| "info".into())),
    ];
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
