//! Several name servers and broker groups as separate hosts on one machine
//! (docs/ha-protocol.md §13): every process gets its own loopback address (`127.0.0.x`), its own
//! port and store, and can be killed (kill -9), frozen (SIGSTOP), resumed, stopped and
//! restarted by PID; links that must be partitioned go through a
//! [`FaultProxy`](crate::fault_proxy::FaultProxy). Nothing here needs root or changes a system
//! setting, so it runs the same in CI; network namespaces are not used.
//!
//! ```no_run
//! # async fn demo() {
//! use mq_test_support::cluster::{Cluster, Node};
//! let mut c = Cluster::start(2, &[("haSendHeartbeatInterval", "200")]).await;
//! c.add_broker(Node::master("a-m", "broker-a", "SYNC_MASTER")).await;
//! c.add_broker(Node::slave("a-s", "broker-a", 1)).await;
//! c.kill("a-m"); // kill -9
//! # }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use crate::bins::{ensure_bins, SERVER_BINS};
use crate::fault_proxy::reachable;
use crate::ports::free_port;
use crate::proc::Proc;
use crate::wait::wait_until;

/// How long a broker may take to start and register (a loaded 2-core machine is slow).
const READY: Duration = Duration::from_secs(30);

/// Short classic-replication timings (heartbeat 200 ms, housekeeping 1.5 s, slaveTimeout
/// 700 ms, metadata sync 500 ms, small commit-log and consume-queue files) so that a fault
/// shows in seconds: the replication fault tests and the history schedules start from these.
pub const FAST_HA: &[(&str, &str)] = &[
    ("haSendHeartbeatInterval", "200"),
    ("haHousekeepingInterval", "1500"),
    ("slaveTimeout", "700"),
    ("haMetadataSyncInterval", "500"),
    ("mappedFileSizeCommitLog", "4194304"),
    ("mappedFileSizeConsumeQueue", "60000"),
];

/// One broker host to add.
#[derive(Debug, Clone)]
pub struct Node {
    /// Process name (logs, fault calls).
    pub name: String,
    /// `brokerName` (its group).
    pub broker_name: String,
    /// `brokerId`.
    pub id: i64,
    /// `brokerRole`.
    pub role: String,
    /// Settings for this broker only (after the cluster's).
    pub settings: Vec<(String, String)>,
}

impl Node {
    /// A master (`brokerId=0`) of group `broker_name` with `role` ASYNC_MASTER / SYNC_MASTER.
    pub fn master(name: &str, broker_name: &str, role: &str) -> Node {
        Node {
            name: name.into(),
            broker_name: broker_name.into(),
            id: 0,
            role: role.into(),
            settings: Vec::new(),
        }
    }

    /// Slave `id` (> 0) of group `broker_name`.
    pub fn slave(name: &str, broker_name: &str, id: i64) -> Node {
        Node {
            name: name.into(),
            broker_name: broker_name.into(),
            id,
            role: "SLAVE".into(),
            settings: Vec::new(),
        }
    }

    /// One more setting for this broker.
    pub fn set(mut self, k: &str, v: &str) -> Node {
        self.settings.push((k.into(), v.into()));
        self
    }
}

/// A broker host of the cluster.
pub struct BrokerHost {
    /// What was asked for.
    pub node: Node,
    /// Its advertised loopback address (`brokerIP1`: where clients connect).
    pub ip: String,
    /// The address it binds (`bindAddress`, also `brokerIP2`): `ip`, unless a client-side
    /// fault proxy listens on `ip` ([`Cluster::add_proxied_group`]).
    pub bind_ip: String,
    /// `listenPort`.
    pub port: u16,
    /// `haListenPort`.
    pub ha_port: u16,
    proc: Option<Proc>,
}

impl BrokerHost {
    /// `ip:listenPort`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
    /// `bind_ip:haListenPort` (`brokerIP2`: HA does not go through a client-side proxy).
    pub fn ha_addr(&self) -> String {
        format!("{}:{}", self.bind_ip, self.ha_port)
    }
}

/// A master + slave group whose HA link goes through a fault proxy
/// ([`Cluster::add_proxied_group`]).
pub struct ProxiedGroup {
    /// The master's `ip:listenPort`.
    pub master: String,
    /// The slave's `ip:listenPort`.
    pub slave: String,
    /// The slave's link to the master's HA port: cut and heal it.
    pub ha_link: crate::fault_proxy::FaultProxy,
    /// Every client's link to the master (producers, consumers, the slave's metadata sync,
    /// name-server routes name it): cut and heal it.
    pub clients_link: crate::fault_proxy::FaultProxy,
}

