//! T9 (no acknowledged message lost across a broker SIGKILL + restart) and T10 (an observer
//! SIGKILLed under load: after the lock takeover nothing is missing and the per-room order of
//! first occurrences is intact).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_e2e::{msg_id, scaled, serial, wait_until, Cluster, ClusterOpts, DdpClient};
use parking_lot::Mutex;
use serde_json::{json, Value};

/// `pairs` DMs: sender `a<i>` on gateway 0, receiver `b<i>` on gateway 1.
struct Load {
    senders: Vec<Arc<DdpClient>>,
    receivers: Vec<Arc<DdpClient>>,
    /// Per pair: ids acknowledged by `sendMessage`, in send order.
    acked: Arc<Mutex<Vec<Vec<String>>>>,
    /// Per pair: ids received on the stream, in arrival order (duplicates kept).
    received: Arc<Mutex<Vec<Vec<String>>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn rid(i: usize) -> String {
    format!("d_a{i}_b{i}")
}

impl Load {
    async fn start(c: &Cluster, pairs: usize, interval: Duration) -> Load {
        let mut l = Load {
            senders: Vec::new(),
            receivers: Vec::new(),
            acked: Arc::new(Mutex::new(vec![Vec::new(); pairs])),
            received: Arc::new(Mutex::new(vec![Vec::new(); pairs])),
            stop: Arc::default(),
            tasks: Vec::new(),
        };
        for i in 0..pairs {
            l.senders.push(Arc::new(
                DdpClient::login(&c.gw(0).ws_url(), &c.token(&format!("a{i}"))).await.unwrap(),
            ));
            let r = Arc::new(
                DdpClient::login(&c.gw(1).ws_url(), &c.token(&format!("b{i}"))).await.unwrap(),
            );
            r.sub_room(&rid(i)).await.unwrap();
            l.receivers.push(r);
        }
        for i in 0..pairs {
            let (r, received) = (l.receivers[i].clone(), l.received.clone());
            l.tasks.push(tokio::spawn(async move {
                let mut rx = r.events.lock().await;
                while let Some(ev) = rx.recv().await {
                    for m in ev.args {
                        received.lock()[i].push(m["_id"].as_str().unwrap_or("").to_string());
                    }
                }
            }));
            let (s, acked, stop) = (l.senders[i].clone(), l.acked.clone(), l.stop.clone());
            l.tasks.push(tokio::spawn(async move {
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = msg_id();
                    // Retry with the same _id until accepted (the observer dedupes).
                    let deadline = Instant::now() + Duration::from_secs(60);
                    loop {
                        match s.send_msg(&rid(i), &id, &format!("{seq}")).await {
                            Ok(_) => break,
                            Err(_) if Instant::now() < deadline => {
                                tokio::time::sleep(Duration::from_millis(200)).await
                            }
                            Err(e) => panic!("send never accepted: {e}"),
                        }
                    }
                    acked.lock()[i].push(id);
                    seq += 1;
                    tokio::time::sleep(interval).await;
                }
            }));
        }
        l
    }

    /// Stop sending (receivers keep draining).
    async fn stop_sending(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Sender tasks are the odd-indexed ones.
        let tasks = std::mem::take(&mut self.tasks);
        let (mut keep, mut senders) = (Vec::new(), Vec::new());
        for (k, t) in tasks.into_iter().enumerate() {
            if k % 2 == 1 {
                senders.push(t);
            } else {
                keep.push(t);
            }
        }
        for t in senders {
            t.await.expect("sender task");
        }
        self.tasks = keep;
    }

    fn missing(&self) -> usize {
        let (acked, received) = (self.acked.lock(), self.received.lock());
        acked
            .iter()
            .zip(received.iter())
            .map(|(a, r)| {
                let r: HashSet<&String> = r.iter().collect();
                a.iter().filter(|id| !r.contains(id)).count()
            })
            .sum()
    }

