//! Test harness: a real `mqnamesrv` + `mqbroker` on free loopback ports with a temp store,
//! readiness polled with a deadline, processes killed on drop (logs printed if the test failed).
#![allow(dead_code)]

use std::fs::File;
use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binaries live next to the test executable's parent (`target/debug`). Build them if
/// missing so `cargo test -p mq-client` works from a clean tree.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    if !dir.join("mqnamesrv").exists() || !dir.join("mqbroker").exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo).args(["build", "-p", "mq-namesrv", "-p", "mq-broker"]).status().expect("run cargo build");
        assert!(st.success(), "building mqnamesrv/mqbroker failed");
    }
    dir
}

/// A port p such that p, p-2 (broker VIP channel) and p+1 (HA) are free right now.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if !(1100..=65000).contains(&p) {
            continue;
        }
        let ok = [p - 2, p + 1].iter().all(|q| TcpListener::bind(("127.0.0.1", *q)).is_ok());
        if ok {
            return p;
        }
    }
    panic!("no free port");
}

/// Poll `f` until it returns true or `deadline` passes.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + deadline;
    loop {
        if f().await {
            return;
        }
        if Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether real `mqnamesrv`/`mqbroker` binaries exist (early on main they were stubs).
pub fn binaries_available() -> bool {
    let dir = bin_dir();
    ["mqnamesrv", "mqbroker"].iter().all(|b| {
        Command::new(dir.join(b))
            .arg("--help")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("--configFile"))
            .unwrap_or(false)
    })
}

/// Start a stack, or `None` (with a note) when the server binaries are not real yet.
pub async fn stack() -> Option<Stack> {
    stack_with(&[]).await
}

/// [`stack`] with extra broker settings.
pub async fn stack_with(extra: &[(&str, &str)]) -> Option<Stack> {
    if !binaries_available() {
        assert!(std::env::var_os("RMQ_REQUIRE_STACK").is_none(), "mqnamesrv/mqbroker binaries are not available");
        eprintln!("SKIPPED: mqnamesrv/mqbroker binaries are not available");
        return None;
    }
    Some(Stack::start_with(extra).await)
}

/// One broker process of a stack.
struct BrokerProc {
    name: String,
    port: u16,
    child: Option<Child>,
    starts: usize,
}

/// A running nameserver + one or more brokers (master only, one cluster).
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub namesrv_addr: String,
    /// Address of the first broker (`broker-a`).
    pub broker_addr: String,
    pub broker_port: u16,
    namesrv: Option<Child>,
    brokers: Vec<BrokerProc>,
    extra: Vec<(String, String)>,
}

impl Stack {
    /// Start with test-friendly broker settings (1 s delay levels, fast registration).
    pub async fn start() -> Stack {
        Self::start_with(&[]).await
    }

