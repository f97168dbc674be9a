//! Controller mode under faults, real processes (issue 19, `docs/controller.md`), short test
//! timings (broker heartbeat timeout and lease 1.5 s, in-sync upkeep every 300 ms, a member
//! leaves after 3 s behind):
//! * a master cut off from the controllers (fault proxies) but not from clients fences itself
//!   within its lease, a replica is elected, nothing acknowledged is missing on the new master;
//! * the in-sync set shrinks when a replica is SIGSTOPped (all-ack sends go on) and grows back
//!   after SIGCONT;
//! * `minInSyncReplicas=2`: sends are refused (SYSTEM_ERROR, "in-sync replicas not enough",
//!   nothing stored) once the set is the master alone;
//! * a deposed master holding acknowledged but unreplicated messages cuts them on rejoin (at
//!   the last common epoch) and ends with queues identical to the new master's.

mod common;
#[path = "common/controller_group.rs"]
mod controller_group;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controller_group::*;
use mq_client::{Message, Producer, SendStatus};
use mq_common::protocol::codes::response as rc;
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_test_support::fault_proxy::Cut;
use mq_test_support::replica::{max_offset, read_queues, wait_same_queues};
use mq_test_support::wait_until;
use parking_lot::Mutex;

/// The fast timings' lease (`controllerHeartBeatTimeoutMills`).
const LEASE: Duration = Duration::from_millis(1500);

/// One SEND_MESSAGE_V2 straight to `addr` (no routing): its response code, or None when the
/// broker did not answer in time.
async fn send_direct(client: &RemotingClient, addr: &str, body: &str) -> Option<(i32, String)> {
    let h = common::send_header(TOPIC, 0, "T", body);
    let r = client.invoke(addr, common::send_v2(&h, body.as_bytes()), Duration::from_secs(3)).await;
    match r {
        Ok(r) => Some((r.code, r.remark.unwrap_or_default())),
        Err(_) => {
            client.close_channel(addr);
            None
        }
    }
}

