//! Replication under faults, with real processes on separate loopback hosts (the
//! `mq_test_support::cluster` harness): partitions of the HA link both ways and one way, a
//! frozen slave, kill -9 of a master under continuous SYNC_MASTER + SYNC_FLUSH sends.
//! Timings are shortened (heartbeat 200 ms, housekeeping 1.5 s, slaveTimeout 700 ms) so each
//! test runs in seconds.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{decode_msgs, pull_req, send_header, send_v2};
use mq_common::protocol::body::KvTable;
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_test_support::cluster::{Cluster, Node};
use mq_test_support::fault_proxy::{Cut, FaultProxy};
use mq_test_support::wait_until;
use parking_lot::Mutex;

const T: Duration = Duration::from_secs(30);
const FAST: &[(&str, &str)] = &[
    ("haSendHeartbeatInterval", "200"),
    ("haHousekeepingInterval", "1500"),
    ("slaveTimeout", "700"),
    ("haMetadataSyncInterval", "500"),
    ("mappedFileSizeCommitLog", "4194304"),
    ("mappedFileSizeConsumeQueue", "60000"),
];

async fn send(c: &RemotingClient, addr: &str, i: usize) -> RemotingCommand {
    let h = send_header("HaTopic", (i % 4) as i32, "t", &format!("k{i}"));
    match c.invoke(addr, send_v2(&h, format!("m{i}").as_bytes()), T).await {
        Ok(r) => r,
        Err(e) => RemotingCommand::error(-1, e.to_string()),
    }
}

async fn runtime(c: &RemotingClient, addr: &str) -> BTreeMap<String, String> {
    let r = c
        .invoke(addr, RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO), T)
        .await
        .expect("runtime info");
    let t: KvTable = serde_json::from_slice(&r.body).expect("kv table");
    t.table.into_iter().collect()
}

async fn max_offset(c: &RemotingClient, addr: &str) -> i64 {
    runtime(c, addr).await["commitLogMaxOffset"].parse().unwrap()
}

async fn caught_up(c: &RemotingClient, master: &str, slave: &str) {
    let m = max_offset(c, master).await;
    wait_until("slave caught up", T, || async { max_offset(c, slave).await == m }).await;
}

/// Partition the HA link both ways, then one way, then freeze the slave: the SYNC_MASTER
/// answers FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE, never a false SEND_OK, and after each
/// heal the slave catches up and sends are SEND_OK again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_slave_never_yields_a_false_send_ok() {
    let mut c = Cluster::start(1, FAST).await;
    let m = c.add_broker(Node::master("a-m", "broker-a", "SYNC_MASTER")).await;
    let proxy = FaultProxy::start("127.0.0.1", &c.host("a-m").ha_addr()).await;
    let s =
        c.add_broker(Node::slave("a-s", "broker-a", 1).set("haMasterAddress", &proxy.addr)).await;
    let cl = RemotingClient::new(ClientConfig::default());
    let mut i = 0;
    wait_until("first SEND_OK", T, || {
        i += 1;
        let (cl, m, i) = (&cl, m.clone(), i);
        async move { send(cl, &m, i).await.code == response::SUCCESS }
    })
    .await;

    for cut in [Cut::Both, Cut::ToServer] {
        proxy.cut(cut);
        let until = Instant::now() + Duration::from_secs(3);
        let mut codes = BTreeMap::new();
        while Instant::now() < until {
            i += 1;
            let r = send(&cl, &m, 1000 + i).await;
            *codes.entry(r.code).or_insert(0) += 1;
        }
        assert!(!codes.contains_key(&response::SUCCESS), "{cut:?}: a false SEND_OK: {codes:?}");
        assert!(codes.contains_key(&response::FLUSH_SLAVE_TIMEOUT), "{cut:?}: {codes:?}");
        if cut == Cut::ToServer {
            // Frames still flow to the slave; only its acknowledgements are lost.
            assert!(max_offset(&cl, &s).await > 0);
        }
        proxy.heal();
        wait_until("SEND_OK after the heal", T, || {
            i += 1;
            let (cl, m, i) = (&cl, m.clone(), i);
            async move { send(cl, &m, 5000 + i).await.code == response::SUCCESS }
        })
        .await;
        caught_up(&cl, &m, &s).await;
    }

    // A frozen slave: timeouts, then SLAVE_NOT_AVAILABLE once the master drops it.
    c.freeze("a-s");
    let until = Instant::now() + Duration::from_secs(3);
    let mut codes = BTreeMap::new();
    while Instant::now() < until {
        i += 1;
        *codes.entry(send(&cl, &m, 9000 + i).await.code).or_insert(0) += 1;
    }
    assert!(!codes.contains_key(&response::SUCCESS), "frozen slave: {codes:?}");
    assert!(
        codes.contains_key(&response::SLAVE_NOT_AVAILABLE),
        "dropped after housekeeping: {codes:?}"
    );
    c.thaw("a-s");
    wait_until("SEND_OK after the thaw", T, || {
        i += 1;
        let (cl, m, i) = (&cl, m.clone(), i);
        async move { send(cl, &m, 20_000 + i).await.code == response::SUCCESS }
    })
    .await;
    caught_up(&cl, &m, &s).await;
    cl.close_all();
}

