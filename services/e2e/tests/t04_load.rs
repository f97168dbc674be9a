//! T4: 1,000 simulated users on 2 gateways (500 each) exchange 5,000 random DMs. Everything is
//! delivered (after client-side dedupe); raw duplicates and p50/p99 delivery latency (send call
//! start → recipient push) are printed. Sizes scale with `E2E_SCALE`; the offered load is
//! `T4_RATE` messages/s in total (default 250; 0 = as fast as the workers can go, which measures
//! queueing rather than delivery latency). No timing assertion.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_e2e::proc::http_get;
use chat_e2e::{msg_id, scaled, serial, wait_until, Cluster, ClusterOpts, DdpClient};
use parking_lot::Mutex;
use rand::Rng;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t04_thousand_users() {
    let _g = serial();
    let users = scaled(1000, 10);
    let messages = scaled(5000, 50);
    let c = Cluster::start(ClusterOpts::default()).await;
    let t0 = Instant::now();
    // Log in every user (in bounded parallel batches) and subscribe to their own messages.
    let mut clients: Vec<Arc<DdpClient>> = Vec::with_capacity(users);
    for chunk in (0..users).collect::<Vec<_>>().chunks(50) {
        let batch = futures::future::join_all(chunk.iter().map(|i| {
            let url = c.gw(i % 2).ws_url();
            let token = c.token(&format!("u{i}"));
            async move {
                let cl = DdpClient::login(&url, &token).await.expect("login");
                cl.sub_room("__my_messages__").await.expect("sub");
                Arc::new(cl)
            }
        }))
        .await;
        clients.extend(batch);
    }
    println!("T4: {users} users logged in and subscribed in {:?}", t0.elapsed());
    for g in 0..2 {
        let addr = c.gw(g).addr();
        wait_until("all users online", Duration::from_secs(10), || {
            let addr = addr.clone();
            let want = format!("\"users\":{}", users / 2 + (users % 2) * (1 - g));
            async move { http_get(&addr, "/v1/stats").map(|(_, b)| b.contains(&want)).unwrap_or(false) }
        })
        .await;
    }

    // Receivers record the first arrival of each id and count raw duplicates.
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let received: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let raw_dupes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut drains = Vec::new();
    for (i, cl) in clients.iter().enumerate() {
        let (cl, received, dupes) = (cl.clone(), received.clone(), raw_dupes.clone());
        let me = format!("u{i}");
        drains.push(tokio::spawn(async move {
            let mut rx = cl.events.lock().await;
            while let Some(ev) = rx.recv().await {
                for m in ev.args {
                    if m["u"]["_id"] == json!(me) {
                        continue; // the sender's own echo
                    }
                    let id = m["_id"].as_str().unwrap_or("").to_string();
                    if received.lock().insert(id, ev.at).is_some() {
                        dupes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    // Random DMs from 100 concurrent workers.
    let t1 = Instant::now();
    let workers = 100.min(messages);
    let rate: f64 = std::env::var("T4_RATE").ok().and_then(|s| s.parse().ok()).unwrap_or(250.0);
    // Each worker sends on its own fixed schedule, so the total offered load is `rate`.
    let period =
        if rate > 0.0 { Some(Duration::from_secs_f64(workers as f64 / rate)) } else { None };
    futures::future::join_all((0..workers).map(|w| {
        let (clients, sent_at) = (clients.clone(), sent_at.clone());
        async move {
            let mut tick = period.map(|p| {
                let mut i = tokio::time::interval_at(
                    tokio::time::Instant::now() + p.mul_f64(w as f64 / workers as f64),
                    p,
                );
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            });
            for _ in 0..messages / workers + usize::from(w < messages % workers) {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                let (from, to) = {
                    let mut rng = rand::rng();
                    let a = rng.random_range(0..users);
                    let mut b = rng.random_range(0..users - 1);
                    if b >= a {
                        b += 1;
                    }
                    (a, b)
                };
                let rid = chat_proto::ids::dm_rid(&format!("u{from}"), &format!("u{to}")).unwrap();
                let id = msg_id();
                sent_at.lock().insert(id.clone(), Instant::now());
                let mut tries = 0;
                while let Err(e) = clients[from].send_msg(&rid, &id, "hello").await {
                    tries += 1;
                    assert!(tries < 5, "send failed: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }))
    .await;
    let send_time = t1.elapsed();
    let want = sent_at.lock().len();
    assert_eq!(want, messages);
    let r = received.clone();
    wait_until("every DM delivered", Duration::from_secs(180), || {
        let r = r.clone();
        async move { r.lock().len() >= want }
    })
    .await;
    let total = t1.elapsed();
    for d in drains {
        d.abort();
    }
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let sent = sent_at.lock();
    for (id, at) in received.lock().iter() {
        let s = sent.get(id).expect("received only what was sent");
        hist.record(at.saturating_duration_since(*s).as_micros() as u64).unwrap();
    }
    let dupes = raw_dupes.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "T4 RESULT: users={users} messages={messages} offered_rate={rate}/s delivered={} raw_duplicates={dupes} send_phase={send_time:?} until_all_delivered={total:?} \
         latency p50={:.1}ms p90={:.1}ms p99={:.1}ms max={:.1}ms",
        hist.len(),
        hist.value_at_quantile(0.50) as f64 / 1000.0,
        hist.value_at_quantile(0.90) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0,
    );
    assert_eq!(hist.len() as usize, messages, "100 % delivered after dedupe");
}
