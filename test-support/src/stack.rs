//! A nameserver plus one or more master brokers of one cluster, as real processes.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use mq_common::protocol::body::TopicConfig;

use crate::bins::{ensure_bins, SERVER_BINS};
use crate::ports::free_port;
use crate::proc::Proc;
use crate::wait::wait_until;

/// How long a broker may take to start and register (a loaded 2-core CI machine is slow).
const BROKER_READY: Duration = Duration::from_secs(30);
/// How long SIGTERM may take before [`Stack::stop_broker`] falls back to SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What [`Stack::start`] starts. Built with chained setters from [`StackOptions::default`]:
/// cluster `TestCluster`, one broker `broker-a`, 1 s delay levels, fast offset flush and
/// registration, auto-created topics and groups.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// `brokerClusterName` of every broker.
    pub cluster: String,
    /// Broker names, started in order (the first one is [`Stack::broker_addr`]).
    pub brokers: Vec<String>,
    /// Extra nameserver settings (`--set key=value`), e.g. `scanNotActiveBrokerInterval`,
    /// `brokerChannelExpiredTime` for fast expiry.
    pub namesrv_config: Vec<(String, String)>,
    /// Broker settings written to every broker's config file, after the defaults (so they
    /// override them).
    pub broker_config: Vec<(String, String)>,
    /// Binaries besides the servers the caller will spawn: checked (and built if missing or
    /// stale) with the servers' by [`crate::ensure_bins`].
    pub also_build: Vec<String>,
    /// An admin account the stack's own admin calls ([`Stack::admin`], `create_topic`,
    /// readiness checks) sign with, for stacks started with `aclEnable=true`.
    pub credentials: Option<mq_common::acl::Credentials>,
    /// TLS for the stack's own admin calls (stacks started with `tlsMode=enforcing`).
    pub tls: Option<mq_common::remoting::TlsClient>,
}

/// Commit-log file size of the test harness's brokers (32 MiB; the broker's default is 1 GiB,
/// reserved on disk at creation).
pub const TEST_COMMIT_LOG_FILE_SIZE: usize = 32 * 1024 * 1024;

impl Default for StackOptions {
    fn default() -> Self {
        let broker_config = [
            ("messageDelayLevel", vec!["1s"; 18].join(" ")),
            ("flushConsumerOffsetInterval", "500".to_string()),
            ("registerNameServerPeriod", "2000".to_string()),
            ("autoCreateTopicEnable", "true".to_string()),
            ("autoCreateSubscriptionGroup", "true".to_string()),
            // The broker reserves a commit-log file's blocks when it creates it (so a write to
            // the mapping never meets a full disk); at the default 1 GiB every test broker
            // would hold a GiB of disk.
            ("mappedFileSizeCommitLog", TEST_COMMIT_LOG_FILE_SIZE.to_string()),
        ];
        StackOptions {
            cluster: "TestCluster".into(),
            brokers: vec!["broker-a".into()],
            namesrv_config: Vec::new(),
            broker_config: broker_config.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            also_build: Vec::new(),
            credentials: None,
            tls: None,
        }
    }
}

impl StackOptions {
    /// Set the cluster name.
    pub fn cluster(mut self, name: &str) -> Self {
        self.cluster = name.into();
        self
    }

