//! Replication under faults, with real processes on separate loopback hosts (the
//! `mq_test_support::cluster` harness): partitions of the HA link both ways and one way, a
//! frozen slave, kill -9 of a master under continuous SYNC_MASTER + SYNC_FLUSH sends.
//! Timings are shortened (heartbeat 200 ms, housekeeping 1.5 s, slaveTimeout 700 ms) so each
//! test runs in seconds.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{pull_req, send_header, send_v2};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_test_support::cluster::{Cluster, Node, ProxiedGroup, FAST_HA as FAST};
use mq_test_support::fault_proxy::Cut;
use mq_test_support::replica::{
    max_offset, read_queues, wait_caught_up, wait_committed, wait_replicating, wait_topic_served,
};
use mq_test_support::wait_until;
use parking_lot::Mutex;

const T: Duration = Duration::from_secs(30);

async fn send(c: &RemotingClient, addr: &str, i: usize) -> RemotingCommand {
    let h = send_header("HaTopic", (i % 4) as i32, "t", &format!("k{i}"));
    match c.invoke(addr, send_v2(&h, format!("m{i}").as_bytes()), T).await {
        Ok(r) => r,
        Err(e) => RemotingCommand::error(-1, e.to_string()),
    }
}

/// Send numbered messages (`*i` + 1 on) until one is SEND_OK, within `T`.
async fn until_send_ok(cl: &RemotingClient, addr: &str, what: &str, i: &mut usize) {
    let next = std::cell::Cell::new(*i);
    wait_until(what, T, || {
        next.set(next.get() + 1);
        let k = next.get();
        async move { send(cl, addr, k).await.code == response::SUCCESS }
    })
    .await;
    *i = next.get();
}

/// Partition the HA link both ways, then one way, then freeze the slave: the SYNC_MASTER
/// answers FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE, never a false SEND_OK, and after each
/// heal the slave catches up and sends are SEND_OK again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_slave_never_yields_a_false_send_ok() {
    let mut c = Cluster::start(1, FAST).await;
    let ProxiedGroup { master: m, slave: s, ha_link: proxy, clients_link: _clients } =
        c.add_proxied_group("a", "SYNC_MASTER").await;
    let cl = RemotingClient::new(ClientConfig::default());
    let mut i = 0;
    until_send_ok(&cl, &m, "first SEND_OK", &mut i).await;

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
            assert!(max_offset(&s).await.unwrap() > 0);
        }
        proxy.heal();
        wait_until("SEND_OK after the heal", T, || {
            i += 1;
            let (cl, m, i) = (&cl, m.clone(), i);
            async move { send(cl, &m, 5000 + i).await.code == response::SUCCESS }
        })
        .await;
        wait_caught_up(&m, &s).await;
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
    wait_caught_up(&m, &s).await;
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
    let (m, s) = c.add_group("a", "SYNC_MASTER").await;
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
    wait_topic_served(&s, "HaTopic").await;
    c.kill("a-m");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in senders {
        t.await.unwrap();
    }
    let acked = acked.lock().clone();
    // Everything acknowledged is readable from the slave at its queue offset.
    let on_slave = read_queues(&s, "HaTopic", 4).await;
    let missing: Vec<_> =
        acked.iter().filter(|(q, o, b)| on_slave.get(&(*q, *o)) != Some(b)).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged, missing on the slave e.g. {missing:?}",
        acked.len()
    );
}

/// The documented promotion: while the master runs, a slave restarted as master is refused;
/// once the master is gone, the slave restarted with `brokerRole=ASYNC_MASTER`, `brokerId=0`
/// on its own store serves every message the old master acknowledged, and takes writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slave_promotion_refused_while_the_master_lives_then_serves_everything() {
    let mut settings = FAST.to_vec();
    settings.push(("slaveReadEnable", "true"));
    let mut c = Cluster::start(2, &settings).await;
    let (m, s) = c.add_group("a", "SYNC_MASTER").await;
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
    wait_caught_up(&m, &s).await;
    // Metadata sync has brought the topic (the procedure checks this, as it checks the lag).
    wait_topic_served(&s, "HaTopic").await;

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
    let seen: std::collections::BTreeSet<String> =
        read_queues(&s, "HaTopic", 4).await.into_values().collect();
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
    let interop = mq_test_support::node::ensure_ali_ons();
    let mut settings = FAST.to_vec();
    settings.push(("flushDiskType", "SYNC_FLUSH"));
    settings.push(("slaveReadEnable", "true"));
    let mut c = Cluster::start(2, &settings).await;
    let (m, s) = c.add_group("a", "SYNC_MASTER").await;
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
    wait_topic_served(&s, "HaJs").await;

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

    let on_slave = read_queues(&s, "HaJs", 4).await;
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

