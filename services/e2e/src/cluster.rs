//! A whole chat deployment on loopback: nameserver, broker, observers and gateways.

use std::net::TcpStream;
use std::time::Duration;

use chat_proto::jwt::{self, Claims};

use crate::proc::{free_port, http_get, metric, Proc};
use crate::wait_until;

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
        http_get(&format!("127.0.0.1:{}", self.port), "/metrics").map(|(_, b)| metric(&b, name)).unwrap_or(0)
    }
}

/// The deployment. Drop kills everything (gateways first).
pub struct Cluster {
    /// Gateways (a `None` slot was killed).
    pub gateways: Vec<Option<GatewayProc>>,
    /// Observers.
    pub observers: Vec<Option<ObserverProc>>,
    /// Broker.
    pub broker: Option<Proc>,
    /// Nameserver.
    pub namesrv: Proc,
    /// `127.0.0.1:<port>` of the nameserver.
    pub namesrv_addr: String,
    /// Broker port.
    pub broker_port: u16,
    /// Options it was started with.
    pub opts: ClusterOpts,
    /// Temp dir with the store and logs (kept until drop).
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Start everything and wait until each piece is ready.
    pub async fn start(opts: ClusterOpts) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let ns_port = free_port();
        let namesrv_addr = format!("127.0.0.1:{ns_port}");
        let namesrv = Proc::spawn(
            dir.path(),
            "namesrv",
            "mqnamesrv",
            &["--listen".into(), namesrv_addr.clone(), "--set".into(), format!("kvConfigPath={}", dir.path().join("kv.json").display())],
            &[],
        );
        let ns = namesrv_addr.clone();
        wait_until("namesrv to listen", Duration::from_secs(20), || {
            let ns = ns.clone();
            async move { TcpStream::connect(&ns).is_ok() }
        })
        .await;
        let mut c = Cluster {
            gateways: Vec::new(),
            observers: Vec::new(),
            broker: None,
            namesrv,
            namesrv_addr,
            broker_port: free_port(),
            opts: opts.clone(),
            dir,
        };
        c.start_broker().await;
        // One observer first: it creates the topics, so the others do not race for it.
        for i in 0..opts.observers {
            c.observers.push(Some(c.spawn_observer(i).await));
        }
        for i in 0..opts.gateways {
            c.gateways.push(Some(c.spawn_gateway(i).await));
        }
        c
    }

    /// Start (or restart) the broker and wait for its route.
    pub async fn start_broker(&mut self) {
        let conf = self.dir.path().join("broker.conf");
        let text = format!(
            "brokerClusterName=ChatCluster\nbrokerName=broker-a\nbrokerId=0\nnamesrvAddr={}\nbrokerIP1=127.0.0.1\nlistenPort={}\nhaListenPort={}\nstorePathRootDir={}\nrocketmqHome={}\nflushConsumerOffsetInterval=500\nregisterNameServerPeriod=2000\nrebalanceLockMaxLiveTime=15000\nautoCreateTopicEnable=true\nautoCreateSubscriptionGroup=true\n",
            self.namesrv_addr,
            self.broker_port,
            self.broker_port + 1,
            self.dir.path().join("store").display(),
            self.dir.path().display(),
        );
        std::fs::write(&conf, text).expect("broker.conf");
        self.broker = Some(Proc::spawn(self.dir.path(), "broker", "mqbroker", &["-c".into(), conf.display().to_string()], &[]));
        let (ns, addr) = (self.namesrv_addr.clone(), format!("127.0.0.1:{}", self.broker_port));
        wait_until("broker to register", Duration::from_secs(30), || {
            let (ns, addr) = (ns.clone(), addr.clone());
            async move {
                if TcpStream::connect(&addr).is_err() {
                    return false;
                }
                match mq_client::Admin::connect(&ns).await {
                    Ok(a) => {
                        let ok = a.topic_route("TBW102").await.map(|r| r.broker_datas.iter().any(|b| b.master_addr() == Some(addr.as_str()))).unwrap_or(false);
                        a.close();
                        ok
                    }
                    Err(_) => false,
                }
            }
        })
        .await;
    }

    /// SIGKILL the broker.
    pub fn kill_broker(&mut self) {
        if let Some(mut b) = self.broker.take() {
            b.kill();
        }
    }

    fn common_env(&self, instance: &str) -> Vec<(String, String)> {
        vec![
            ("NAMESRV_ADDR".into(), self.namesrv_addr.clone()),
            ("JWT_SECRET".into(), SECRET.into()),
            ("INSTANCE_ID".into(), instance.into()),
            ("BROKER_HEARTBEAT_INTERVAL".into(), "1000".into()),
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
        let proc = Proc::spawn(self.dir.path(), &format!("gateway-{i}"), "chat-gateway", &[], &env);
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
        let proc = Proc::spawn(self.dir.path(), &format!("observer-{i}"), "chat-observer", &[], &env);
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
        let now = chat_proto::now_ms() / 1000;
        jwt::sign(&Claims::new(uid, "chat", now, ttl_s, scope), SECRET.as_bytes())
    }

    /// Every `chat_inbox` message stored under `key`.
    pub async fn inbox_by_key(&self, key: &str) -> Vec<mq_client::MessageExt> {
        let admin = mq_client::Admin::connect(&self.namesrv_addr).await.expect("admin");
        let r = admin.query_msg_by_key(chat_proto::topics::CHAT_INBOX, key, 64, 0, i64::MAX).await.expect("query");
        admin.close();
        r.into_iter().map(|q| q.message).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Gateways and observers first, then broker, then nameserver (Proc::drop kills).
        self.gateways.clear();
        self.observers.clear();
        self.broker = None;
    }
}
