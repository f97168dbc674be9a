//! Timer messages in controller mode (`docs/controller.md`, "Timer messages"): 3 controllers,
//! a name server and a 3-replica group (`common/controller_group.rs`). A first batch of timers
//! is delivered and consumed; a second batch (due in `RMQ_CTL_TIMER_DUE_MS`, 3 s) and a third
//! (due in `RMQ_CTL_TIMER_LATE_MS`, 8 s, after the failover) are acknowledged; the master is
//! killed -9 before they are due. The new master rebuilds the timer state from the replicated
//! commit log and delivers each pending timer exactly once, and none of the first batch again;
//! the old master restarts, rejoins as a replica and runs no timer. Then the third broker is
//! killed, and once it left the in-sync set the current master: the old master, master again,
//! rebuilds (its own timer files from its first term are stale) and delivers a fourth batch
//! once, and nothing earlier again. A second test isolates the master from the controllers.

#[path = "common/controller_group.rs"]
mod controller_group;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use controller_group::*;
use mq_client::{ConsumeFromWhere, Message, MessageExt, Producer, PushConsumer, SendStatus};
use mq_common::protocol::now_millis;
use mq_test_support::fault_proxy::Cut;
use mq_test_support::replica::{read_queues, wait_same_queues};
use mq_test_support::wait_until;
use parking_lot::Mutex;

/// A delay from the environment (ms), or `default`.
fn env_ms(key: &str, default: i64) -> i64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Send `n` timers named `<batch>-<i>@<due ms>`, all due at `at_ms`; each must be acknowledged.
async fn send_batch(p: &Producer, batch: &str, n: usize, at_ms: i64) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..n {
        let body = format!("{batch}-{i}@{at_ms}");
        let mut m = Message::new(TOPIC, body.clone().into_bytes());
        m.set_deliver_time_ms(at_ms);
        let r = p.send(m).await.unwrap_or_else(|e| panic!("send {body}: {e}"));
        assert_eq!(r.status, SendStatus::SendOk, "{body}");
        names.push(body);
    }
    names
}

/// The time a body asks to be delivered at.
fn due_of(body: &str) -> i64 {
    body.rsplit('@').next().and_then(|t| t.parse().ok()).expect("a timer body")
}

/// Each timer is in `TOPIC` exactly once at `addr` (a timer delivered twice is two records
/// with the same body at different queue offsets; a consumer's re-read is not counted here).
async fn assert_once_in_topic(addr: &str, want: &[String]) -> BTreeMap<(i32, i64), String> {
    let queues = read_queues(addr, TOPIC, QUEUES).await;
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for body in queues.values() {
        *count.entry(body.as_str()).or_default() += 1;
    }
    let missing: Vec<&String> = want.iter().filter(|b| !count.contains_key(b.as_str())).collect();
    let twice: Vec<(&&str, &usize)> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(missing.is_empty(), "{} timers missing on {addr}: {missing:?}", missing.len());
    assert!(twice.is_empty(), "timers delivered more than once on {addr}: {twice:?}");
    queues
}

/// Bodies consumed → (deliveries seen, store time of the first).
type Seen = Arc<Mutex<BTreeMap<String, (usize, i64)>>>;

