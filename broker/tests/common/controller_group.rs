//! A controller-mode group for real-process tests (`controller_mode.rs`,
//! `controller_faults.rs`): 3 `mqcontroller`, one name server, 3 `mqbroker`s of `GROUP`, a
//! producer recording every outcome, and kill / rejoin steps.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_client::admin::BrokerTarget;
use mq_client::{Admin, Message, Producer, SendStatus};
use mq_common::protocol::body::TopicConfig;
use mq_test_support::cluster::{Cluster, Node};
use mq_test_support::controllers::Controllers;
use mq_test_support::fault_proxy::FaultProxy;
use mq_test_support::replica::{read_queues, runtime_info};
use mq_test_support::{ensure_bins, wait_until};
use parking_lot::Mutex;
use tokio::task::JoinHandle;

pub const T: Duration = Duration::from_secs(30);
pub const GROUP: &str = "broker-c";
pub const TOPIC: &str = "CtlTopic";
pub const QUEUES: i32 = 4;

/// The master of `GROUP` the name server routes now (`brokerId` 0).
pub async fn routed_master(ns: &str) -> Option<String> {
    let a = Admin::connect(ns).await.ok()?;
    let info = a.cluster_info().await.ok();
    a.close();
    info?.broker_addr_table.get(GROUP)?.broker_addrs.get("0").cloned()
}

/// A runtime-info field of the broker at `addr`.
pub async fn status(addr: &str, key: &str) -> Option<String> {
    runtime_info(addr).await?.get(key).cloned()
}

/// Acknowledged sends (body → when) and failed ones.
#[derive(Default)]
pub struct Sent {
    /// Acknowledged bodies and when.
    pub acked: BTreeMap<String, Instant>,
    /// Acknowledged bodies' commit-log offsets (from the offset message id).
    pub phy: BTreeMap<String, i64>,
    /// Failed sends.
    pub failures: usize,
    /// Refusals by response code (remoting errors are counted under -1).
    pub codes: BTreeMap<i32, usize>,
}

/// Which timings the controllers and brokers run with.
#[derive(Clone, Copy, PartialEq)]
pub enum Timings {
    /// Short heartbeats, timeouts and periods (tests of behaviour).
    Fast,
    /// The binaries' defaults (tests and benchmarks of failover time).
    Default,
}

/// Broker settings of [`Timings::Fast`].
pub const FAST_BROKER: [(&str, &str); 12] = [
    ("brokerHeartbeatInterval", "200"),
    ("syncBrokerMetadataPeriod", "300"),
    ("checkSyncStateSetPeriod", "300"),
    ("controllerHeartBeatTimeoutMills", "1500"),
    ("sendHeartbeatTimeoutMillis", "1000"),
    ("haMaxTimeSlaveNotCatchup", "3000"),
    ("haSendHeartbeatInterval", "200"),
    ("haHousekeepingInterval", "3000"),
    ("slaveTimeout", "3000"),
    ("haMetadataSyncInterval", "500"),
    ("registerNameServerPeriod", "1000"),
    ("slaveReadEnable", "true"),
];

/// 3 controllers, a name server and 3 brokers of `GROUP` in controller mode, all in sync.
pub struct Group {
    /// The controllers.
    pub ctls: Controllers,
    /// Name server and brokers.
    pub c: Cluster,
    /// Broker process name → address.
    pub addrs: BTreeMap<&'static str, String>,
    /// The name server.
    pub ns: String,
    /// With `proxied`: per broker, one fault proxy in front of each controller (its
    /// `controllerAddr`), to cut a broker off from the controllers only.
    pub proxies: BTreeMap<&'static str, Vec<FaultProxy>>,
    _ctl_dir: tempfile::TempDir,
}

impl Group {
    /// Start and wait until all 3 brokers are in the in-sync set; `proxied` puts fault
    /// proxies between each broker and the controllers.
    pub async fn start(timings: Timings, proxied: bool, extra: &[(&str, &str)]) -> Group {
        Self::start_with(timings, proxied, extra, &[]).await
    }