    /// Start these brokers (replaces the default `broker-a`).
    pub fn brokers(mut self, names: &[&str]) -> Self {
        self.brokers = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// One nameserver setting.
    pub fn namesrv_set(mut self, key: &str, value: &str) -> Self {
        self.namesrv_config.push((key.into(), value.into()));
        self
    }

    /// One broker setting (for every broker; overrides the defaults).
    pub fn broker_set(mut self, key: &str, value: &str) -> Self {
        self.broker_config.push((key.into(), value.into()));
        self
    }

    /// Several broker settings.
    pub fn broker_sets(mut self, kvs: &[(&str, &str)]) -> Self {
        self.broker_config.extend(kvs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Sign the stack's own admin calls with this (admin) account.
    pub fn credentials(mut self, access_key: &str, secret_key: &str) -> Self {
        self.credentials = Some(mq_common::acl::Credentials::new(access_key, secret_key));
        self
    }

    /// Connect the stack's own admin calls with TLS, trusting the CA file `ca`.
    pub fn tls_ca(mut self, ca: &std::path::Path) -> Self {
        self.tls = Some(mq_common::remoting::TlsClient::from_ca_file(ca).expect("CA file"));
        self
    }

    /// Also make sure these binaries are built (and fresh) before the stack starts.
    pub fn also_build(mut self, bins: &[&str]) -> Self {
        self.also_build.extend(bins.iter().map(|s| s.to_string()));
        self
    }
}

/// One broker of a stack.
struct BrokerProc {
    port: u16,
    proc: Option<Proc>,
}

/// A running nameserver and its brokers. Dropping it kills the brokers, then the nameserver.
pub struct Stack {
    /// `127.0.0.1:<port>` of the nameserver.
    pub namesrv_addr: String,
    /// Address of the first broker.
    pub broker_addr: String,
    /// Port of the first broker.
    pub broker_port: u16,
    opts: StackOptions,
    // Declared before `namesrv` so the brokers are killed first (fields drop in order).
    brokers: BTreeMap<String, BrokerProc>,
    namesrv: Proc,
    /// Temp dir holding the stores, config files and logs (removed on drop). Last, so a
    /// panicking test's processes print their log tails before the files are removed.
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// Start the nameserver and every broker of `opts`, each ready (the nameserver listening,
    /// each broker routed by it) before this returns.
    pub async fn start(opts: StackOptions) -> Stack {
        let bins: Vec<&str> =
            SERVER_BINS.iter().copied().chain(opts.also_build.iter().map(String::as_str)).collect();
        ensure_bins(&bins);
        let dir = tempfile::tempdir().expect("tempdir");
        let namesrv_addr = format!("127.0.0.1:{}", free_port());
        let mut args = vec![
            "--listen".to_string(),
            namesrv_addr.clone(),
            "--set".into(),
            format!("kvConfigPath={}", dir.path().join("kv.json").display()),
        ];
        for (k, v) in &opts.namesrv_config {
            args.extend(["--set".to_string(), format!("{k}={v}")]);
        }
        let namesrv = Proc::spawn(dir.path(), "namesrv", "mqnamesrv", &args, &[]);
        let ns = namesrv_addr.clone();
        wait_until("namesrv to listen", Duration::from_secs(20), || {
            let ns = ns.clone();
            async move { TcpStream::connect(&ns).is_ok() }
        })
        .await;
        let names = opts.brokers.clone();
        let mut s = Stack {
            dir,
            namesrv_addr,
            broker_addr: String::new(),
            broker_port: 0,
            opts,
            brokers: BTreeMap::new(),
            namesrv,
        };
        for (i, name) in names.iter().enumerate() {
            let addr = s.add_broker(name).await;
            if i == 0 {
                s.broker_port = s.brokers[name].port;
                s.broker_addr = addr;
            }
        }
        s
    }

    /// Start one more broker `name` in the cluster (on a fresh port and store); returns its
    /// address once the nameserver routes to it.
    pub async fn add_broker(&mut self, name: &str) -> String {
        assert!(!self.brokers.contains_key(name), "broker {name} already exists");
        let port = free_port();
        self.brokers.insert(name.to_string(), BrokerProc { port, proc: None });
        self.start_broker(name).await;
        format!("127.0.0.1:{port}")
    }

    /// Address of broker `name`.
    pub fn broker_addr_of(&self, name: &str) -> String {
        format!("127.0.0.1:{}", self.broker(name).port)
    }

    /// Names of the brokers (running or stopped).
    pub fn broker_names(&self) -> Vec<String> {
        self.brokers.keys().cloned().collect()
    }

    /// PID of broker `name`, if running.
    pub fn broker_pid(&self, name: &str) -> Option<u32> {
        self.broker(name).proc.as_ref().and_then(Proc::pid)
    }

    /// Path of the nameserver's log file.
    pub fn namesrv_log(&self) -> PathBuf {
        self.namesrv.log.clone()
    }

    fn broker(&self, name: &str) -> &BrokerProc {
        self.brokers.get(name).unwrap_or_else(|| panic!("unknown broker {name}"))
    }

    /// Write broker `name`'s config file: fixed identity and ports, then the options' settings.
    fn broker_conf(&self, name: &str, port: u16) -> PathBuf {
        let p = self.dir.path().join(format!("{name}.conf"));
        let mut text = format!(
            "brokerClusterName={}\nbrokerName={name}\nbrokerId=0\nnamesrvAddr={}\nbrokerIP1=127.0.0.1\nlistenPort={port}\nhaListenPort={}\nstorePathRootDir={}\nrocketmqHome={}\ngrpcServerPort=0\n",
            self.opts.cluster,
            self.namesrv_addr,
            port + 1,
            self.dir.path().join(format!("store-{name}")).display(),
            self.dir.path().display(),
        );
        for (k, v) in crate::write_mode::broker_settings() {
            text.push_str(&format!("{k}={v}\n"));
        }
        for (k, v) in &self.opts.broker_config {
            text.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(&p, text).expect("write broker config");
        p
    }

    /// Start (or restart, on the same port and store) broker `name` and wait until the
    /// nameserver routes to it. Broker logs go to `<name>.log` (`RUST_LOG` from `BROKER_LOG`,
    /// default `info`).
    pub async fn start_broker(&mut self, name: &str) {
        let port = self.broker(name).port;
        assert!(self.broker(name).proc.is_none(), "broker {name} is already running");
        let conf = self.broker_conf(name, port);
        let env = [(
            "RUST_LOG".to_string(),
            std::env::var("BROKER_LOG").unwrap_or_else(|_| "info".into()),
        )];
        let proc = Proc::spawn(
            self.dir.path(),
            name,
            "mqbroker",
            &["-c".into(), conf.display().to_string()],
            &env,
        );
        self.brokers.get_mut(name).expect("known broker").proc = Some(proc);
        let addr = format!("127.0.0.1:{port}");
        wait_until(&format!("broker {name} to register with the nameserver"), BROKER_READY, || {
            let (admin, addr) = (self.admin(), addr.clone());
            async move { routed_by_namesrv(&admin, &addr).await }
        })
        .await;
    }

    /// Stop broker `name` gracefully (SIGTERM; SIGKILL after 10 s). A no-op if not running.
    pub fn stop_broker(&mut self, name: &str) {
        if let Some(mut p) = self.brokers.get_mut(name).and_then(|b| b.proc.take()) {
            p.term(STOP_GRACE);
        }
    }

    /// Kill broker `name` with SIGKILL (kill -9: no shutdown hooks, no final flush).
    pub fn kill_broker(&mut self, name: &str) {
        if let Some(mut p) = self.brokers.get_mut(name).and_then(|b| b.proc.take()) {
            p.kill();
        }
    }

    /// Create `topic` with `queues` read/write queues (perm 6) on every running broker and wait
    /// until the nameserver's route shows it on all of them.
    pub async fn create_topic(&self, topic: &str, queues: i32) {
        let admin = self.admin();
        let tc = TopicConfig::new(topic, queues, 6);
        let running: Vec<String> = self
            .brokers
            .iter()
            .filter(|(_, b)| b.proc.is_some())
            .map(|(n, _)| self.broker_addr_of(n))
            .collect();
        for addr in &running {
            admin
                .create_topic(&mq_client::admin::BrokerTarget::Addr(addr.clone()), &tc)
                .await
                .expect("create topic");
        }
        let n = running.len();
        wait_until("topic route", Duration::from_secs(20), || {
            let admin = admin.clone();
            let topic = topic.to_string();
            async move {
                admin
                    .topic_route(&topic)
                    .await
                    .map(|r| {
                        r.queue_datas.iter().filter(|q| q.write_queue_nums == queues).count() == n
                    })
                    .unwrap_or(false)
            }
        })
        .await;
        admin.close();
    }

    /// An admin client of this stack, signing with [`StackOptions::credentials`] when set.
    pub fn admin(&self) -> mq_client::Admin {
        mq_client::Admin::with_security(
            vec![self.namesrv_addr.clone()],
            Duration::from_secs(3),
            self.opts.credentials.clone(),
            self.opts.tls.clone(),
        )
        .expect("admin client")
    }

    /// Print the tail of every process log (the drop of a panicking test does this itself).
    pub fn dump_logs(&self) {
        for p in self
            .brokers
            .values()
            .filter_map(|b| b.proc.as_ref())
            .chain(std::iter::once(&self.namesrv))
        {
            eprintln!(
                "----- {} ({}) log tail -----\n{}",
                p.name,
                p.log.display(),
                p.log_tail(20_000)
            );
        }
    }
}

/// Whether `addr` accepts connections and the nameserver `ns` lists it as the master of some
/// broker in the route of `TBW102` (every broker with auto-create registers that topic).
async fn routed_by_namesrv(a: &mq_client::Admin, addr: &str) -> bool {
    if TcpStream::connect(addr).is_err() {
        return false;
    }
    let ok = a
        .topic_route("TBW102")
        .await
        .map(|r| r.broker_datas.iter().any(|b| b.master_addr() == Some(addr)))
        .unwrap_or(false);
    a.close();
    ok
}