    /// Start with extra broker `key=value` settings.
    pub async fn start_with(extra: &[(&str, &str)]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let ns_port = free_port();
        let namesrv_addr = format!("127.0.0.1:{ns_port}");
        let ns_log = File::create(dir.path().join("namesrv.log")).unwrap();
        let namesrv = Command::new(bin_dir().join("mqnamesrv"))
            .args(["--listen", &namesrv_addr, "--set", &format!("kvConfigPath={}", dir.path().join("kv.json").display())])
            .stdout(Stdio::from(ns_log.try_clone().unwrap()))
            .stderr(Stdio::from(ns_log))
            .spawn()
            .expect("spawn mqnamesrv");
        let mut s = Stack {
            broker_addr: String::new(),
            broker_port: 0,
            dir,
            namesrv_addr,
            namesrv: Some(namesrv),
            brokers: Vec::new(),
            extra: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        let ns = s.namesrv_addr.clone();
        wait_until("namesrv to listen", Duration::from_secs(20), || {
            let ns = ns.clone();
            async move { TcpStream::connect(&ns).is_ok() }
        })
        .await;
        let addr = s.add_broker("broker-a").await;
        s.broker_port = s.brokers[0].port;
        s.broker_addr = addr;
        s
    }

    /// Start one more broker named `name` in the same cluster; returns its address.
    pub async fn add_broker(&mut self, name: &str) -> String {
        let port = free_port();
        self.brokers.push(BrokerProc { name: name.to_string(), port, child: None, starts: 0 });
        self.start_broker_named(name).await;
        format!("127.0.0.1:{port}")
    }

    fn broker_conf(&self, b: &BrokerProc) -> PathBuf {
        let p = self.dir.path().join(format!("{}.conf", b.name));
        let mut text = format!(
            "brokerClusterName=TestCluster\nbrokerName={}\nbrokerId=0\nnamesrvAddr={}\nbrokerIP1=127.0.0.1\nlistenPort={}\nhaListenPort={}\nstorePathRootDir={}\nrocketmqHome={}\nmessageDelayLevel={}\nflushConsumerOffsetInterval=500\nregisterNameServerPeriod=2000\nautoCreateTopicEnable=true\nautoCreateSubscriptionGroup=true\n",
            b.name,
            self.namesrv_addr,
            b.port,
            b.port + 1,
            self.dir.path().join(format!("store-{}", b.name)).display(),
            self.dir.path().display(),
            vec!["1s"; 18].join(" "),
        );
        for (k, v) in &self.extra {
            text.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Restart the first broker.
    pub async fn start_broker(&mut self) {
        let name = self.brokers[0].name.clone();
        self.start_broker_named(&name).await;
    }

    /// Stop the first broker.
    pub fn stop_broker(&mut self) {
        let name = self.brokers[0].name.clone();
        self.stop_broker_named(&name);
    }

    /// Start (or restart) broker `name` and wait until the nameserver routes to it.
    pub async fn start_broker_named(&mut self, name: &str) {
        let i = self.brokers.iter().position(|b| b.name == name).expect("known broker");
        self.brokers[i].starts += 1;
        let conf = self.broker_conf(&self.brokers[i]);
        let log = File::create(self.dir.path().join(format!("{}-{}.log", name, self.brokers[i].starts))).unwrap();
        let child = Command::new(bin_dir().join("mqbroker"))
            .args(["-c", conf.to_str().unwrap()])
            .env("RUST_LOG", std::env::var("BROKER_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn mqbroker");
        self.brokers[i].child = Some(child);
        let ns = self.namesrv_addr.clone();
        let addr = format!("127.0.0.1:{}", self.brokers[i].port);
        wait_until("broker to register with the nameserver", Duration::from_secs(30), || {
            let ns = ns.clone();
            let addr = addr.clone();
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

    /// Stop broker `name` (SIGTERM, then kill after 10 s).
    pub fn stop_broker_named(&mut self, name: &str) {
        let Some(b) = self.brokers.iter_mut().find(|b| b.name == name) else { return };
        if let Some(mut c) = b.child.take() {
            term(&c);
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Create a topic with `queues` read/write queues on every broker and wait for its route.
    pub async fn create_topic(&self, topic: &str, queues: i32) {
        let admin = mq_client::Admin::connect(&self.namesrv_addr).await.unwrap();
        let tc = mq_common::protocol::body::TopicConfig::new(topic, queues, 6);
        for b in &self.brokers {
            let addr = format!("127.0.0.1:{}", b.port);
            admin.create_topic(&mq_client::admin::BrokerTarget::Addr(addr), &tc).await.unwrap();
        }
        let n = self.brokers.len();
        wait_until("topic route", Duration::from_secs(20), || {
            let admin = admin.clone();
            let topic = topic.to_string();
            async move { admin.topic_route(&topic).await.map(|r| r.queue_datas.iter().filter(|q| q.write_queue_nums == queues).count() == n).unwrap_or(false) }
        })
        .await;
        admin.close();
    }

    /// Print the process logs (called on failure).
    pub fn dump_logs(&self) {
        if let Ok(rd) = std::fs::read_dir(self.dir.path()) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "log") {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(200).collect();
                    eprintln!("===== {} (last {} lines) =====", p.display(), tail.len());
                    for l in tail.into_iter().rev() {
                        eprintln!("{l}");
                    }
                }
            }
        }
    }
}

/// Ask the process to stop gracefully (SIGTERM) via the `kill` command: no libc dependency.
fn term(c: &Child) {
    let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        let children: Vec<Child> = self.brokers.iter_mut().filter_map(|b| b.child.take()).chain(self.namesrv.take()).collect();
        for c in children {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
