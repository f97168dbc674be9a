//! Controller mode with real processes (issue 19, `docs/controller.md`): 3 `mqcontroller`, one
//! name server and a 3-replica group of `mqbroker`s with `enableControllerMode=true`. Our
//! producer sends SYNC continuously with `allAckInSyncStateSet=true`; the master is killed -9;
//! a new master is elected from the in-sync set and the name server routes it; sends resume
//! and every acknowledged message is on the new master; the old master restarts, rejoins as a
//! replica (cutting any unreplicated tail at the epoch boundary) and catches up.
//! The first test shortens timings (heartbeats 200 ms, broker timeout 1.5 s); the second runs
//! every controller and broker timing at its default (a killed master is noticed by its closed
//! connection, not its heartbeat timeout) and bounds the failover time.

#[path = "common/controller_group.rs"]
mod controller_group;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controller_group::*;
use mq_test_support::replica::{read_queues, wait_same_queues};
use mq_test_support::wait_until;
use parking_lot::Mutex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_the_master_a_replica_takes_over_and_the_old_one_rejoins() {
    let started = Instant::now();
    let mut g = Group::start(Timings::Fast, false, &[]).await;
    let master = g.wait_master(None).await;
    println!("group in sync after {:?}; master {master}", started.elapsed());
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (producer, task) = sender(&g.ns, sent.clone(), stop.clone()).await;
    wait_until("20 acknowledged sends", T, || async { sent.lock().acked.len() >= 20 }).await;
    // Written under the first master's epoch, whatever happens next.
    let before_kill: Vec<i64> = sent.lock().phy.values().copied().collect();
    let (new_master, _) = fail_over(&mut g, &master, &sent).await;
    let acked_then = sent.lock().acked.len();
    let after_failover: BTreeSet<String> = sent.lock().acked.keys().cloned().collect();
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
    // What it serves follows its log (dispatch, and the read limit in the master's next frame).
    if let Err(diff) = wait_same_queues(&master, TOPIC, QUEUES, &want).await {
        g.keep_logs("rejoined-replica-differs");
        panic!("the rejoined replica differs: {diff}");
    }

    // GET_BROKER_EPOCH_CACHE (mqadmin getBrokerEpoch) on every replica: the same epochs, the
    // last one the new master's, starting between the last record written before the kill
    // and the first acknowledged after the failover.
    let epoch: i32 = status(&new_master, "masterEpoch").await.unwrap().parse().unwrap();
    let after: Vec<i64> = {
        let s = sent.lock();
        s.phy.iter().filter(|(b, _)| !after_failover.contains(*b)).map(|(_, p)| *p).collect()
    };
    let admin = mq_client::Admin::connect(&g.ns).await.unwrap();
    let mut lists = Vec::new();
    for (name, addr) in &g.addrs {
        let e = admin.broker_epoch_cache(addr).await.expect("GET_BROKER_EPOCH_CACHE");
        println!("{name} {addr}: brokerId {} {:?}", e.broker_id, e.printable_entries());
        assert_eq!((e.broker_name.as_str(), e.max_offset.to_string()), (GROUP, end.clone()));
        assert_eq!(e.broker_id == 0, addr == &new_master, "only the master reports brokerId 0");
        lists.push(e.epoch_list);
    }
    admin.close();
    assert!(lists.windows(2).all(|w| w[0] == w[1]), "replicas disagree on epochs: {lists:?}");
    let list = &lists[0];
    let (prev, last) = (&list[list.len() - 2], &list[list.len() - 1]);
    assert_eq!((last.epoch, last.end_offset), (epoch, i64::MAX), "{list:?}");
    assert_eq!(prev.end_offset, last.start_offset, "{list:?}");
    let start = last.start_offset;
    assert!(before_kill.iter().all(|p| *p < start), "a pre-kill record at or past {start}");
    assert!(after.iter().all(|p| *p >= start), "a post-failover record before {start}");
    assert!(!after.is_empty());
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
    let mut g = Group::start(Timings::Default, false, &[]).await;
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
    assert_all_on(&new_master, &acked).await;
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
    let mut g = Group::start(timings, false, &[]).await;
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
    // One lock at a time: two guards in one expression would deadlock (parking_lot).
    let (acked, failures) = {
        let s = sent.lock();
        (s.acked.len(), s.failures)
    };
    println!(
        "failover over {trials} trials: p50 {} ms, p99 {} ms, max {} ms ({acked} acknowledged, {failures} failed sends)",
        pct(0.5).as_millis(),
        pct(0.99).as_millis(),
        times.last().unwrap().as_millis(),
    );
    drop(g.ctls);
}