    /// [`Group::start`] with `ctl_extra` settings for the controllers too (e.g. ACL).
    pub async fn start_with(
        timings: Timings,
        proxied: bool,
        extra: &[(&str, &str)],
        ctl_extra: &[(&str, &str)],
    ) -> Group {
        ensure_bins(&["mqcontroller"]);
        let ctl_dir = tempfile::tempdir().unwrap();
        let ctls = match timings {
            Timings::Fast => Controllers::start(ctl_dir.path(), 3, ctl_extra),
            Timings::Default => Controllers::start_with_defaults(ctl_dir.path(), 3, ctl_extra),
        };
        ctls.wait_leader(T).await;
        let ctl_addr = ctls.controller_addr();
        let mut settings = broker_settings(&ctl_addr);
        if timings == Timings::Fast {
            settings.extend_from_slice(&FAST_BROKER);
        }
        settings.extend_from_slice(extra);
        let mut c = Cluster::start(1, &settings).await;
        let mut addrs = BTreeMap::new();
        let mut proxies = BTreeMap::new();
        for n in ["r1", "r2", "r3"] {
            // brokerRole / brokerId are ignored in controller mode.
            let mut node = Node::master(n, GROUP, "ASYNC_MASTER");
            if proxied {
                let mut ps = Vec::new();
                for a in &ctls.addrs {
                    ps.push(FaultProxy::start("127.0.0.1", a).await);
                }
                let via = ps.iter().map(|p| p.addr.clone()).collect::<Vec<_>>().join(";");
                node = node.set("controllerAddr", &via);
                proxies.insert(n, ps);
            }
            addrs.insert(n, c.add_broker_unrouted(node));
        }
        let ns = c.namesrv(0).to_string();
        let g = Group { ctls, c, addrs, ns, proxies, _ctl_dir: ctl_dir };
        let master = g.wait_master(None).await;
        g.wait_in_sync(&master).await;
        let admin = Admin::connect(&g.ns).await.unwrap();
        for a in g.addrs.values() {
            let tc = TopicConfig::new(TOPIC, QUEUES, 6);
            admin.create_topic(&BrokerTarget::Addr(a.clone()), &tc).await.expect("create topic");
        }
        admin.close();
        g
    }

    /// Wait until the name server routes a master other than `not`; its address.
    pub async fn wait_master(&self, not: Option<&str>) -> String {
        wait_until("a (new) master routed", T, || async {
            routed_master(&self.ns).await.filter(|a| Some(a.as_str()) != not)
        })
        .await
    }

    /// Wait until the master at `master` has all 3 replicas in its in-sync set.
    pub async fn wait_in_sync(&self, master: &str) {
        self.wait_sss_size(master, 3).await;
    }

    /// Wait until the master at `master` reports an in-sync set of `n` members.
    pub async fn wait_sss_size(&self, master: &str, n: usize) {
        wait_until(&format!("{n} replicas in sync"), T, || async {
            status(master, "syncStateSet").await.is_some_and(|s| s.split(',').count() == n)
        })
        .await;
    }

    /// Copy every process log of the group (controllers, name server, brokers) to a new
    /// directory under the temp dir, which is kept, and print where: for a trial too slow to
    /// pass, whose temp dirs are removed on drop.
    pub fn keep_logs(&self, what: &str) -> std::path::PathBuf {
        let keep = std::env::temp_dir().join(format!("{what}-{}", std::process::id()));
        for (src, sub) in [(self.c.dir.path(), "cluster"), (self._ctl_dir.path(), "controllers")] {
            copy_logs(src, &keep.join(sub));
        }
        eprintln!("logs kept in {}", keep.display());
        keep
    }

    /// Cut (or heal, `None`) broker `name`'s links to every controller (needs `proxied`).
    pub fn cut_from_controllers(&self, name: &str, cut: Option<mq_test_support::fault_proxy::Cut>) {
        for p in &self.proxies[name] {
            match cut {
                Some(c) => p.cut(c),
                None => p.heal(),
            }
        }
    }

    pub fn name_of(&self, addr: &str) -> &'static str {
        self.addrs.iter().find(|(_, a)| *a == addr).map(|(n, _)| *n).expect("a known broker")
    }
}