/// Name servers and brokers, each on its own loopback address; dropping it kills them all.
pub struct Cluster {
    /// Cluster name.
    pub cluster: String,
    /// Settings of every broker.
    pub settings: Vec<(String, String)>,
    /// Settings of every name server.
    namesrv_settings: Vec<(String, String)>,
    // Brokers are killed before the name servers (fields drop in order).
    brokers: BTreeMap<String, BrokerHost>,
    namesrvs: Vec<(String, Option<Proc>)>,
    next_ip: u8,
    /// Temp dir with stores, configs and logs (last: removed after the processes died).
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Start `namesrvs` name servers (each on its own address); `settings` go to every broker
    /// (after fast-test defaults: 2 s registration, 1 s delay levels, fast offset flush).
    pub async fn start(namesrvs: usize, settings: &[(&str, &str)]) -> Cluster {
        Self::start_with(namesrvs, &[], settings).await
    }

    /// [`Cluster::start`] with `namesrv_settings` for every name server (e.g. a short
    /// `brokerChannelExpiredTime`, so that a partitioned name server drops a broker in seconds).
    /// In a value, `{i}` becomes the name server's index and `{dir}` the cluster's temp dir
    /// (e.g. an embedded controller's `controllerDLegerSelfId=n{i}`).
    pub async fn start_with(
        namesrvs: usize,
        namesrv_settings: &[(&str, &str)],
        settings: &[(&str, &str)],
    ) -> Cluster {
        ensure_bins(&SERVER_BINS);
        let mut c = Cluster {
            namesrv_settings: namesrv_settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dir: tempfile::tempdir().expect("tempdir"),
            cluster: "HaCluster".into(),
            settings: [
                ("registerNameServerPeriod", "2000"),
                ("flushConsumerOffsetInterval", "500"),
                ("messageDelayLevel", &vec!["1s"; 18].join(" ")),
                ("autoCreateTopicEnable", "true"),
                ("autoCreateSubscriptionGroup", "true"),
            ]
            .iter()
            .chain(settings)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            brokers: BTreeMap::new(),
            namesrvs: Vec::new(),
            next_ip: 10,
        };
        for i in 0..namesrvs {
            let addr = format!("{}:{}", c.host_ip(), free_port());
            c.namesrvs.push((addr, None));
            c.start_namesrv(i).await;
        }
        c
    }

    fn host_ip(&mut self) -> String {
        self.next_ip += 1;
        format!("127.0.0.{}", self.next_ip)
    }

    /// `;`-separated name server list (what brokers and clients are given).
    pub fn namesrv_list(&self) -> String {
        self.namesrvs.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(";")
    }

    /// Address of name server `i`.
    pub fn namesrv(&self, i: usize) -> &str {
        &self.namesrvs[i].0
    }

    /// (Re)start name server `i` on its address.
    pub async fn start_namesrv(&mut self, i: usize) {
        let addr = self.namesrvs[i].0.clone();
        let mut args = vec![
            "--listen".to_string(),
            addr.clone(),
            "--set".into(),
            format!("kvConfigPath={}", self.dir.path().join(format!("kv{i}.json")).display()),
        ];
        for (k, v) in &self.namesrv_settings {
            // Per name server values: `{i}` is its index, `{dir}` the cluster's directory.
            let v = v
                .replace("{i}", &i.to_string())
                .replace("{dir}", &self.dir.path().display().to_string());
            args.extend(["--set".to_string(), format!("{k}={v}")]);
        }
        let p = Proc::spawn(self.dir.path(), &format!("namesrv{i}"), "mqnamesrv", &args, &[]);
        self.namesrvs[i].1 = Some(p);
        wait_until(&format!("namesrv {addr}"), READY, || {
            let a = addr.clone();
            async move { reachable(&a) }
        })
        .await;
    }

    /// A [`FaultProxy`](crate::fault_proxy::FaultProxy) in front of name server `i`, on an
    /// address of its own: give its address instead of the name server's to the broker
    /// (`Node::set("namesrvAddr", ..)`) or client whose link to that name server a test cuts.
    pub async fn namesrv_proxy(&mut self, i: usize) -> crate::fault_proxy::FaultProxy {
        let ip = self.host_ip();
        crate::fault_proxy::FaultProxy::start(&ip, &self.namesrvs[i].0.clone()).await
    }

