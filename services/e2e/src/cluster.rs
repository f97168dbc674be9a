//! A whole chat deployment on loopback: nameserver, broker, observers and gateways.

use std::path::Path;
use std::time::Duration;

use chat_proto::jwt::{self, Claims};

use mq_test_support::{Stack, StackOptions};

use crate::proc::{free_port, http_get, metric, Proc, BINS};
use crate::wait_until;

/// The broker's name (the harness default).
const BROKER: &str = "broker-a";

/// The shared JWT secret of test clusters.
pub const SECRET: &str = "e2e-secret";

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterOpts {
    /// Number of gateways.
    pub gateways: usize,
    /// Number of observers.
    pub observers: usize,
    /// Extra environment for gateways.
    pub gateway_env: Vec<(String, String)>,
    /// Extra environment for observers.
    pub observer_env: Vec<(String, String)>,
}

impl Default for ClusterOpts {
    fn default() -> Self {
        ClusterOpts { gateways: 2, observers: 2, gateway_env: Vec::new(), observer_env: Vec::new() }
    }
}

/// A running gateway.
pub struct GatewayProc {
    /// The process.
    pub proc: Proc,
    /// HTTP/WS port.
    pub port: u16,
}

impl GatewayProc {
    /// `ws://127.0.0.1:<port>/websocket`.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/websocket", self.port)
    }
    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    /// A metric from `/metrics`.
    pub fn metric(&self, name: &str) -> i64 {
        http_get(&self.addr(), "/metrics").map(|(_, b)| metric(&b, name)).unwrap_or(0)
    }
}

/// A running observer.
pub struct ObserverProc {
    /// The process.
    pub proc: Proc,
    /// Health port.
    pub port: u16,
}

impl ObserverProc {
    /// A metric from `/metrics`.
    pub fn metric(&self, name: &str) -> i64 {
        http_get(&format!("127.0.0.1:{}", self.port), "/metrics")
            .map(|(_, b)| metric(&b, name))
            .unwrap_or(0)
    }
}

/// The deployment. Drop kills everything (gateways first).
pub struct Cluster {
    /// Gateways (a `None` slot was killed).
    pub gateways: Vec<Option<GatewayProc>>,
    /// Observers.
    pub observers: Vec<Option<ObserverProc>>,
    /// Nameserver and broker (`broker-a`), from the shared test harness.
    pub stack: Stack,
    /// `127.0.0.1:<port>` of the nameserver.
    pub namesrv_addr: String,
    /// Broker port.
    pub broker_port: u16,
    /// Options it was started with.
    pub opts: ClusterOpts,
}

impl Cluster {
    /// Start everything and wait until each piece is ready.
    pub async fn start(opts: ClusterOpts) -> Cluster {
        let mut stack_opts = StackOptions::default()
            .cluster("ChatCluster")
            .broker_set("rebalanceLockMaxLiveTime", "15000")
            .also_build(&BINS[2..]);
        // The chat services use the broker's standard retry delays, not the harness's 1 s ones.
        stack_opts.broker_config.retain(|(k, _)| k != "messageDelayLevel");
        let stack = Stack::start(stack_opts).await;
        let mut c = Cluster {
            gateways: Vec::new(),
            observers: Vec::new(),
            namesrv_addr: stack.namesrv_addr.clone(),
            broker_port: stack.broker_port,
            stack,
            opts: opts.clone(),
        };
        // One observer first: it creates the topics, so the others do not race for it.
        for i in 0..opts.observers {
            c.observers.push(Some(c.spawn_observer(i).await));
        }
        for i in 0..opts.gateways {
            c.gateways.push(Some(c.spawn_gateway(i).await));
        }
        c
    }

    /// Temp dir with the store and logs (kept until drop).
    pub fn dir(&self) -> &Path {
        self.stack.dir.path()
    }

    /// Restart the broker on its store and wait for its route.
    pub async fn start_broker(&mut self) {
        self.stack.start_broker(BROKER).await;
    }

    /// SIGKILL the broker.
    pub fn kill_broker(&mut self) {
        self.stack.kill_broker(BROKER);
    }

