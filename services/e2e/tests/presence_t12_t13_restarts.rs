//! T12: SIGKILL + restart of the presence service with 1,000 users online and one user on a
//! manual "busy": no offline event reaches any watcher, the manual status is kept, `/v1/stats`
//! is unchanged. T13: the broker is stopped for two leases and restarted: zero offline events
//! for users whose gateways stayed up, stats unchanged.

mod presence_support;

use std::time::{Duration, Instant};

use chat_e2e::{scaled, serial, DdpClient};
use presence_support::*;
use serde_json::{json, Value};

fn counts(p: &PresenceProc) -> (i64, i64, i64) {
    let s = p.get("/v1/stats");
    let n = |k: &str| s["users"][k].as_i64().unwrap_or(-1);
    (n("online"), n("away"), n("busy"))
}

fn offline_events(ev: &[(String, i64, Instant)]) -> Vec<&String> {
    ev.iter().filter(|(_, st, _)| *st == 0).map(|(u, _, _)| u).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_restart_and_broker_outage_never_turn_users_offline() {
    let _g = serial();
    let mut c = cluster(2).await;
    let mut p = spawn_presence(&c, None, &[]).await;
    let n = scaled(1000, 40);
    let half = n / 2;
    let (url0, url1) = (c.gw(0).ws_url(), c.gw(1).ws_url());
    let c0 = login_many(&c, &url0, "u", 0..half).await;
    let c1 = login_many(&c, &url1, "u", half..n).await;
    // X = u0 goes busy with a text; away on one connection for u1.
    assert_eq!(
        c0[0].call("setUserStatus", json!(["busy", "in a call"])).await.unwrap(),
        Value::Bool(true)
    );
    assert_eq!(c0[1].call("UserPresence:away", json!([])).await.unwrap(), Value::Bool(true));
    let watcher = DdpClient::login(&url1, &c.token("watcher")).await.unwrap();
    let users: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
    watch(&watcher, &users).await;
    // n users + the watcher: n-2 online + watcher, one away, one busy.
    let want = ((n - 2 + 1) as i64, 1, 1);
    time_until(Duration::from_secs(60), || counts(&p) == want)
        .await
        .unwrap_or_else(|| panic!("stats {:?} != {want:?}", counts(&p)));
    let _ = drain_presence(&watcher, Duration::from_millis(1500)).await;
    assert_eq!(p.status("u0"), "busy");
    let before = counts(&p);
    println!("before: online/away/busy = {before:?}");

    // T12: SIGKILL the presence service and start a new process (same INSTANCE_ID).
    let port = p.port;
    let t0 = Instant::now();
    p.proc.kill();
    p = spawn_presence(&c, Some(port), &[]).await;
    println!("T12: presence restarted and ready (warm-up done) after {:?}", t0.elapsed());
    let after = time_until(Duration::from_secs(30), || counts(&p) == before).await;
    let ev = drain_presence(&watcher, Duration::from_millis(2 * SYNC_MS)).await;
    println!(
        "T12: stats {:?} (before {before:?}), {} presence events during the restart, {} offline",
        counts(&p),
        ev.len(),
        offline_events(&ev).len()
    );
    assert!(after.is_some(), "stats unchanged after the restart");
    assert!(
        offline_events(&ev).is_empty(),
        "no offline events during warm-up: {:?}",
        offline_events(&ev)
    );
    let u0 = p.get("/v1/status/u0");
    assert_eq!(
        (u0["status"].as_str(), u0["statusText"].as_str()),
        (Some("busy"), Some("in a call")),
        "manual status kept: {u0}"
    );

    // T13: the broker is down for two leases.
    let t1 = Instant::now();
    c.kill_broker();
    // The outage lasts two leases (the scenario, not a synchronisation wait); meanwhile
    // presence must notice it and go blind instead of expiring leases.
    let mut saw_blind = false;
    while t1.elapsed() < 2 * LEASE {
        saw_blind |= p.get("/v1/stats")["blind"] == Value::Bool(true);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_blind, "presence went blind during the outage");
    c.start_broker().await;
    println!("T13: broker down for {:?}", t1.elapsed());
    let back = time_until(Duration::from_secs(60), || {
        p.get("/v1/stats")["blind"] == Value::Bool(false)
            && p.get("/v1/stats")["warming_up"] == Value::Bool(false)
    })
    .await;
    assert!(back.is_some(), "presence recovered from the outage: {}", p.get("/v1/stats"));
    // Anything the outage caused shows up within a lease plus two intervals of recovery.
    let ev = drain_presence(&watcher, LEASE + Duration::from_millis(2 * SYNC_MS)).await;
    println!("T13: presence recovered {:?} after the broker restart; {} presence events, {} offline; stats {:?}", back.unwrap(), ev.len(), offline_events(&ev).len(), counts(&p));
    assert!(offline_events(&ev).is_empty(), "zero false offline events: {:?}", offline_events(&ev));
    let after = time_until(Duration::from_secs(20), || counts(&p) == before).await;
    assert!(after.is_some(), "stats unchanged after the outage: {:?} vs {before:?}", counts(&p));
    // The whole pipeline works again: a status change reaches the watcher.
    let t2 = Instant::now();
    assert_eq!(c1[0].call("UserPresence:away", json!([])).await.unwrap(), Value::Bool(true));
    let mut seen = false;
    while !seen && t2.elapsed() < Duration::from_secs(20) {
        seen = drain_presence(&watcher, Duration::from_millis(200))
            .await
            .iter()
            .any(|(u, st, _)| u == &format!("u{half}") && *st == 2);
    }
    assert!(seen, "away event after the outage");
    println!("T13: a status change after the outage reached a watcher in {:?}", t2.elapsed());
    drop((c0, c1));
}