    fn total_acked(&self) -> usize {
        self.acked.lock().iter().map(Vec::len).sum()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|m| m["_id"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t09_no_loss_across_broker_restart() {
    let _g = serial();
    let mut c = Cluster::start(ClusterOpts::default()).await;
    let pairs = scaled(10, 2);
    let mut load = Load::start(&c, pairs, Duration::from_millis(100)).await;
    tokio::time::sleep(Duration::from_secs(4)).await; // load runs meanwhile (not synchronisation)
    let before = load.total_acked();
    c.kill_broker();
    println!("T9: broker SIGKILLed after {before} acknowledged messages");
    tokio::time::sleep(Duration::from_secs(3)).await; // outage length
    c.start_broker().await;
    println!("T9: broker restarted");
    // Keep sending until a few hundred more were accepted after the restart.
    let target = load.total_acked() + 5 * pairs;
    let l = &load;
    wait_until("sends accepted after the restart", Duration::from_secs(60), || async move {
        l.total_acked() >= target
    })
    .await;
    load.stop_sending().await;
    let total = load.total_acked();

    // Live delivery, then gap-fill from the broker for anything the stream did not carry.
    let l = &load;
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        wait_until("live delivery", Duration::from_secs(60), || async move { l.missing() == 0 }),
    )
    .await;
    let live_missing = load.missing();
    let mut missing_after_gapfill = 0;
    for i in 0..pairs {
        let acked = load.acked.lock()[i].clone();
        let mut have: HashSet<String> = load.received.lock()[i].iter().cloned().collect();
        if acked.iter().any(|id| !have.contains(id)) {
            let missed = load.receivers[i]
                .call("loadMissedMessages", json!([rid(i), {"$date": 0}]))
                .await
                .unwrap();
            have.extend(ids(&missed));
        }
        missing_after_gapfill += acked.iter().filter(|id| !have.contains(*id)).count();
    }
    // And every acknowledged id of a sample is stored in chat_inbox under its key.
    let sample: Vec<String> =
        load.acked.lock().iter().flat_map(|a| a.iter().step_by(17).cloned()).collect();
    for id in &sample {
        assert!(
            c.inbox_by_key(id).await.iter().any(|m| m.keys().contains(&id.as_str())),
            "{id} acknowledged but not in chat_inbox"
        );
    }
    println!("T9 RESULT: acknowledged={total} missing_live={live_missing} missing_after_gapfill={missing_after_gapfill} sampled_in_inbox={}", sample.len());
    assert_eq!(missing_after_gapfill, 0, "no acknowledged message lost");

    // Variant: kill the broker right after SEND_OK of one message.
    let id = msg_id();
    load.senders[0].send_msg(&rid(0), &id, "last").await.unwrap();
    c.kill_broker();
    c.start_broker().await;
    let r = &load.receivers[0];
    let found = async {
        for _ in 0..200 {
            if let Ok(v) = r.call("loadMissedMessages", json!([rid(0), {"$date": 0}])).await {
                if ids(&v).contains(&id) {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    };
    assert!(found.await, "the message acknowledged just before the SIGKILL was delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_observer_sigkill_under_load() {
    let _g = serial();
    let mut c = Cluster::start(ClusterOpts::default()).await;
    let pairs = scaled(10, 2);
    let mut load = Load::start(&c, pairs, Duration::from_millis(100)).await;
    tokio::time::sleep(Duration::from_secs(3)).await; // load runs meanwhile
    let victim = c.observers[0].take().expect("observer 0");
    let mut victim = victim.proc;
    victim.kill();
    let killed_at = Instant::now();
    println!("T10: observer-0 SIGKILLed after {} acknowledged messages", load.total_acked());
    tokio::time::sleep(Duration::from_secs(3)).await;
    load.stop_sending().await;
    // The dead observer's queues stay locked until the broker lock expires (the harness sets
    // rebalanceLockMaxLiveTime=15 s, 3x the observers' 5 s lock refresh); then observer-1 takes
    // them over.
    let l = &load;
    wait_until(
        "every acknowledged message delivered after takeover",
        Duration::from_secs(150),
        || async move { l.missing() == 0 },
    )
    .await;
    let pause = killed_at.elapsed();
    // Per-room order of first occurrences equals the send order.
    let (acked, received) = (load.acked.lock().clone(), load.received.lock().clone());
    let mut raw_dupes = 0;
    for i in 0..pairs {
        let mut seen = HashSet::new();
        let firsts: Vec<&String> =
            received[i].iter().filter(|id| seen.insert((*id).clone())).collect();
        raw_dupes += received[i].len() - firsts.len();
        let pos: HashMap<&String, usize> =
            firsts.iter().enumerate().map(|(k, id)| (*id, k)).collect();
        let order: Vec<usize> = acked[i].iter().map(|id| pos[id]).collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "pair {i}: first occurrences keep the send order"
        );
    }
    let hits =
        c.observers[1].as_ref().unwrap().metric("chat_dedupe_hits_total{layer=\"observer\"}")
            + c.observers[1]
                .as_ref()
                .unwrap()
                .metric("chat_dedupe_hits_total{layer=\"observer_recovery\"}");
    println!(
        "T10 RESULT: acknowledged={} raw_duplicates_seen_by_clients={raw_dupes} survivor_dedupe_hits={hits} all_delivered_after={pause:?}",
        load.total_acked()
    );
}