/// A producer for one-off sends in a test (routes refreshed every 300 ms, no retries).
async fn producer(ns: &str, group: &str) -> Producer {
    Producer::builder()
        .namesrv_addr(ns)
        .group(group)
        .route_refresh_interval(Duration::from_millis(300))
        .send_timeout(Duration::from_secs(3))
        .retries(0)
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_cut_off_from_the_controllers_fences_itself_and_a_replica_takes_over() {
    cut_off_master(Timings::Fast, LEASE).await;
}

/// The same with every timing at its default (6 s lease and heartbeat timeout, 1 s scan):
/// writes must resume within 10 s of the cut (issue 19's target for an isolated master).
/// Ignored in CI (a default-timing group takes ~15 s to form); run by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "default timings: slow; run by hand"]
async fn an_isolated_master_is_replaced_within_10_s_on_default_timings() {
    let resumed = cut_off_master(Timings::Default, Duration::from_secs(6)).await;
    assert!(resumed < Duration::from_secs(10), "writes resumed only after {resumed:?}");
}

/// Cut the master off from every controller (not from clients); returns cut → the first
/// send acknowledged after the old master fenced itself.
async fn cut_off_master(timings: Timings, lease: Duration) -> Duration {
    let started = Instant::now();
    let g = Group::start(timings, true, &[]).await;
    let master = g.wait_master(None).await;
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (p, task) = sender(&g.ns, sent.clone(), stop.clone()).await;
    wait_until("50 acknowledged sends", T, || async { sent.lock().acked.len() >= 50 }).await;

    // Cut the master from every controller; clients (and its replicas) still reach it.
    g.cut_from_controllers(g.name_of(&master), Some(Cut::Both));
    let cut = Instant::now();
    // Probe it directly until it refuses: it must stop acknowledging within its lease.
    let client = RemotingClient::new(ClientConfig::default());
    let mut probes_acked = Vec::new();
    let mut i = 0;
    let mut answers: Vec<(u128, Option<i32>)> = Vec::new();
    let fenced_after = loop {
        i += 1;
        let body = format!("probe{i}");
        let r = send_direct(&client, &master, &body).await;
        answers.push((cut.elapsed().as_millis(), r.as_ref().map(|r| r.0)));
        match r {
            Some((rc::SUCCESS, _)) => probes_acked.push(body),
            Some((rc::SERVICE_NOT_AVAILABLE, _)) => break cut.elapsed(),
            _ => {}
        }
        if cut.elapsed() > T {
            g.c.dump_logs();
            panic!("the cut-off master still answers after {T:?}: (ms, code) {answers:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let fenced_at = cut + fenced_after;
    let new_master = g.wait_master(Some(&master)).await;
    let routed_after = cut.elapsed();
    // The deposed master is alive and still registers with the name server under broker id 0:
    // the route must stay on the new master (its registration carries the newer master epoch
    // as the state version; the name server drops the older one, as Java's).
    let hold = Instant::now() + lease.min(Duration::from_secs(3));
    while Instant::now() < hold {
        let routed = routed_master(&g.ns).await;
        assert!(
            routed.is_none() || routed.as_deref() == Some(new_master.as_str()),
            "the route went back to {routed:?} after {new_master} was routed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = sent.lock().acked.len();
    wait_until("sends acknowledged by the new master", T, || async {
        sent.lock().acked.len() >= before + 30
    })
    .await;
    // Once fenced it stays fenced (it hears no controller).
    let (code, _) = send_direct(&client, &master, "late").await.expect("an answer");
    assert_eq!(code, rc::SERVICE_NOT_AVAILABLE, "the fenced master took a write");
    stop.store(true, Ordering::Release);
    task.await.unwrap();
    p.shutdown().await;
    client.close_all();
    println!(
        "fenced {fenced_after:?} after the cut (lease {lease:?}); new master {new_master} routed after {routed_after:?}; {} probes acknowledged before the fence",
        probes_acked.len()
    );
    let resumed = {
        let s = sent.lock();
        s.acked.values().filter(|t| **t > fenced_at).min().map(|t| *t - cut)
    }
    .expect("sends acknowledged after the fence");
    {
        let s = sent.lock();
        println!("writes resumed {resumed:?} after the cut; failed sends by code: {:?}", s.codes);
    }
    if resumed >= Duration::from_secs(10) {
        g.keep_logs("isolated-master-slow");
    }
    // Within the lease, plus the 20 ms probe period and scheduling under load.
    assert!(fenced_after < lease + Duration::from_secs(2), "fenced only after {fenced_after:?}");
    let mut acked: Vec<String> = sent.lock().acked.keys().cloned().collect();
    acked.extend(probes_acked);
    assert_all_on(&new_master, &acked).await;
    assert!(
        g.c.log_tail(g.name_of(&master), 1 << 20)
            .contains("no controller answered within the lease"),
        "the fence was not logged"
    );
    println!(
        "{} acknowledged, all on the new master; whole test {:?}",
        acked.len(),
        started.elapsed()
    );
    resumed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_sync_set_shrinks_when_a_replica_stops_and_grows_when_it_resumes() {
    let started = Instant::now();
    let g = Group::start(Timings::Fast, false, &[]).await;
    let master = g.wait_master(None).await;
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (p, task) = sender(&g.ns, sent.clone(), stop.clone()).await;
    wait_until("50 acknowledged sends", T, || async { sent.lock().acked.len() >= 50 }).await;

    let replica = *g.addrs.keys().find(|n| g.addrs[**n] != master).unwrap();
    g.c.freeze(replica);
    let frozen = Instant::now();
    g.wait_sss_size(&master, 2).await;
    let shrunk_after = frozen.elapsed();
    // All-ack sends wait for the two members left only.
    let n = sent.lock().acked.len();
    wait_until("50 sends acknowledged after the shrink", T, || async {
        sent.lock().acked.len() >= n + 50
    })
    .await;
    g.c.thaw(replica);
    let thawed = Instant::now();
    g.wait_in_sync(&master).await;
    let grown_after = thawed.elapsed();
    let n = sent.lock().acked.len();
    wait_until("20 sends acknowledged by all three", T, || async {
        sent.lock().acked.len() >= n + 20
    })
    .await;
    stop.store(true, Ordering::Release);
    task.await.unwrap();
    p.shutdown().await;
    let acked: Vec<String> = sent.lock().acked.keys().cloned().collect();
    assert_all_on(&master, &acked).await;
    // The resumed replica caught up with everything.
    let end = max_offset(&master).await.unwrap();
    let replica_addr = g.addrs[replica].clone();
    wait_until("the resumed replica caught up", T, || async {
        max_offset(&replica_addr).await == Some(end)
    })
    .await;
    let (failures, codes) = {
        let s = sent.lock();
        (s.failures, s.codes.clone())
    };
    println!(
        "in-sync set 3 -> 2 after {shrunk_after:?} of SIGSTOP, back to 3 {grown_after:?} after SIGCONT; {} acknowledged, {failures} failed ({codes:?}); whole test {:?}",
        acked.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_in_sync_replicas_refuses_sends_when_the_master_is_alone() {
    let started = Instant::now();
    let mut g = Group::start(Timings::Fast, false, &[("minInSyncReplicas", "2")]).await;
    let master = g.wait_master(None).await;
    let p = producer(&g.ns, "MinIsrPG").await;
    let replicas: Vec<&'static str> =
        g.addrs.iter().filter(|(_, a)| **a != master).map(|(n, _)| *n).collect();

    // Two members left: still enough.
    g.c.kill(replicas[0]);
    g.wait_sss_size(&master, 2).await;
    let ok = wait_until("a send acknowledged by two members", T, || async {
        p.send(Message::new(TOPIC, "two".as_bytes().to_vec()))
            .await
            .ok()
            .filter(|r| r.status == SendStatus::SendOk)
    })
    .await;
    println!("two members: acknowledged at offset {}", ok.queue_offset);

    // The master alone: refused before anything is stored.
    g.c.kill(replicas[1]);
    g.wait_sss_size(&master, 1).await;
    let end = max_offset(&master).await.unwrap();
    let client = RemotingClient::new(ClientConfig::default());
    for i in 0..5 {
        let (code, remark) = send_direct(&client, &master, &format!("alone{i}")).await.unwrap();
        assert_eq!(code, rc::SYSTEM_ERROR, "send {i} with one in-sync member: {remark}");
        assert!(remark.contains("in-sync replicas not enough"), "remark: {remark}");
    }
    let e = p.send(Message::new(TOPIC, "alone".as_bytes().to_vec())).await.unwrap_err();
    assert_eq!(broker_code(&e), rc::SYSTEM_ERROR, "the producer sees {e}");
    assert_eq!(max_offset(&master).await, Some(end), "a refused send was stored");
    client.close_all();
    p.shutdown().await;
    println!("refused with SYSTEM_ERROR, nothing stored; whole test {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_master_cuts_its_unreplicated_tail_and_matches_the_new_master() {
    let started = Instant::now();
    // The master answers sends alone (inSyncReplicas=1, not all-ack), so it can hold
    // acknowledged messages its replicas never got; a member stays in the set through the
    // short pause below.
    let mut g = Group::start(
        Timings::Fast,
        false,
        &[("allAckInSyncStateSet", "false"), ("haMaxTimeSlaveNotCatchup", "15000")],
    )
    .await;
    let master = g.wait_master(None).await;
    let p = producer(&g.ns, "TailPG").await;
    for i in 0..20 {
        let r = p.send(Message::new(TOPIC, format!("common{i}").into_bytes())).await.unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
    }
    let end = max_offset(&master).await.unwrap();
    let replicas: Vec<&'static str> =
        g.addrs.iter().filter(|(_, a)| **a != master).map(|(n, _)| *n).collect();
    for r in &replicas {
        let addr = g.addrs[r].clone();
        wait_until("replicas caught up", T, || async { max_offset(&addr).await == Some(end) })
            .await;
    }

    // Pause the replicas, write a tail only the master holds, kill it, resume them.
    for r in &replicas {
        g.c.freeze(r);
    }
    for i in 0..10 {
        let r = p.send(Message::new(TOPIC, format!("tail{i}").into_bytes())).await.unwrap();
        assert_eq!(r.status, SendStatus::SendOk, "tail send {i}");
    }
    let tail_end = max_offset(&master).await.unwrap();
    assert!(tail_end > end);
    g.c.kill(g.name_of(&master));
    for r in &replicas {
        g.c.thaw(r);
    }
    let new_master = g.wait_master(Some(&master)).await;
    let after = wait_until("the new master acknowledges", T, || async {
        p.send(Message::new(TOPIC, "after0".as_bytes().to_vec()))
            .await
            .ok()
            .filter(|r| r.status == SendStatus::SendOk)
    })
    .await;
    println!("new master {new_master}: first send at offset {}", after.queue_offset);
    for i in 1..10 {
        let r = p.send(Message::new(TOPIC, format!("after{i}").into_bytes())).await.unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
    }
    p.shutdown().await;

    // The old master rejoins: it must cut the tail, then replicate the new master's log.
    rejoin(&mut g, &master).await;
    let new_end = max_offset(&new_master).await.unwrap();
    wait_until("the old master caught up", T, || async {
        max_offset(&master).await == Some(new_end)
    })
    .await;
    let want = read_queues(&new_master, TOPIC, QUEUES).await;
    // The commit log is level; what the replica serves follows (dispatch, read limit).
    if let Err(diff) = wait_same_queues(&master, TOPIC, QUEUES, &want).await {
        g.c.dump_logs();
        panic!("the rejoined replica differs: {diff}");
    }
    let log = g.c.log_tail(g.name_of(&master), 1 << 20);
    assert!(log.contains("last common epoch boundary"), "no cut logged on rejoin");
    let bodies: BTreeSet<&String> = want.values().collect();
    let tail_kept = (0..10).filter(|i| bodies.contains(&format!("tail{i}"))).count();
    println!(
        "old master held {} unreplicated bytes; after rejoin its queues equal the new master's ({} tail messages survived on it: the replicas never had them); whole test {:?}",
        tail_end - end,
        tail_kept,
        started.elapsed()
    );
    assert_eq!(tail_kept, 0, "the replicas were paused: the tail cannot be on the new master");
}

/// A replica lets consumers read only what its master confirmed (every in-sync member holds
/// it): with one replica stopped, a message the other replica already holds is not served by
/// it (it might be replaced by another if the master died now); once the stopped one resumes
/// and acknowledges, it is. Before the master sent its limit in the HA stream, replicas served
/// everything they held (the history schedule's conflicts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_serves_only_what_its_master_confirmed() {
    // The stopped replica stays in the set (no shrink) for the whole test.
    let g = Group::start(Timings::Fast, false, &[("haMaxTimeSlaveNotCatchup", "60000")]).await;
    let master = g.wait_master(None).await;
    g.wait_in_sync(&master).await;
    let client = RemotingClient::new(ClientConfig::default());
    let r = send_direct(&client, &master, "confirmed").await;
    assert_eq!(r.map(|r| r.0), Some(rc::SUCCESS), "a send to the whole set");
    let mut replicas = g.addrs.iter().filter(|(_, a)| **a != master);
    let (stopped, stopped_addr) = replicas.next().map(|(n, a)| (*n, a.clone())).unwrap();
    let other = replicas.next().unwrap().1.clone();
    let serves = |addr: String, body: &'static str| async move {
        read_queues(&addr, TOPIC, 1).await.values().any(|b| b == body)
    };
    wait_until("the other replica serves the confirmed message", T, || {
        serves(other.clone(), "confirmed")
    })
    .await;

    let before = max_offset(&master).await.unwrap();
    g.c.freeze(stopped);
    // Stored, unconfirmed while the replica is stopped (answered once it resumes, or
    // FLUSH_SLAVE_TIMEOUT).
    let send = tokio::spawn({
        let master = master.clone();
        async move { send_direct(&client, &master, "unconfirmed").await }
    });
    let end = wait_until("the other replica holds the master's whole log", T, || async {
        let m = max_offset(&master).await?;
        (m > before && max_offset(&other).await? >= m).then_some(m)
    })
    .await;
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert!(!serves(other.clone(), "unconfirmed").await, "served past the master's limit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    g.c.thaw(stopped);
    let r = send.await.unwrap();
    wait_until("both replicas serve it once every member holds it", T, || async {
        serves(other.clone(), "unconfirmed").await
            && serves(stopped_addr.clone(), "unconfirmed").await
    })
    .await;
    println!("log end {before} -> {end}; the send with a replica stopped answered {r:?}");
}