/// Rolling restart of a 2-group SYNC_MASTER cluster (two name servers) under continuous sends
/// from our client: each broker in turn (slaves first, then masters) gets SIGTERM, is waited
/// for, started again on its store, and the next one goes only once its group replicates
/// again. Every message the producer saw as SEND_OK is readable at the end, at its queue
/// offset, on its group's master and slave. Send failures during the roll are counted and
/// printed (they are allowed: a stopped master refuses, a SYNC_MASTER without its slave
/// answers SLAVE_NOT_AVAILABLE; none of those was acknowledged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_two_groups_under_load_loses_nothing() {
    // Java's slaveTimeout (3 s): a loaded machine must not turn the roll into timeouts.
    let mut settings: Vec<_> = FAST.iter().copied().filter(|(k, _)| *k != "slaveTimeout").collect();
    settings.push(("slaveReadEnable", "true"));
    let mut c = Cluster::start(2, &settings).await;
    let groups = [c.add_group("a", "SYNC_MASTER").await, c.add_group("b", "SYNC_MASTER").await];
    c.create_topic("Roll", 4).await;
    let producer = mq_client::Producer::builder()
        .namesrv_addr(&c.namesrv_list())
        .group("RollProducer")
        .route_refresh_interval(Duration::from_millis(500))
        .fault_backoff(Duration::from_millis(500))
        .start()
        .await
        .expect("producer");
    let producer = Arc::new(producer);
    wait_until("the producer routes to both groups", T, || async {
        producer.publish_queues("Roll").await.map(|q| q.len() == 8).unwrap_or(false)
    })
    .await;

    type Acked = Vec<(String, i32, i64, String)>;
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let failures: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for w in 0..2 {
        let (p, acked, failures, stop) =
            (producer.clone(), acked.clone(), failures.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let body = format!("w{w}-{n}");
                match p.send(mq_client::Message::new("Roll", body.clone())).await {
                    Ok(r) if r.status == mq_client::SendStatus::SendOk => {
                        let q = r.message_queue;
                        acked.lock().push((q.broker_name, q.queue_id, r.queue_offset, body));
                    }
                    Ok(r) => *failures.lock().entry(r.status.java_name().into()).or_default() += 1,
                    Err(e) => {
                        *failures.lock().entry(format!("error: {e}")).or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    let acked_len = || acked.lock().len();
    wait_until("100 acknowledged sends", T, || async { acked_len() >= 100 }).await;
    for name in ["a-s", "b-s", "a-m", "b-m"] {
        let t0 = Instant::now();
        c.restart(name).await;
        let routed = Instant::now();
        let master = c.host(&format!("{}-m", &name[..1])).addr();
        // The start-up window: SLAVE_NOT_AVAILABLE until the slave (re)connects.
        wait_replicating(&master).await;
        eprintln!(
            "{name}: the group replicates {:?} after the restarted broker is routed",
            routed.elapsed()
        );
        let at = acked_len();
        wait_until(&format!("sends acknowledged after restarting {name}"), T, || async {
            acked_len() >= at + 50
        })
        .await;
        let f = std::mem::take(&mut *failures.lock());
        eprintln!("restarted {name} in {:?}; send failures meanwhile: {f:?}", t0.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in senders {
        t.await.unwrap();
    }
    producer.shutdown().await;
    let acked = acked.lock().clone();
    for (m, s) in &groups {
        wait_caught_up(m, s).await;
    }
    let mut missing = Vec::new();
    for (g, (m, s)) in ["broker-a", "broker-b"].iter().zip(&groups) {
        let (on_m, on_s) = (read_queues(m, "Roll", 4).await, read_queues(s, "Roll", 4).await);
        let mine = acked.iter().filter(|a| a.0 == *g);
        assert!(mine.clone().count() > 0, "nothing acknowledged by {g}");
        for (_, q, o, b) in mine {
            if on_m.get(&(*q, *o)) != Some(b) || on_s.get(&(*q, *o)) != Some(b) {
                missing.push((g.to_string(), *q, *o, b.clone()));
            }
        }
    }
    eprintln!("{} sends acknowledged during the roll", acked.len());
    assert!(
        missing.is_empty(),
        "{} acknowledged, missing: {:?}",
        acked.len(),
        &missing[..5.min(missing.len())]
    );
}

/// Consumers fail over to the slave (docs/ha-protocol.md §9) with our client: a group that
/// consumed part of a topic from the master restarts while the master is dead (kill -9), reads
/// its committed offsets from the slave (metadata sync brought them), consumes the rest from
/// the slave and commits there. When the master returns with its older offsets (which metadata
/// sync then copies over the slave's, as in Java), the running consumer commits its progress
/// to the master again: nothing is consumed twice and no progress is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_fails_over_to_the_slave_and_keeps_its_offsets() {
    let mut settings = FAST.to_vec();
    settings.push(("slaveReadEnable", "true"));
    let mut c = Cluster::start(2, &settings).await;
    let (m, s) = c.add_group("a", "SYNC_MASTER").await;
    c.create_topic("Fo", 4).await;
    wait_topic_served(&s, "Fo").await;
    let ns = c.namesrv_list();
    let producer = mq_client::Producer::builder()
        .namesrv_addr(&ns)
        .group("FoProducer")
        .start()
        .await
        .expect("producer");
    let send_n = |from: usize, n: usize| {
        let p = &producer;
        async move {
            for i in from..from + n {
                let r = p.send(mq_client::Message::new("Fo", format!("fo{i}"))).await.unwrap();
                assert_eq!(r.status, mq_client::SendStatus::SendOk, "send {i}");
            }
        }
    };
    let consumer = |seen: Arc<Mutex<Vec<String>>>| {
        mq_client::PushConsumer::builder()
            .namesrv_addr(&ns)
            .group("FoGroup")
            .subscribe("Fo", "*")
            .consume_from(mq_client::ConsumeFromWhere::First)
            .route_refresh_interval(Duration::from_millis(300))
            .persist_interval(Duration::from_millis(300))
            .start(move |msg: mq_client::MessageExt| {
                let seen = seen.clone();
                async move {
                    seen.lock().push(String::from_utf8_lossy(&msg.body).into_owned());
                    Ok(())
                }
            })
    };

    // 1. 200 messages consumed from the master; offsets committed there and synced.
    send_n(0, 200).await;
    let first: Arc<Mutex<Vec<String>>> = Arc::default();
    let c1 = consumer(first.clone()).await.expect("consumer");
    wait_until("200 consumed from the master", T, || async { first.lock().len() >= 200 }).await;
    c1.shutdown().await;
    wait_committed(&m, "FoGroup", "Fo", 4, 50).await;
    wait_committed(&s, "FoGroup", "Fo", 4, 50).await;

    // 2. 200 more, then the master dies; a new consumer instance reads from the slave.
    send_n(200, 200).await;
    wait_caught_up(&m, &s).await;
    c.kill("a-m");
    let second: Arc<Mutex<Vec<String>>> = Arc::default();
    let c2 = consumer(second.clone()).await.expect("consumer");
    wait_until("the 200 new messages consumed from the slave", T, || async {
        second.lock().len() >= 200
    })
    .await;
    wait_committed(&s, "FoGroup", "Fo", 4, 100).await;

    // 3. The master returns (offsets 50 per queue); the consumer's progress reaches it.
    c.start_broker("a-m").await;
    wait_replicating(&m).await;
    wait_committed(&m, "FoGroup", "Fo", 4, 100).await;
    send_n(400, 40).await;
    wait_until("the last 40 consumed", T, || async { second.lock().len() >= 240 }).await;
    wait_committed(&m, "FoGroup", "Fo", 4, 110).await;
    c2.shutdown().await;
    producer.shutdown().await;

    let mut got = second.lock().clone();
    got.sort();
    let before = got.len();
    got.dedup();
    assert_eq!(before, got.len(), "consumed twice after the failover");
    let want: std::collections::BTreeSet<String> = (200..440).map(|i| format!("fo{i}")).collect();
    assert_eq!(got.into_iter().collect::<std::collections::BTreeSet<_>>(), want);
}

/// Name-server partitions (two name servers, links cut through fault proxies): a client cut
/// off from one name server keeps its routes from the other and keeps sending; a broker cut
/// off from one is dropped by it (after its `brokerChannelExpiredTime`, 15 s here) while the
/// other keeps routing it all along, and the cut-off one routes it again after the heal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_server_partition_leaves_routes_to_the_other() {
    let ns_settings =
        [("scanNotActiveBrokerInterval", "300"), ("brokerChannelExpiredTime", "3000")];
    let mut settings = FAST.to_vec();
    settings.push(("registerNameServerPeriod", "500"));
    let mut c = Cluster::start_with(2, &ns_settings, &settings).await;
    let (to_ns0_broker, to_ns0_client) = (c.namesrv_proxy(0).await, c.namesrv_proxy(0).await);
    let ns1 = c.namesrv(1).to_string();
    c.add_broker(
        Node::master("a-m", "broker-a", "ASYNC_MASTER")
            .set("namesrvAddr", &format!("{};{ns1}", to_ns0_broker.addr)),
    )
    .await;
    c.create_topic("NsPart", 4).await;
    // The client asks name server 0 first (it sticks to the first that answers).
    let producer = mq_client::Producer::builder()
        .namesrv_addr(&format!("{};{ns1}", to_ns0_client.addr))
        .group("NsPartProducer")
        .route_refresh_interval(Duration::from_millis(300))
        .rpc_timeout(Duration::from_secs(1))
        .start()
        .await
        .expect("producer");
    let send_ok = |n: usize| {
        let p = &producer;
        async move {
            let mut ok = 0;
            let deadline = Instant::now() + T;
            while ok < n {
                assert!(Instant::now() < deadline, "only {ok} of {n} sends OK");
                let r = p.send(mq_client::Message::new("NsPart", "x")).await;
                if matches!(r, Ok(ref r) if r.status == mq_client::SendStatus::SendOk) {
                    ok += 1;
                }
            }
        }
    };
    send_ok(20).await;

    // The client loses name server 0: routes come from name server 1, sends go on.
    to_ns0_client.cut(Cut::Both);
    let refreshed = Instant::now();
    send_ok(50).await;
    // The routes it sends with are refreshed meanwhile (from name server 1).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    send_ok(20).await;
    eprintln!("sends went on without name server 0 ({:?})", refreshed.elapsed());

    // The broker loses name server 0: it drops the broker, name server 1 keeps it.
    to_ns0_broker.cut(Cut::Both);
    // (The broker's registration round waits for the cut name server's timeout, 6 s and one
    // retry, so the expiry must exceed that for name server 1 to see every round in time.)
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.routes(0, "a-m").await {
        assert!(Instant::now() < deadline, "name server 0 still routes a partitioned broker");
        assert!(c.routes(1, "a-m").await, "name server 1 dropped a broker it can reach");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(c.routes(1, "a-m").await, "name server 1 dropped a broker it can reach");
    send_ok(20).await;

    // Healed: the broker registers with name server 0 again.
    to_ns0_broker.heal();
    to_ns0_client.heal();
    wait_until("name server 0 routes the broker again", T, || c.routes(0, "a-m")).await;
    send_ok(20).await;
    producer.shutdown().await;
}

/// Scrape `/metrics` of the broker at `addr` (`ip:port`) until `ok` holds of the text
/// (bounded by `T`); returns that text.
async fn scrape_until(addr: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + T;
    loop {
        let a = addr.to_string();
        let text = tokio::task::spawn_blocking(move || {
            mq_common::probe::http_get(&a, "/metrics", Duration::from_secs(5))
                .map(|(_, body)| body)
                .unwrap_or_default()
        })
        .await
        .unwrap();
        if ok(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Replication metrics from real processes (docs/observability.md): the master reports its
/// role, and per slave no lag, a fresh acknowledgement and in-sync; the slave reports its
/// role, its HA connection and its own bytes behind. A frozen slave shows on the master as
/// growing acknowledgement age and unreplicated bytes; thawed, it is back to 0 lag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_metrics_show_role_lag_and_ack_age() {
    use mq_common::probe::sample;
    let mut c = Cluster::start(1, FAST).await;
    let (mp, sp) = (mq_test_support::free_port(), mq_test_support::free_port());
    // Housekeeping far off: the master keeps the frozen slave's link (and its series).
    let node = |n: Node, port: u16| {
        n.set("metricsExporterType", "PROM")
            .set("metricsPromExporterPort", &port.to_string())
            .set("haHousekeepingInterval", "60000")
    };
    let m = c.add_broker(node(Node::master("a-m", "broker-a", "ASYNC_MASTER"), mp)).await;
    let s = c.add_broker(node(Node::slave("a-s", "broker-a", 1), sp)).await;
    let (mm, sm) = (format!("{}:{mp}", c.host("a-m").ip), format!("{}:{sp}", c.host("a-s").ip));
    wait_replicating(&m).await;
    let cl = RemotingClient::new(ClientConfig::default());
    let mut i = 0;
    until_send_ok(&cl, &m, "first SEND_OK", &mut i).await;
    wait_caught_up(&m, &s).await;

    let text = scrape_until(&mm, "the master to see its slave in sync with no lag", |t| {
        sample(t, "rmq_replica_lag_bytes", &[]) == Some(0.0)
            && sample(t, "rmq_replica_in_sync", &[]) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, "rmq_ha_master", &[]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "rmq_ha_writable", &[]), Some(1.0));
    assert_eq!(sample(&text, "rmq_broker_info", &[("role", "ASYNC_MASTER")]), Some(1.0));
    assert_eq!(sample(&text, "rmq_ha_connections", &[]), Some(1.0));
    assert!(text.contains(",replica=\"127.0.0."), "labelled by the slave's address: {text}");
    // Reports come every haSendHeartbeatInterval (200 ms); a loaded machine may delay a few.
    let age = sample(&text, "rmq_replica_ack_age_ms", &[]).expect("ack age");
    assert!(age < 10_000.0, "{text}");

    let text = scrape_until(&sm, "the slave to report itself caught up and connected", |t| {
        sample(t, "rmq_replica_lag_bytes", &[]) == Some(0.0)
            && sample(t, "rmq_ha_slave_connected", &[]) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, "rmq_ha_master", &[]), Some(0.0), "{text}");
    assert_eq!(sample(&text, "rmq_ha_writable", &[]), Some(0.0));
    assert_eq!(sample(&text, "rmq_broker_info", &[("role", "SLAVE")]), Some(1.0));
    assert_eq!(sample(&text, "rmq_replica_in_sync", &[]), None, "a master-side series");

    // Frozen slave: the master's view of it ages and falls behind.
    c.freeze("a-s");
    for k in 0..20 {
        assert_eq!(send(&cl, &m, 100 + k).await.code, response::SUCCESS);
    }
    scrape_until(&mm, "the master to see the frozen slave's lag and ack age", |t| {
        sample(t, "rmq_replica_lag_bytes", &[]).is_some_and(|v| v > 0.0)
            && sample(t, "rmq_replica_ack_age_ms", &[]).is_some_and(|v| v >= 1000.0)
    })
    .await;
    c.thaw("a-s");
    let text = scrape_until(&mm, "lag back to 0 after the thaw", |t| {
        sample(t, "rmq_replica_lag_bytes", &[]) == Some(0.0)
    })
    .await;
    // The acknowledgement of the sends made while it was frozen came ≥ ~0.8 s after them
    // (frozen until its last report, ≤ 200 ms before the freeze, was 1 s old): the master's
    // lag in time shows it, in the runtime info (`brokerStatus`) and in the histogram.
    let info = mq_test_support::replica::runtime_info(&m).await.expect("runtime info");
    let lag = info.get("haSlaveAckLag").expect("haSlaveAckLag");
    let f: Vec<u64> = lag.rsplitn(6, ':').take(5).map(|x| x.parse().unwrap()).collect();
    let (max, count) = (f[1], f[4]);
    assert!(count >= 2 && max >= 500_000, "{lag}");
    let over_half_s = sample(&text, "rmq_replica_ack_lag_ms_count", &[]).unwrap_or(0.0)
        - sample(&text, "rmq_replica_ack_lag_ms_bucket", &[("le", "500.0")]).unwrap_or(0.0);
    assert!(over_half_s >= 1.0, "{text}");
    cl.close_all();
}
