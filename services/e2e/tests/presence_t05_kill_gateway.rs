//! T5: SIGKILL one of two gateways. Exactly the users connected only there go offline within
//! the lease (watchers on the other gateway get one offline event each); users also connected
//! to the surviving gateway get no event at all. Also: `/v1/stats` converges for 1,000
//! simulated users (`E2E_SCALE` scales it), and the convergence time after the kill is printed.

mod presence_support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chat_e2e::{scaled, serial, DdpClient};
use presence_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_gateway_offlines_exactly_its_single_homed_users() {
    let _g = serial();
    let mut c = cluster(2).await;
    let p = spawn_presence(&c, None, &[]).await;
    let n = scaled(1000, 40);
    let half = n / 2;
    let dual = n / 10;
    let uid = |i: usize| format!("u{i}");
    // gw-0: u0..half, plus a second connection of the dual-homed u(half)..u(half+dual).
    // gw-1: u(half)..n.
    let (url0, url1) = (c.gw(0).ws_url(), c.gw(1).ws_url());
    let t_login = Instant::now();
    let c0 = login_many(&c, &url0, "u", 0..half).await;
    let c0b = login_many(&c, &url0, "u", half..half + dual).await;
    let c1 = login_many(&c, &url1, "u", half..n).await;
    let logins = t_login.elapsed();
    let conv = time_until(Duration::from_secs(60), || p.online() == n as i64).await;
    println!("stats: {} users ({} sockets) logged in over {:?}; /v1/stats showed {} online {:?} after the last login (2 sync intervals = {} ms)", n, n + dual, logins, n, conv, 2 * SYNC_MS);
    assert!(conv.is_some(), "/v1/stats reached {n} online (saw {})", p.online());
    let stats = p.get("/v1/stats");
    assert_eq!(stats["connections"].as_i64(), Some((n + dual) as i64), "{stats}");

    let gw1_users: Vec<String> = (half..n).map(uid).collect();
    let dual_users: HashSet<String> = (half..half + dual).map(uid).collect();
    let single: HashSet<String> = (half + dual..n).map(uid).collect();
    let watcher = DdpClient::login(&url0, &c.token("watcher")).await.unwrap();
    watch(&watcher, &gw1_users).await;
    // The gateway's cache follows presence_events asynchronously: wait until the watcher's
    // view (initial frames, then changes) has every watched user online.
    let mut latest: HashMap<String, i64> = HashMap::new();
    let end = Instant::now() + Duration::from_secs(20);
    while !(latest.len() == gw1_users.len() && latest.values().all(|s| *s == 1))
        && Instant::now() < end
    {
        for (u, st, _) in drain_presence(&watcher, Duration::from_millis(200)).await {
            latest.insert(u, st);
        }
    }
    assert!(
        latest.len() == gw1_users.len() && latest.values().all(|s| *s == 1),
        "everyone online before the kill"
    );

    // SIGKILL gw-1.
    let t0 = Instant::now();
    c.gateways[1].take().unwrap().proc.kill();
    drop(c1);
    let mut offline_at: HashMap<String, Duration> = HashMap::new();
    let mut all_events = Vec::new();
    let deadline = LEASE + Duration::from_millis(SYNC_MS) + Duration::from_secs(20);
    while offline_at.len() < single.len() && t0.elapsed() < deadline {
        for (u, st, at) in drain_presence(&watcher, Duration::from_millis(200)).await {
            if st == 0 {
                offline_at.entry(u.clone()).or_insert(at.duration_since(t0));
            }
            all_events.push((u, st));
        }
    }
    // The watcher itself is online too.
    let survivors = (half + dual + 1) as i64;
    let http_conv =
        time_until(Duration::from_secs(20), || p.online() == survivors).await.map(|_| t0.elapsed());
    // Anything late (a flap of a dual-homed user) would show up within two more intervals.
    all_events.extend(
        drain_presence(&watcher, Duration::from_millis(2 * SYNC_MS))
            .await
            .into_iter()
            .map(|(u, st, _)| (u, st)),
    );
    let first = offline_at.values().min().copied();
    let last = offline_at.values().max().copied();
    println!(
        "T5: SIGKILL gw-1 -> {} single-homed users offline; first event after {:?}, last after {:?}; /v1/stats converged after {:?} (lease {:?})",
        offline_at.len(),
        first,
        last,
        http_conv,
        LEASE
    );
    let got: HashSet<String> = offline_at.keys().cloned().collect();
    assert_eq!(got, single, "exactly the single-homed users went offline");
    let dual_events: Vec<&(String, i64)> =
        all_events.iter().filter(|(u, _)| dual_users.contains(u)).collect();
    assert!(dual_events.is_empty(), "dual-homed users must see no event at all: {dual_events:?}");
    let per_user = all_events.iter().filter(|(_, st)| *st == 0).count();
    assert_eq!(per_user, single.len(), "one offline event per user, no duplicates");
    assert!(http_conv.is_some(), "/v1/stats shows {survivors} online (saw {})", p.online());
    let st = p.statuses(&gw1_users);
    assert!(
        single.iter().all(|u| st[u] == "offline") && dual_users.iter().all(|u| st[u] == "online"),
        "HTTP agrees"
    );
    drop((c0, c0b));
}