    /// Whether name server `i` routes broker `name` now (its address under its id).
    pub async fn routes(&self, i: usize, name: &str) -> bool {
        let h = self.host(name);
        routed(self.namesrv(i), &h.node.broker_name, h.node.id, &h.addr()).await
    }

    /// kill -9 name server `i`.
    pub fn kill_namesrv(&mut self, i: usize) {
        if let Some(mut p) = self.namesrvs[i].1.take() {
            p.kill();
        }
    }

    /// Add a broker host and start it; returns its address once every running name server
    /// routes to it.
    pub async fn add_broker(&mut self, node: Node) -> String {
        let name = node.name.clone();
        self.insert_host(node, false);
        self.start_broker(&name).await;
        self.host(&name).addr()
    }

    /// Add a broker host whose clients reach it through a
    /// [`FaultProxy`](crate::fault_proxy::FaultProxy): the broker binds an address of its own
    /// (`bindAddress`) and advertises the proxy's (`brokerIP1`), so every client, consumer
    /// and name-server route goes through the proxy while HA (`brokerIP2`) does not. Returns
    /// its (advertised) address once routed, and the proxy: cut it to partition the broker
    /// from its clients.
    pub async fn add_broker_behind_proxy(
        &mut self,
        node: Node,
    ) -> (String, crate::fault_proxy::FaultProxy) {
        let name = node.name.clone();
        self.insert_host(node, true);
        let h = self.host(&name);
        let proxy = crate::fault_proxy::FaultProxy::start_on(
            &h.addr(),
            &format!("{}:{}", h.bind_ip, h.port),
        )
        .await;
        self.start_broker(&name).await;
        (self.host(&name).addr(), proxy)
    }

    fn insert_host(&mut self, node: Node, proxied: bool) {
        let ip = self.host_ip();
        let bind_ip = if proxied { self.host_ip() } else { ip.clone() };
        let (port, ha_port) = (free_port(), free_port());
        let name = node.name.clone();
        assert!(!self.brokers.contains_key(&name), "broker {name} exists");
        self.brokers.insert(name, BrokerHost { node, ip, bind_ip, port, ha_port, proc: None });
    }

    /// Add broker group `broker-{g}`: master `{g}-m` (`role`: SYNC_MASTER or ASYNC_MASTER)
    /// and slave `{g}-s` (id 1), each with `extra` settings; returns their addresses once the
    /// slave is connected to the master, so that a SYNC_MASTER answers SEND_OK from the first
    /// send a test counts (docs/replication.md, "Start-up window").
    pub async fn add_group(&mut self, g: &str, role: &str) -> (String, String) {
        let bn = format!("broker-{g}");
        let m = self.add_broker(Node::master(&format!("{g}-m"), &bn, role)).await;
        let s = self.add_broker(Node::slave(&format!("{g}-s"), &bn, 1)).await;
        crate::replica::wait_replicating(&m).await;
        (m, s)
    }

    /// [`Cluster::add_group`] with the slave's HA link through a
    /// [`FaultProxy`](crate::fault_proxy::FaultProxy) (the slave's `haMasterAddress`) and the
    /// master behind a client-side proxy ([`Cluster::add_broker_behind_proxy`]), so a test can
    /// partition master and slave, or the master and its clients, both ways or one way;
    /// returns once the slave replicates.
    pub async fn add_proxied_group(&mut self, g: &str, role: &str) -> ProxiedGroup {
        let bn = format!("broker-{g}");
        let (master, clients_link) =
            self.add_broker_behind_proxy(Node::master(&format!("{g}-m"), &bn, role)).await;
        let ha_link = crate::fault_proxy::FaultProxy::start(
            "127.0.0.1",
            &self.host(&format!("{g}-m")).ha_addr(),
        )
        .await;
        let slave = self
            .add_broker(
                Node::slave(&format!("{g}-s"), &bn, 1).set("haMasterAddress", &ha_link.addr),
            )
            .await;
        crate::replica::wait_replicating(&master).await;
        ProxiedGroup { master, slave, ha_link, clients_link }
    }

    /// Create `topic` with `queues` read/write queues on every running master (slaves get it
    /// by metadata sync: see [`crate::replica::wait_topic_served`]).
    pub async fn create_topic(&self, topic: &str, queues: i32) {
        let a = mq_client::Admin::with_timeout(&self.namesrv_list(), Duration::from_secs(5))
            .await
            .expect("admin");
        let tc = mq_common::protocol::body::TopicConfig::new(topic, queues, 6);
        for h in self.brokers.values().filter(|h| h.node.id == 0 && h.proc.is_some()) {
            let target = mq_client::admin::BrokerTarget::Addr(h.addr());
            a.create_topic(&target, &tc).await.expect("create topic");
        }
        a.close();
    }