/// kill -9 the master under continuous SYNC_MASTER + SYNC_FLUSH sends from several
/// connections: every message acknowledged with SEND_OK is on the slave, at the queue offset
/// the master answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_kill_loses_no_acknowledged_message() {
    let mut settings = FAST.to_vec();
    settings.push(("flushDiskType", "SYNC_FLUSH"));
    settings.push(("slaveReadEnable", "true"));
    let mut c = Cluster::start(2, &settings).await;
    let m = c.add_broker(Node::master("a-m", "broker-a", "SYNC_MASTER")).await;
    let s = c.add_broker(Node::slave("a-s", "broker-a", 1)).await;
    let acked: Arc<Mutex<Vec<(i32, i64, String)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for w in 0..4 {
        let (m, acked, stop) = (m.clone(), acked.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let cl = RemotingClient::new(ClientConfig::default());
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let i = w * 1_000_000 + n;
                let r = send(&cl, &m, i).await;
                if r.code == response::SUCCESS {
                    let f = &r.ext_fields;
                    let q: i32 = f.get("queueId").unwrap().parse().unwrap();
                    let o: i64 = f.get("queueOffset").unwrap().parse().unwrap();
                    acked.lock().push((q, o, format!("m{i}")));
                } else if r.code == -1 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            cl.close_all();
        }));
    }
    wait_until("300 acknowledged sends", T, || async { acked.lock().len() >= 300 }).await;
    // The topic (auto-created on the master) reaches the slave by metadata sync.
    let cl = RemotingClient::new(ClientConfig::default());
    wait_until("the slave serves the topic", T, || async {
        let r = cl.invoke(&s, pull_req("G", "HaTopic", 0, 0, Some("*"), None), T).await;
        r.map(|r| r.code == response::SUCCESS).unwrap_or(false)
    })
    .await;
    c.kill("a-m");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in senders {
        t.await.unwrap();
    }
    let acked = acked.lock().clone();
    // Everything acknowledged is readable from the slave at its queue offset.
    let mut on_slave: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for q in 0..4 {
        let mut off = 0;
        loop {
            let r =
                cl.invoke(&s, pull_req("G", "HaTopic", q, off, Some("*"), None), T).await.unwrap();
            if r.code != response::SUCCESS {
                break;
            }
            for msg in decode_msgs(&r.body) {
                on_slave.insert((q, msg.queue_offset), String::from_utf8_lossy(&msg.body).into());
                off = msg.queue_offset + 1;
            }
        }
    }
    let missing: Vec<_> =
        acked.iter().filter(|(q, o, b)| on_slave.get(&(*q, *o)) != Some(b)).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged, missing on the slave e.g. {missing:?}",
        acked.len()
    );
    cl.close_all();
}

/// The documented promotion: while the master runs, a slave restarted as master is refused;
/// once the master is gone, the slave restarted with `brokerRole=ASYNC_MASTER`, `brokerId=0`
/// on its own store serves every message the old master acknowledged, and takes writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_promotion_refused_while_the_master_lives_then_serves_everything() {
    let mut settings = FAST.to_vec();
    settings.push(("slaveReadEnable", "true"));
    let mut c = Cluster::start(2, &settings).await;
    let m = c.add_broker(Node::master("a-m", "broker-a", "SYNC_MASTER")).await;
    let s = c.add_broker(Node::slave("a-s", "broker-a", 1)).await;
    let cl = RemotingClient::new(ClientConfig::default());
    let mut acked = Vec::new();
    let mut i = 0;
    while acked.len() < 50 {
        i += 1;
        let r = send(&cl, &m, i).await;
        if r.code == response::SUCCESS {
            acked.push(i);
        }
    }
    caught_up(&cl, &m, &s).await;
    // Metadata sync has brought the topic (the procedure checks this, as it checks the lag).
    wait_until("the slave serves the topic", T, || async {
        let r = cl.invoke(&s, pull_req("G", "HaTopic", 0, 0, Some("*"), None), T).await;
        r.map(|r| r.code == response::SUCCESS).unwrap_or(false)
    })
    .await;

    c.stop("a-s");
    c.set("a-s", "brokerRole", "ASYNC_MASTER");
    c.set("a-s", "brokerId", "0");
    let log = c.start_expecting_exit("a-s");
    assert!(log.contains("refusing to start as a second master"), "{log}");

    c.kill("a-m");
    c.start_broker("a-s").await; // waits until both name servers route broker-a's id 0 to it
    for q in 0..4 {
        let r = cl.invoke(&s, pull_req("G", "HaTopic", q, 0, Some("*"), None), T).await.unwrap();
        assert_eq!(r.code, response::SUCCESS, "queue {q}");
    }
    let mut seen = std::collections::BTreeSet::new();
    for q in 0..4 {
        let mut off = 0;
        loop {
            let r =
                cl.invoke(&s, pull_req("G", "HaTopic", q, off, Some("*"), None), T).await.unwrap();
            if r.code != response::SUCCESS {
                break;
            }
            for msg in decode_msgs(&r.body) {
                seen.insert(String::from_utf8_lossy(&msg.body).into_owned());
                off = msg.queue_offset + 1;
            }
        }
    }
    for i in &acked {
        assert!(seen.contains(&format!("m{i}")), "m{i} acknowledged by the old master is missing");
    }
    assert_eq!(
        send(&cl, &s, 99_999).await.code,
        response::SUCCESS,
        "the promoted broker takes writes"
    );
    cl.close_all();
}