/// A push consumer of `TOPIC` recording what it gets, and a producer.
async fn clients(ns: &str) -> (PushConsumer, Producer, Seen) {
    let got: Seen = Arc::default();
    let seen = got.clone();
    let consumer = PushConsumer::builder()
        .namesrv_addr(ns)
        .group("CtlTimerCG")
        // An isolated old master still answers pulls (with nothing new): follow the new
        // route soon, and do not sit in a long poll there.
        .route_refresh_interval(Duration::from_millis(300))
        .pull_suspend(Duration::from_secs(1))
        .subscribe(TOPIC, "*")
        .consume_from(ConsumeFromWhere::First)
        .start(move |m: MessageExt| {
            let seen = seen.clone();
            async move {
                let body = String::from_utf8_lossy(&m.body).into_owned();
                seen.lock().entry(body).or_insert((0, m.store_timestamp)).0 += 1;
                Ok(())
            }
        })
        .await
        .unwrap();
    let producer = Producer::builder()
        .namesrv_addr(ns)
        .group("CtlTimerPG")
        .route_refresh_interval(Duration::from_millis(300))
        .send_timeout(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    (consumer, producer, got)
}

/// Wait until the broker at `addr` has no timer waiting in its wheel or its timer queue.
async fn wait_timer_idle(addr: &str) {
    wait_until(&format!("the timer of {addr} idle"), T, || async {
        status(addr, "timerCongestNum").await.as_deref() == Some("0")
            && status(addr, "timerOffsetBehind").await.as_deref() == Some("0")
    })
    .await;
}

/// No consumed timer was delivered before its time.
fn assert_never_early(got: &Seen) {
    for (body, (_, stored)) in got.lock().iter() {
        assert!(*stored >= due_of(body), "{body} delivered at {stored}, before its time");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_master_delivers_pending_timers_once_after_kill_9() {
    let started = Instant::now();
    let due_ms = env_ms("RMQ_CTL_TIMER_DUE_MS", 3_000);
    let late_ms = env_ms("RMQ_CTL_TIMER_LATE_MS", 8_000);
    let mut g = Group::start(Timings::Fast, false, &[]).await;
    let master = g.wait_master(None).await;
    println!("group in sync after {:?}; master {master}", started.elapsed());

    let (consumer, producer, got) = clients(&g.ns).await;
    let all_seen = |want: &[String]| {
        let got = got.lock();
        want.iter().all(|b| got.contains_key(b))
    };

    // The first master delivers a first batch, which is consumed (so replicated and readable).
    let first = send_batch(&producer, "b1", 10, now_millis() + 1_000).await;
    wait_until("the first batch consumed", T, || async { all_seen(&first) }).await;
    // Acknowledged with allAckInSyncStateSet: every replica holds these timer records.
    let second = send_batch(&producer, "b2", 20, now_millis() + due_ms).await;
    let third = send_batch(&producer, "b3", 5, now_millis() + late_ms).await;
    let early = second.iter().filter(|b| got.lock().contains_key(*b)).count();
    let runs_before =
        g.c.log_tail(g.name_of(&master), 1 << 22).matches("timer engine running").count();
    g.c.kill(g.name_of(&master));
    let killed = Instant::now();
    println!("killed the master; {early} of the second batch were delivered before");

    let new_master = g.wait_master(Some(&master)).await;
    println!("new master {new_master} routed after {:?}", killed.elapsed());
    let mut all = first.clone();
    all.extend(second.iter().cloned());
    all.extend(third.iter().cloned());
    wait_until("every timer consumed", T * 2, || async { all_seen(&all) }).await;
    println!("every timer consumed {:?} after the kill", killed.elapsed());
    // The new master is done: nothing waits in its wheel or its timer queue.
    wait_timer_idle(&new_master).await;
    assert_never_early(&got);
    let want = assert_once_in_topic(&new_master, &all).await;

    // The old master rejoins as a replica: it holds the same queues and runs no timer.
    rejoin(&mut g, &master).await;
    let end = status(&new_master, "commitLogMaxOffset").await.unwrap();
    wait_until("the old master caught up", T, || async {
        status(&master, "commitLogMaxOffset").await.is_some_and(|m| m == end)
    })
    .await;
    if let Err(diff) = wait_same_queues(&master, TOPIC, QUEUES, &want).await {
        g.keep_logs("controller-timer-replica-differs");
        panic!("the rejoined replica differs: {diff}");
    }
    let runs_after =
        g.c.log_tail(g.name_of(&master), 1 << 22).matches("timer engine running").count();
    assert_eq!(runs_before, runs_after, "the rejoined replica started a timer engine");
    assert_eq!(
        read_queues(&new_master, TOPIC, QUEUES).await,
        want,
        "a timer delivered again after the rejoin"
    );
    let names: BTreeSet<&String> = want.values().collect();
    assert_eq!(names.len(), all.len());

    // Back to the old master: the third broker is killed first and leaves the in-sync set
    // (killing both at once could elect the third, dead, one, whose set is then itself alone:
    // no clean election), so the old master is the only in-sync member left when the current
    // one is killed. Its first term's timer log and checkpoint are still on disk, stale
    // (another master delivered since, and its log was cut on rejoin): it must rebuild, not
    // resume from them.
    g.wait_in_sync(&new_master).await;
    let third_broker = *g
        .addrs
        .keys()
        .find(|n| **n != g.name_of(&master) && **n != g.name_of(&new_master))
        .unwrap();
    g.c.kill(third_broker);
    g.wait_sss_size(&new_master, 2).await;
    let fourth = send_batch(&producer, "b4", 10, now_millis() + 2_000).await;
    g.c.kill(g.name_of(&new_master));
    let killed = Instant::now();
    let back = g.wait_master(Some(&new_master)).await;
    assert_eq!(back, master, "the only live in-sync replica is elected");
    all.extend(fourth.iter().cloned());
    wait_until("every timer consumed again", T * 2, || async { all_seen(&all) }).await;
    println!("the fourth batch consumed {:?} after the second kill", killed.elapsed());
    wait_timer_idle(&master).await;
    assert_once_in_topic(&master, &all).await;
    let runs_back =
        g.c.log_tail(g.name_of(&master), 1 << 22).matches("timer engine running").count();
    assert_eq!(runs_back, runs_before + 1, "one engine start for its second term");
    producer.shutdown().await;
    consumer.shutdown().await;
    println!("whole test {:?}", started.elapsed());
    drop(g.ctls);
}

/// The master is cut off from every controller (not from its replicas or clients) with timers
/// about to fall due: it fences itself within its lease and holds them (its puts are refused),
/// a replica is elected and delivers each once; when the cut heals the old master learns the
/// newer epoch, stops its engine before following, and ends with the new master's queues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_master_holds_its_timers_and_the_new_master_delivers_them_once() {
    let started = Instant::now();
    let g = Group::start(Timings::Fast, true, &[]).await;
    let master = g.wait_master(None).await;
    let (consumer, producer, got) = clients(&g.ns).await;
    let all_seen = |want: &[String]| {
        let got = got.lock();
        want.iter().all(|b| got.contains_key(b))
    };
    let mut all = send_batch(&producer, "i1", 10, now_millis() + 1_000).await;
    wait_until("the first batch consumed", T, || async { all_seen(&all) }).await;
    all.extend(send_batch(&producer, "i2", 20, now_millis() + 2_000).await);
    g.cut_from_controllers(g.name_of(&master), Some(Cut::Both));
    let cut = Instant::now();
    let new_master = g.wait_master(Some(&master)).await;
    println!("new master {new_master} routed {:?} after the cut", cut.elapsed());
    wait_until("every timer consumed", T * 2, || async { all_seen(&all) }).await;
    println!("every timer consumed {:?} after the cut", cut.elapsed());
    wait_timer_idle(&new_master).await;
    assert_never_early(&got);
    let want = assert_once_in_topic(&new_master, &all).await;

    g.cut_from_controllers(g.name_of(&master), None);
    wait_until("the old master is a replica", T, || async {
        status(&master, "brokerRole").await.is_some_and(|r| r == "SLAVE")
    })
    .await;
    if let Err(diff) = wait_same_queues(&master, TOPIC, QUEUES, &want).await {
        g.keep_logs("controller-timer-isolated-differs");
        panic!("the old master differs after the cut healed: {diff}");
    }
    let log = g.c.log_tail(g.name_of(&master), 1 << 22);
    assert!(log.contains("timer engine stopped: this broker is a replica now"));
    assert_eq!(read_queues(&new_master, TOPIC, QUEUES).await, want);
    producer.shutdown().await;
    consumer.shutdown().await;
    println!("whole test {:?}", started.elapsed());
    drop(g.ctls);
}