    /// SIGTERM broker `name`, wait for it to exit, start it again on its store and wait until
    /// every running name server routes to it (a rolling restart's step).
    pub async fn restart(&mut self, name: &str) {
        self.stop(name);
        self.start_broker(name).await;
    }

    /// A broker host.
    pub fn host(&self, name: &str) -> &BrokerHost {
        self.brokers.get(name).unwrap_or_else(|| panic!("unknown broker {name}"))
    }

    /// Change a setting of broker `name` for its next start (e.g. promotion: `brokerRole`).
    pub fn set(&mut self, name: &str, k: &str, v: &str) {
        let h = self.brokers.get_mut(name).expect("known broker");
        match k {
            "brokerId" => h.node.id = v.parse().expect("a broker id"),
            "brokerRole" => h.node.role = v.into(),
            _ => h.node.settings.push((k.into(), v.into())),
        }
    }

    /// Add a broker host and start it without waiting for its routes (controller mode: the
    /// controllers give its id and role); returns its address.
    pub fn add_broker_unrouted(&mut self, node: Node) -> String {
        let name = node.name.clone();
        self.insert_host(node, false);
        self.spawn_broker(&name);
        self.host(&name).addr()
    }

    /// Like [`Cluster::add_broker_unrouted`], but its replicas reach its HA port through a
    /// [`FaultProxy`](crate::fault_proxy::FaultProxy) on an address of its own: the broker
    /// advertises that address as `brokerIP2` (what a controller-mode replica reads from its
    /// master's GET_BROKER_CONFIG) and binds its own, so cutting the proxy cuts every
    /// replica's HA link to it while clients and controllers still reach it. Returns its
    /// address and the proxy.
    pub async fn add_broker_unrouted_ha_proxied(
        &mut self,
        node: Node,
    ) -> (String, crate::fault_proxy::FaultProxy) {
        let name = node.name.clone();
        self.insert_host(node, false);
        let ip = self.host_ip();
        let h = self.brokers.get_mut(&name).expect("just inserted");
        // Last in the config file, so it replaces the `brokerIP2` every broker gets.
        h.node.settings.push(("brokerIP2".into(), ip.clone()));
        let proxy =
            crate::fault_proxy::FaultProxy::start_on(&format!("{ip}:{}", h.ha_port), &h.ha_addr())
                .await;
        self.spawn_broker(&name);
        (self.host(&name).addr(), proxy)
    }

    /// Start (or restart, same address, ports and store) broker `name` and return at once.
    pub fn spawn_broker(&mut self, name: &str) {
        let conf = self.write_conf(name);
        let env = [(
            "RUST_LOG".to_string(),
            std::env::var("BROKER_LOG").unwrap_or_else(|_| "info".into()),
        )];
        let p = Proc::spawn(self.dir.path(), name, "mqbroker", &["-c".into(), conf], &env);
        let h = self.brokers.get_mut(name).expect("known broker");
        assert!(h.proc.is_none(), "broker {name} is running");
        h.proc = Some(p);
    }

    /// The log of broker `name` so far (its last `n` bytes).
    pub fn log_tail(&self, name: &str, n: u64) -> String {
        self.host(name).proc.as_ref().map(|p| p.log_tail(n)).unwrap_or_default()
    }

    /// Start (or restart, same address, ports and store) broker `name`; wait until every
    /// running name server routes to it.
    pub async fn start_broker(&mut self, name: &str) {
        self.spawn_broker(name);
        let h = self.host(name);
        let (addr, id, bn) = (h.addr(), h.node.id, h.node.broker_name.clone());
        let ns: Vec<String> =
            self.namesrvs.iter().filter(|(_, p)| p.is_some()).map(|(a, _)| a.clone()).collect();
        wait_until(&format!("broker {name} routed"), READY, || {
            let (ns, addr, bn) = (ns.clone(), addr.clone(), bn.clone());
            async move {
                if !reachable(&addr) {
                    return false;
                }
                for n in &ns {
                    if !routed(n, &bn, id, &addr).await {
                        return false;
                    }
                }
                true
            }
        })
        .await;
    }