/// ali-ons (a real third-party client, pure JavaScript) sends continuously to a SYNC_MASTER +
/// SYNC_FLUSH group while its master is killed with kill -9: every message ali-ons saw
/// acknowledged with SEND_OK is on the slave at the queue offset it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_client_acks_survive_a_master_kill() {
    let interop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop");
    ensure_ali_ons(&interop);
    let mut settings = FAST.to_vec();
    settings.push(("flushDiskType", "SYNC_FLUSH"));
    settings.push(("slaveReadEnable", "true"));
    let mut c = Cluster::start(2, &settings).await;
    let m = c.add_broker(Node::master("a-m", "broker-a", "SYNC_MASTER")).await;
    let s = c.add_broker(Node::slave("a-s", "broker-a", 1)).await;
    let cl = RemotingClient::new(ClientConfig::default());
    let h = mq_common::protocol::header::CreateTopicRequestHeader {
        topic: "HaJs".into(),
        default_topic: Some("TBW102".into()),
        read_queue_nums: 4,
        write_queue_nums: 4,
        perm: 6,
        ..Default::default()
    };
    let r = cl
        .invoke(&m, RemotingCommand::request_with_header(rq::UPDATE_AND_CREATE_TOPIC, &h), T)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    wait_until("the slave knows the topic", T, || async {
        let r = cl.invoke(&s, pull_req("G", "HaJs", 0, 0, Some("*"), None), T).await;
        r.map(|r| r.code != response::TOPIC_NOT_EXIST).unwrap_or(false)
    })
    .await;

    let (ack, stop) = (c.dir.path().join("acked.txt"), c.dir.path().join("stop"));
    let mut cmd = std::process::Command::new("node");
    cmd.current_dir(&interop)
        .arg("ha_kill.js")
        .arg(c.namesrv_list())
        .arg("HaJs")
        .arg(&ack)
        .arg(&stop);
    let mut js = mq_test_support::Proc::spawn_command(c.dir.path(), "ali-ons", cmd);
    let lines = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    wait_until("200 sends acknowledged to ali-ons", Duration::from_secs(60), || async {
        lines(&ack).lines().count() >= 200
    })
    .await;
    c.kill("a-m");
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(&stop, b"").unwrap();
    let deadline = Instant::now() + T;
    while js.alive() {
        assert!(Instant::now() < deadline, "ali-ons did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = js.log_tail(2000);
    assert!(out.contains("acked="), "{out}");

    let mut on_slave: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for q in 0..4 {
        let mut off = 0;
        loop {
            let r = cl.invoke(&s, pull_req("G", "HaJs", q, off, Some("*"), None), T).await.unwrap();
            if r.code != response::SUCCESS {
                break;
            }
            for msg in decode_msgs(&r.body) {
                on_slave.insert((q, msg.queue_offset), String::from_utf8_lossy(&msg.body).into());
                off = msg.queue_offset + 1;
            }
        }
    }
    let text = lines(&ack);
    let acked: Vec<(i32, i64, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut it = l.split(' ');
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?))
        })
        .collect();
    assert!(acked.len() >= 200);
    let missing: Vec<_> = acked
        .iter()
        .filter(|(q, o, b)| on_slave.get(&(*q, *o)).map(String::as_str) != Some(*b))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} acked to ali-ons ({out}); missing on the slave: {missing:?}",
        acked.len()
    );
    cl.close_all();
}

/// `npm ci` the pinned ali-ons (interop/package-lock.json) unless installed, as
/// scripts/interop.sh does; node and npm are required (CI installs them).
fn ensure_ali_ons(interop: &std::path::Path) {
    if interop.join("node_modules/ali-ons").exists() {
        return;
    }
    let st = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(interop)
        .status()
        .expect("npm is required for the ali-ons fault test");
    assert!(st.success(), "npm ci failed in {}", interop.display());
}