    fn common_env(&self, instance: &str) -> Vec<(String, String)> {
        vec![
            ("NAMESRV_ADDR".into(), self.namesrv_addr.clone()),
            ("JWT_SECRET".into(), SECRET.into()),
            ("INSTANCE_ID".into(), instance.into()),
            ("BROKER_HEARTBEAT_INTERVAL".into(), "1000".into()),
            // Broadcast offsets inside the cluster's temp dir: a SIGKILLed gateway cannot remove
            // its own offsets dir, the temp dir's drop does.
            ("OFFSETS_DIR".into(), self.dir().display().to_string()),
            ("RUST_LOG".into(), std::env::var("SERVICES_LOG").unwrap_or_else(|_| "info".into())),
        ]
    }

    /// Spawn gateway number `i` and wait until it is ready.
    pub async fn spawn_gateway(&self, i: usize) -> GatewayProc {
        let port = free_port();
        let mut env = self.common_env(&format!("gw-{i}"));
        env.push(("PORT".into(), port.to_string()));
        env.push(("BIND_ADDR".into(), "127.0.0.1".into()));
        // Generous: 1,000 clients in one test process on a loaded 2-core machine must not miss a
        // pong. The heartbeat itself is covered tightly by the node conformance test (T1).
        env.push(("HEARTBEAT_INTERVAL".into(), "2".into()));
        env.push(("CONNECTION_TIMEOUT".into(), "15".into()));
        env.push(("DEV_LOGIN".into(), "1".into()));
        env.extend(self.opts.gateway_env.iter().cloned());
        let proc = Proc::spawn(self.dir(), &format!("gateway-{i}"), "chat-gateway", &[], &env);
        let addr = format!("127.0.0.1:{port}");
        wait_until(&format!("gateway {i} ready"), Duration::from_secs(60), || {
            let addr = addr.clone();
            async move { matches!(http_get(&addr, "/ready"), Ok((200, _))) }
        })
        .await;
        GatewayProc { proc, port }
    }

    /// Spawn observer number `i` and wait until it is ready.
    pub async fn spawn_observer(&self, i: usize) -> ObserverProc {
        let port = free_port();
        let mut env = self.common_env(&format!("observer-{i}"));
        env.push(("HEALTH_CHECK_PORT".into(), port.to_string()));
        env.push(("REBALANCE_INTERVAL".into(), "1000".into()));
        env.push(("LOCK_INTERVAL".into(), "1000".into()));
        env.extend(self.opts.observer_env.iter().cloned());
        let proc = Proc::spawn(self.dir(), &format!("observer-{i}"), "chat-observer", &[], &env);
        let addr = format!("127.0.0.1:{port}");
        wait_until(&format!("observer {i} ready"), Duration::from_secs(60), || {
            let addr = addr.clone();
            async move { matches!(http_get(&addr, "/ready"), Ok((200, _))) }
        })
        .await;
        ObserverProc { proc, port }
    }

    /// Gateway `i` (panics if it was killed).
    pub fn gw(&self, i: usize) -> &GatewayProc {
        self.gateways[i].as_ref().expect("gateway running")
    }

    /// A token for `uid` with the default user scopes, valid for an hour.
    pub fn token(&self, uid: &str) -> String {
        self.token_with(uid, Claims::default_user_scopes(), 3600)
    }

    /// A token with explicit scopes and lifetime.
    pub fn token_with(&self, uid: &str, scope: Vec<String>, ttl_s: i64) -> String {
        let now = mq_common::protocol::now_millis() / 1000;
        jwt::sign(&Claims::new(uid, "chat", now, ttl_s, scope), SECRET.as_bytes())
    }

    /// Every `chat_inbox` message stored under `key`.
    pub async fn inbox_by_key(&self, key: &str) -> Vec<mq_client::MessageExt> {
        let admin = mq_client::Admin::connect(&self.namesrv_addr).await.expect("admin");
        let r = admin
            .query_msg_by_key(chat_proto::topics::CHAT_INBOX, key, 64, 0, i64::MAX)
            .await
            .expect("query");
        admin.close();
        r.into_iter().map(|q| q.message).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Gateways and observers first; the stack (broker, then nameserver) drops after.
        self.gateways.clear();
        self.observers.clear();
    }
}