    /// Start broker `name` expecting it to refuse to run: returns its log once it exited
    /// (panics if it is still running after 30 s).
    pub fn start_expecting_exit(&mut self, name: &str) -> String {
        let conf = self.write_conf(name);
        let mut p = Proc::spawn(self.dir.path(), name, "mqbroker", &["-c".into(), conf], &[]);
        let deadline = std::time::Instant::now() + READY;
        while p.alive() {
            assert!(std::time::Instant::now() < deadline, "broker {name} did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
        p.log_tail(100_000)
    }

    fn write_conf(&self, name: &str) -> String {
        let h = self.host(name);
        let p = self.dir.path().join(format!("{name}.conf"));
        // A node's own `namesrvAddr` (e.g. through a fault proxy) replaces the cluster's.
        let own_ns = h.node.settings.iter().rev().find(|(k, _)| k == "namesrvAddr");
        let mut text = format!(
            "brokerClusterName={}\nbrokerName={}\nbrokerId={}\nbrokerRole={}\nnamesrvAddr={}\n\
             brokerIP1={}\nbrokerIP2={bind}\nbindAddress={bind}\nlistenPort={}\nhaListenPort={}\n\
             storePathRootDir={}\n",
            self.cluster,
            h.node.broker_name,
            h.node.id,
            h.node.role,
            own_ns.map(|(_, v)| v.clone()).unwrap_or_else(|| self.namesrv_list()),
            h.ip,
            h.port,
            h.ha_port,
            self.dir.path().join(format!("store-{name}")).display(),
            bind = h.bind_ip,
        );
        for (k, v) in crate::write_mode::broker_settings() {
            text.push_str(&format!("{k}={v}\n"));
        }
        for (k, v) in
            self.settings.iter().chain(&h.node.settings).filter(|(k, _)| k != "namesrvAddr")
        {
            text.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(&p, text).expect("write broker config");
        p.display().to_string()
    }

    /// Store directory of broker `name`.
    pub fn store_dir(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(format!("store-{name}"))
    }

    /// kill -9 broker `name` (no shutdown hook, no final flush).
    pub fn kill(&mut self, name: &str) {
        if let Some(mut p) = self.brokers.get_mut(name).and_then(|h| h.proc.take()) {
            p.kill();
        }
    }

    /// SIGTERM broker `name` and wait for it (SIGKILL after 10 s).
    pub fn stop(&mut self, name: &str) {
        if let Some(mut p) = self.brokers.get_mut(name).and_then(|h| h.proc.take()) {
            p.term(Duration::from_secs(10));
        }
    }

    /// SIGSTOP broker `name` (a hung host: connections stay open, nothing answers); returns
    /// once the kernel reports it stopped (signals are delivered asynchronously).
    pub fn freeze(&self, name: &str) {
        self.signal(name, libc::SIGSTOP);
        let Some(pid) = self.host(name).proc.as_ref().and_then(Proc::pid) else { return };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The state follows the parenthesised command name.
            if stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T')) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("broker {name} did not stop after SIGSTOP");
    }

    /// SIGCONT broker `name`.
    pub fn thaw(&self, name: &str) {
        self.signal(name, libc::SIGCONT);
    }

    fn signal(&self, name: &str, sig: i32) {
        if let Some(pid) = self.host(name).proc.as_ref().and_then(Proc::pid) {
            // SAFETY: kill(2) on the PID of our own running child.
            unsafe {
                libc::kill(pid as i32, sig);
            }
        }
    }

    /// Print every log's tail.
    pub fn dump_logs(&self) {
        for p in self.brokers.values().filter_map(|h| h.proc.as_ref()) {
            eprintln!("----- {} log tail -----\n{}", p.name, p.log_tail(8000));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A frozen process cannot die of SIGKILL before it is resumed on some kernels' views
        // of "reaped": resume first (SIGKILL works on stopped processes, but be explicit).
        for h in self.brokers.values() {
            if let Some(pid) = h.proc.as_ref().and_then(Proc::pid) {
                // SAFETY: as in `signal`.
                unsafe {
                    libc::kill(pid as i32, libc::SIGCONT);
                }
            }
        }
    }
}

/// Whether name server `ns` lists `addr` as broker `id` of `broker_name`.
async fn routed(ns: &str, broker_name: &str, id: i64, addr: &str) -> bool {
    let Ok(a) = mq_client::Admin::connect(ns).await else { return false };
    let ok = a
        .topic_route("TBW102")
        .await
        .map(|r| {
            r.broker_datas.iter().any(|b| {
                b.broker_name == broker_name
                    && b.broker_addrs.get(&id.to_string()).map(String::as_str) == Some(addr)
            })
        })
        .unwrap_or(false);
    a.close();
    ok
}
