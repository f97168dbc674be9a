//! Controller mode with real processes (issue 19, `docs/controller.md`): 3 `mqcontroller`, one
//! name server and a 3-replica group of `mqbroker`s with `enableControllerMode=true`. Our
//! producer sends SYNC continuously with `allAckInSyncStateSet=true`; the master is killed -9;
//! a new master is elected from the in-sync set and the name server routes it; sends resume
//! and every acknowledged message is on the new master; the old master restarts, rejoins as a
//! replica (cutting any unreplicated tail at the epoch boundary) and catches up.
//! The first test shortens timings (heartbeats 200 ms, broker timeout 1.5 s); the second runs
//! every controller and broker timing at its default (a killed master is noticed by its closed
//! connection, not its heartbeat timeout) and bounds the failover time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_client::admin::BrokerTarget;
use mq_client::{Admin, Message, Producer, SendStatus};
use mq_common::protocol::body::TopicConfig;
use mq_test_support::cluster::{Cluster, Node};
use mq_test_support::controllers::Controllers;
use mq_test_support::replica::{read_queues, runtime_info};
use mq_test_support::{ensure_bins, wait_until};
use parking_lot::Mutex;
use tokio::task::JoinHandle;

const T: Duration = Duration::from_secs(30);
const GROUP: &str = "broker-c";
const TOPIC: &str = "CtlTopic";
const QUEUES: i32 = 4;

/// The master of `GROUP` the name server routes now (`brokerId` 0).
async fn routed_master(ns: &str) -> Option<String> {
    let a = Admin::connect(ns).await.ok()?;
    let info = a.cluster_info().await.ok();
    a.close();
    info?.broker_addr_table.get(GROUP)?.broker_addrs.get("0").cloned()
}

/// A runtime-info field of the broker at `addr`.
async fn status(addr: &str, key: &str) -> Option<String> {
    runtime_info(addr).await?.get(key).cloned()
}

/// Acknowledged sends (body → when) and failed ones.
#[derive(Default)]
struct Sent {
    acked: BTreeMap<String, Instant>,
    failures: usize,
}

/// Which timings the controllers and brokers run with.
#[derive(Clone, Copy, PartialEq)]
enum Timings {
    /// Short heartbeats, timeouts and periods (tests of behaviour).
    Fast,
    /// The binaries' defaults (tests and benchmarks of failover time).
    Default,
}

/// Broker settings of [`Timings::Fast`].
const FAST_BROKER: [(&str, &str); 12] = [
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
struct Group {
    ctls: Controllers,
    c: Cluster,
    /// Broker process name → address.
    addrs: BTreeMap<&'static str, String>,
    ns: String,
    _ctl_dir: tempfile::TempDir,
}

impl Group {
    async fn start(timings: Timings, extra: &[(&str, &str)]) -> Group {
        ensure_bins(&["mqcontroller"], &["mq-controller"]);
        let ctl_dir = tempfile::tempdir().unwrap();
        let ctls = match timings {
            Timings::Fast => Controllers::start(ctl_dir.path(), 3, &[]),
            Timings::Default => Controllers::start_with_defaults(ctl_dir.path(), 3, &[]),
        };
        ctls.wait_leader(T).await;
        let ctl_addr = ctls.controller_addr();
        let mut settings: Vec<(&str, &str)> = vec![
            ("enableControllerMode", "true"),
            ("controllerAddr", &ctl_addr),
            ("allAckInSyncStateSet", "true"),
            ("mappedFileSizeCommitLog", "4194304"),
            ("mappedFileSizeConsumeQueue", "60000"),
        ];
        if timings == Timings::Fast {
            settings.extend_from_slice(&FAST_BROKER);
        }
        settings.extend_from_slice(extra);
        let mut c = Cluster::start(1, &settings).await;
        let mut addrs = BTreeMap::new();
        for n in ["r1", "r2", "r3"] {
            // brokerRole / brokerId are ignored in controller mode.
            addrs.insert(n, c.add_broker_unrouted(Node::master(n, GROUP, "ASYNC_MASTER")));
        }
        let ns = c.namesrv(0).to_string();
        let g = Group { ctls, c, addrs, ns, _ctl_dir: ctl_dir };
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
    async fn wait_master(&self, not: Option<&str>) -> String {
        wait_until("a (new) master routed", T, || async {
            routed_master(&self.ns).await.filter(|a| Some(a.as_str()) != not)
        })
        .await
    }

    /// Wait until the master at `master` has all 3 replicas in its in-sync set.
    async fn wait_in_sync(&self, master: &str) {
        wait_until("3 replicas in sync", T, || async {
            status(master, "syncStateSet").await.is_some_and(|s| s.split(',').count() == 3)
        })
        .await;
    }

    fn name_of(&self, addr: &str) -> &'static str {
        self.addrs.iter().find(|(_, a)| *a == addr).map(|(n, _)| *n).expect("a known broker")
    }
}

/// A producer sending SYNC to `TOPIC` until `stop`, recording every outcome.
async fn sender(
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
                    sent.lock().acked.insert(body, Instant::now());
                }
                _ => {
                    sent.lock().failures += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    });
    (producer, task)
}