/// A producer sending SYNC to `TOPIC` until `stop`, recording every outcome.
pub async fn sender(
    ns: &str,
    sent: Arc<Mutex<Sent>>,
    stop: Arc<AtomicBool>,
) -> (Producer, JoinHandle<()>) {
    let producer = Producer::builder()
        .namesrv_addr(ns)
        .group("CtlPG")
        .route_refresh_interval(Duration::from_millis(300))
        .send_timeout(Duration::from_secs(2))
        .retries(0)
        .fault_backoff(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let p = producer.clone();
    let task = tokio::spawn(async move {
        let mut i = 0u64;
        while !stop.load(Ordering::Acquire) {
            i += 1;
            let body = format!("m{i}");
            match p.send(Message::new(TOPIC, body.clone().into_bytes())).await {
                Ok(r) if r.status == SendStatus::SendOk => {
                    let mut s = sent.lock();
                    // The offset message id ends with the commit-log offset (16 hex digits).
                    let tail = r.offset_msg_id.len().saturating_sub(16);
                    if let Ok(phy) = i64::from_str_radix(&r.offset_msg_id[tail..], 16) {
                        s.phy.insert(body.clone(), phy);
                    }
                    s.acked.insert(body, Instant::now());
                }
                r => {
                    let code = match r {
                        Err(e) => broker_code(&e),
                        Ok(_) => -2,
                    };
                    {
                        let mut s = sent.lock();
                        s.failures += 1;
                        *s.codes.entry(code).or_default() += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    });
    (producer, task)
}

/// The broker's response code inside a send error (-1: not a broker refusal).
pub fn broker_code(e: &mq_client::ClientError) -> i32 {
    match e {
        mq_client::ClientError::Broker { code, .. } => *code,
        mq_client::ClientError::RetriesExhausted { last, .. } => broker_code(last),
        _ => -1,
    }
}

/// kill -9 the master at `master`; returns the new master and the failover time (kill → the
/// first acknowledged send after it).
pub async fn fail_over(g: &mut Group, master: &str, sent: &Mutex<Sent>) -> (String, Duration) {
    let before = sent.lock().acked.len();
    wait_until("50 acknowledged sends", T, || async { sent.lock().acked.len() >= before + 50 })
        .await;
    g.c.kill(g.name_of(master));
    let killed = Instant::now();
    let new_master = g.wait_master(Some(master)).await;
    let routed = killed.elapsed();
    let first_ok = wait_until("a send acknowledged after the kill", T, || async {
        sent.lock().acked.values().filter(|t| **t > killed).min().copied()
    })
    .await;
    println!("new master {new_master} routed after {routed:?}; failover (kill -9 -> first acknowledged send) {:?}", first_ok - killed);
    (new_master, first_ok - killed)
}

/// Restart the broker at `addr` and wait until it is a replica again.
pub async fn rejoin(g: &mut Group, addr: &str) {
    g.c.spawn_broker(g.name_of(addr));
    wait_until("the old master is a replica", T, || async {
        status(addr, "brokerRole").await.is_some_and(|r| r == "SLAVE")
    })
    .await;
}

/// Every body in `acked` is among the messages of `TOPIC` on `addr`.
pub async fn assert_all_on(addr: &str, acked: &[String]) {
    let on: BTreeSet<String> = read_queues(addr, TOPIC, QUEUES).await.into_values().collect();
    let lost: Vec<&String> = acked.iter().filter(|b| !on.contains(*b)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages missing on {addr}: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

/// The brokers' settings of every controller-mode test: controller mode against `ctl_addr`,
/// sends waiting for every in-sync replica, small commit-log and consume-queue files.
pub fn broker_settings(ctl_addr: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("enableControllerMode", "true"),
        ("controllerAddr", ctl_addr),
        ("allAckInSyncStateSet", "true"),
        ("mappedFileSizeCommitLog", "4194304"),
        ("mappedFileSizeConsumeQueue", "60000"),
    ]
}

/// Copy the `*.log` files under `src` (recursively) to the same places under `dst`.
fn copy_logs(src: &std::path::Path, dst: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(src) else { return };
    for e in entries.flatten() {
        let (path, to) = (e.path(), dst.join(e.file_name()));
        if path.is_dir() {
            copy_logs(&path, &to);
        } else if path.extension().is_some_and(|x| x == "log") {
            let _ = std::fs::create_dir_all(dst);
            let _ = std::fs::copy(&path, &to);
        }
    }
}
