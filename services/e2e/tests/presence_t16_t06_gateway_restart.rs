//! T16 (gateway restarted with the same INSTANCE_ID: the old epoch's connections are purged
//! at the new process's first message, long before the lease) and T6 (SIGTERM of a gateway:
//! its users go offline at once, without waiting for a lease; the figure is printed).

mod presence_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chat_e2e::proc::http_get;
use chat_e2e::{serial, DdpClient};
use presence_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_restart_same_instance_id_then_sigterm() {
    let _g = serial();
    let mut c = cluster(2).await;
    // A lease far longer than the test, so only the epoch rule can explain the purge.
    let p = spawn_presence(&c, None, &[("GATEWAY_LEASE_MISSES", "30")]).await;
    let stay: Vec<String> = (0..10).map(|i| format!("stay{i}")).collect();
    let gone: Vec<String> = (0..10).map(|i| format!("gone{i}")).collect();
    let all: Vec<String> = stay.iter().chain(&gone).cloned().collect();

    let watcher = DdpClient::login(&c.gw(0).ws_url(), &c.token("watcher")).await.unwrap();
    watch(&watcher, &all).await;
    // A second socket follows every status change (PRESENCE_BROADCAST_ALL=true in tests).
    let logged = DdpClient::login(&c.gw(0).ws_url(), &c.token("logged")).await.unwrap();
    logged
        .sub("stream-notify-logged", serde_json::json!(["user-status", false]))
        .await
        .expect("stream-notify-logged ready");
    let url1 = c.gw(1).ws_url();
    let mut clients = login_many(&c, &url1, "stay", 0..10).await;
    let gone_clients = login_many(&c, &url1, "gone", 0..10).await;
    time_until(Duration::from_secs(30), || p.statuses(&all).values().all(|s| s == "online"))
        .await
        .expect("all 20 online");

    // T16: SIGKILL gw-1 and start a new process with the same INSTANCE_ID.
    c.gateways[1].take().unwrap().proc.kill();
    drop(clients.drain(..));
    drop(gone_clients);
    let _ = drain_presence(&watcher, Duration::from_millis(10)).await;
    let t_restart = Instant::now();
    c.gateways[1] = Some(c.spawn_gateway(1).await);
    let url1 = c.gw(1).ws_url();
    clients = login_many(&c, &url1, "stay", 0..10).await;
    let _ = time_until(Duration::from_secs(20), || {
        let st = p.statuses(&all);
        gone.iter().all(|u| st[u] == "offline") && stay.iter().all(|u| st[u] == "online")
    })
    .await
    .expect("old-epoch connections purged, reconnected users online");
    println!(
        "T16: old-epoch connections purged {:?} after the restart began (lease is 30 s)",
        t_restart.elapsed()
    );
    let metrics = http_get(&p.addr(), "/metrics").unwrap().1;
    assert!(
        !metrics.contains("presence_reaped_total{reason=\"epoch\"} 0"),
        "epoch purge counted:\n{metrics}"
    );
    assert!(
        metrics.contains("presence_reaped_total{reason=\"gateway_lease\"} 0"),
        "no lease expiry:\n{metrics}"
    );
    let evs = drain_presence(&watcher, Duration::from_millis(2 * SYNC_MS)).await;
    let flapped: Vec<&String> =
        stay.iter().filter(|u| evs.iter().any(|(e, st, _)| e == *u && *st == 0)).collect();
    println!("T16: {} of {} reconnected users flapped offline (expected 0 when they reconnect within one sync interval)", flapped.len(), stay.len());
    for u in &gone {
        assert!(
            evs.iter().any(|(e, st, _)| e == u && *st == 0),
            "{u} got an offline event: {evs:?}"
        );
    }

    // T6: SIGTERM gw-1: the stay users go offline without a lease wait.
    let t0 = Instant::now();
    let mut gw1 = c.gateways[1].take().unwrap();
    let term = std::thread::spawn(move || gw1.proc.term(Duration::from_secs(10)));
    let mut seen: HashMap<String, Duration> = HashMap::new();
    let end = Instant::now() + Duration::from_secs(15);
    while seen.len() < stay.len() && Instant::now() < end {
        for (uid, st, at) in drain_presence(&watcher, Duration::from_millis(100)).await {
            if st == 0 && stay.contains(&uid) {
                seen.entry(uid).or_insert(at.duration_since(t0));
            }
        }
    }
    term.join().unwrap();
    let worst = seen.values().max().copied();
    println!(
        "T6: SIGTERM -> offline events for {}/{} users, slowest after {:?} (lease would be 30 s)",
        seen.len(),
        stay.len(),
        worst
    );
    assert_eq!(seen.len(), stay.len(), "every user of the stopped gateway went offline");
    assert!(worst.unwrap() < Duration::from_secs(10), "generous bound: far below the lease");
    // stream-notify-logged saw the same transitions as Rocket.Chat's user-status args.
    let mut rx = logged.events.lock().await;
    let mut user_status = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if ev.collection == "stream-notify-logged" && ev.event_name == "user-status" {
            user_status.push((
                ev.args[0].as_str().unwrap_or("").to_string(),
                ev.args[2].as_i64().unwrap_or(-1),
            ));
        }
    }
    for u in &gone {
        assert!(
            user_status.contains(&(u.clone(), 0)),
            "user-status offline for {u}: {user_status:?}"
        );
    }
    drop(clients);
}