/// kill -9 the master at `master`; returns the new master and the failover time (kill → the
/// first acknowledged send after it).
async fn fail_over(g: &mut Group, master: &str, sent: &Mutex<Sent>) -> (String, Duration) {
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
async fn rejoin(g: &mut Group, addr: &str) {
    g.c.spawn_broker(g.name_of(addr));
    wait_until("the old master is a replica", T, || async {
        status(addr, "brokerRole").await.is_some_and(|r| r == "SLAVE")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_the_master_a_replica_takes_over_and_the_old_one_rejoins() {
    let started = Instant::now();
    let mut g = Group::start(Timings::Fast, &[]).await;
    let master = g.wait_master(None).await;
    println!("group in sync after {:?}; master {master}", started.elapsed());
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (producer, task) = sender(&g.ns, sent.clone(), stop.clone()).await;
    let (new_master, _) = fail_over(&mut g, &master, &sent).await;
    let acked_then = sent.lock().acked.len();
    wait_until("50 more acknowledged sends", T, || async {
        sent.lock().acked.len() >= acked_then + 50
    })
    .await;
    // The old master comes back: it must follow the new one, never take writes.
    rejoin(&mut g, &master).await;
    stop.store(true, Ordering::Release);
    task.await.unwrap();
    producer.shutdown().await;
    let (acked, failures) = {
        let s = sent.lock();
        (s.acked.keys().cloned().collect::<Vec<_>>(), s.failures)
    };
    println!("{} acknowledged, {failures} failed sends", acked.len());

    // Every acknowledged message is on the new master.
    let want = read_queues(&new_master, TOPIC, QUEUES).await;
    let on_master: BTreeSet<&String> = want.values().collect();
    let lost: Vec<&String> = acked.iter().filter(|b| !on_master.contains(b)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );

    // The old master catches up and holds exactly the new master's queues.
    let end = status(&new_master, "commitLogMaxOffset").await.unwrap();
    wait_until("the old master caught up", T, || async {
        status(&master, "commitLogMaxOffset").await.is_some_and(|m| m == end)
    })
    .await;
    assert_eq!(read_queues(&master, TOPIC, QUEUES).await, want, "the rejoined replica differs");
    let cut = g.c.log_tail(g.name_of(&master), 1 << 20).contains("last common epoch boundary");
    println!("old master cut an unreplicated tail on rejoin: {cut}");
    println!(
        "new master epoch {:?}; whole test {:?}",
        status(&new_master, "masterEpoch").await,
        started.elapsed()
    );
    drop(g.ctls);
}

/// Every controller and broker timing at its default (the producer refreshes routes every
/// 300 ms): kill -9 of the master is seen by the controllers as a closed connection, the
/// leader elects at once and pushes the change, so the new master is routed and acknowledges
/// sends in a few seconds, far below the 6 s heartbeat timeout; nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_timings_fail_over_within_seconds_of_kill_9() {
    let started = Instant::now();
    let mut g = Group::start(Timings::Default, &[]).await;
    let master = g.wait_master(None).await;
    println!("group in sync after {:?}; master {master}", started.elapsed());
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (producer, task) = sender(&g.ns, sent.clone(), stop.clone()).await;
    let (new_master, failover) = fail_over(&mut g, &master, &sent).await;
    stop.store(true, Ordering::Release);
    task.await.unwrap();
    producer.shutdown().await;
    // The heartbeat timeout alone would take 6 s + a 1 s scan; leave room for load.
    assert!(failover < Duration::from_secs(5), "failover took {failover:?}");
    let acked: Vec<String> = sent.lock().acked.keys().cloned().collect();
    let on_master: BTreeSet<String> =
        read_queues(&new_master, TOPIC, QUEUES).await.into_values().collect();
    let lost: Vec<&String> = acked.iter().filter(|b| !on_master.contains(*b)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    println!("{} acknowledged; whole test {:?}", acked.len(), started.elapsed());
    drop(g.ctls);
}

/// `bench/failover.sh`: `RMQ_FAILOVER_TRIALS` (20) kill -9 trials on one group with default
/// timings (`RMQ_FAILOVER_FAST=1`: the short test timings), each master restarted as a replica
/// before the next; prints every failover time and p50 / p99.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/failover.sh runs it"]
async fn failover_trials() {
    let trials: usize =
        std::env::var("RMQ_FAILOVER_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let timings = if std::env::var("RMQ_FAILOVER_FAST").is_ok_and(|v| v == "1") {
        Timings::Fast
    } else {
        Timings::Default
    };
    let mut g = Group::start(timings, &[]).await;
    let mut master = g.wait_master(None).await;
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (producer, task) = sender(&g.ns, sent.clone(), stop.clone()).await;
    let mut times = Vec::new();
    for i in 0..trials {
        let (new_master, t) = fail_over(&mut g, &master, &sent).await;
        println!("trial {i}: {} ms", t.as_millis());
        times.push(t);
        rejoin(&mut g, &master).await;
        g.wait_in_sync(&new_master).await;
        master = new_master;
    }
    stop.store(true, Ordering::Release);
    task.await.unwrap();
    producer.shutdown().await;
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "failover over {trials} trials: p50 {} ms, p99 {} ms, max {} ms ({} acknowledged, {} failed sends)",
        pct(0.5).as_millis(),
        pct(0.99).as_millis(),
        times.last().unwrap().as_millis(),
        sent.lock().acked.len(),
        sent.lock().failures
    );
    drop(g.ctls);
}
