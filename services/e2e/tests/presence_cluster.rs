//! Two presence instances (different INSTANCE_IDs) share the queues of `presence_heartbeat`;
//! either answers `/v1/status` for any user (owner view or read-model). SIGKILL of one: the
//! survivor takes its queues over once the broker's queue lock expires, warms up from
//! `presence_state`, and no watcher sees a false offline event.

mod presence_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chat_e2e::{serial, DdpClient};
use presence_support::*;
use serde_json::Value;

fn owned(p: &PresenceProc) -> BTreeSet<i64> {
    p.get("/v1/stats")["owned_queues"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_queues_and_survive_a_kill() {
    let _g = serial();
    let c = cluster(1).await;
    let p1 = spawn_presence(&c, None, &[("INSTANCE_ID", "presence-1")]).await;
    let mut p2 = spawn_presence(&c, None, &[("INSTANCE_ID", "presence-2")]).await;
    let url = c.gw(0).ws_url();
    let n = 40;
    let clients = login_many(&c, &url, "u", 0..n).await;
    let users: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
    let watcher = DdpClient::login(&url, &c.token("watcher")).await.unwrap();
    watch(&watcher, &users).await;

    // The queues end up split between the two, disjoint and complete.
    let split = time_until(Duration::from_secs(60), || {
        let (a, b) = (owned(&p1), owned(&p2));
        !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) && a.union(&b).count() == 8
    })
    .await;
    println!("cluster: queues p1={:?} p2={:?}", owned(&p1), owned(&p2));
    assert!(split.is_some(), "queues split between the instances");
    let total = || p1.online() + p2.online();
    time_until(Duration::from_secs(30), || total() == (n + 1) as i64)
        .await
        .expect("owners' counts add up to every user");
    // Any instance answers for any user.
    let ok = time_until(Duration::from_secs(20), || {
        users.iter().all(|u| p1.status(u) == "online" && p2.status(u) == "online")
    })
    .await;
    assert!(ok.is_some(), "both instances answer online for every user (owner or read-model)");
    let _ = drain_presence(&watcher, Duration::from_millis(1500)).await;

    // SIGKILL p2: p1 takes everything over after the lock TTL (15 s in the test broker).
    let t0 = Instant::now();
    p2.proc.kill();
    let took = time_until(Duration::from_secs(90), || {
        owned(&p1).len() == 8
            && p1.get("/v1/stats")["warming_up"] == Value::Bool(false)
            && p1.online() == (n + 1) as i64
    })
    .await;
    println!(
        "cluster: survivor owns all 8 queues with {} online {:?} after the kill",
        p1.online(),
        took
    );
    assert!(took.is_some(), "survivor took over: {}", p1.get("/v1/stats"));
    let ev = drain_presence(&watcher, Duration::from_millis(2 * SYNC_MS)).await;
    let offline: Vec<&String> =
        ev.iter().filter(|(_, st, _)| *st == 0).map(|(u, _, _)| u).collect();
    println!(
        "cluster: {} presence events during the takeover ({:?} total), {} offline",
        ev.len(),
        t0.elapsed(),
        offline.len()
    );
    assert!(offline.is_empty(), "no false offline events during the takeover: {offline:?}");
    drop(clients);
}
