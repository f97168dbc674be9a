//! `chatbench`: chat and presence at scale (issue 23 item 3).
//!
//! Starts namesrv + broker + 2 observers + 2 gateways + presence-service from the binaries next
//! to itself (build it with `--release` and they are the release ones; `scripts/chat-scale.sh`
//! does), or attaches to running gateways (`GATEWAYS`). Then it logs `USERS` users in at
//! `LOGIN_RATE`/s, half per gateway, measures each gateway's resident memory per idle
//! connection, offers `RATE` messages/s (DMs and room messages, share `ROOM_SHARE`) on a fixed
//! schedule for `DURATION` s while `CHURN` users/s disconnect and log in again, and prints
//! delivery latency measured from each message's *scheduled* send time (so a stall is not
//! hidden by the sender waiting: coordinated omission), delivered/expected after dedupe, and
//! CPU per message of every process including itself.
//!
//! Environment (defaults): `USERS` 10000, `RATE` 1000, `CHURN` 100, `DURATION` 60,
//! `LOGIN_RATE` 500, `ROOM_SHARE` 0.5, `ROOM_SIZE` 5, `CHURN_POOL` (users/10, at least
//! 2 × CHURN), `WATCH_EVERY` 10 (every n-th steady user watches 3 churning users' presence),
//! `SERVICES_LOG` (warn). Attach mode: `GATEWAYS=ws://…/websocket,ws://…/websocket`,
//! `JWT_SECRET`, optional `PIDS=name:pid,…` for CPU and memory figures.

mod stats;
mod user;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_e2e::cluster::SECRET;
use chat_e2e::presence::{spawn_presence, PresenceProc};
use chat_e2e::{Cluster, ClusterOpts};
use chat_proto::jwt::{self, Claims};
use mq_test_support::{cpu_time, raise_nofile_limit, rss_bytes};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, oneshot};

use stats::{quantiles, Stats};
use user::{Cmd, UserSpec};

fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The knobs.
struct Opts {
    users: usize,
    rate: f64,
    churn: f64,
    duration: Duration,
    login_rate: f64,
    room_share: f64,
    room_size: usize,
    churn_pool: usize,
    watch_every: usize,
}

impl Opts {
    fn from_env() -> Opts {
        let users: usize = env("USERS", 10_000).max(4);
        let churn: f64 = env("CHURN", 100.0);
        let pool = env("CHURN_POOL", (users / 10).max((2.0 * churn) as usize)).min(users / 2);
        Opts {
            users,
            rate: env("RATE", 1000.0),
            churn,
            duration: Duration::from_secs_f64(env("DURATION", 60.0)),
            login_rate: env("LOGIN_RATE", 500.0),
            room_share: env("ROOM_SHARE", 0.5),
            room_size: env("ROOM_SIZE", 5).max(2),
            churn_pool: if churn > 0.0 { pool.max(1) } else { 0 },
            watch_every: env("WATCH_EVERY", 10).max(1),
        }
    }
}

/// Processes whose CPU and memory are reported.
struct Watched {
    procs: Vec<(String, u32)>,
}

impl Watched {
    fn cpu(&self) -> HashMap<String, Duration> {
        let mut m: HashMap<String, Duration> =
            self.procs.iter().map(|(n, p)| (n.clone(), cpu_time(*p))).collect();
        m.insert("chatbench".into(), cpu_time(std::process::id()));
        m
    }
    fn rss_kib(&self, name: &str) -> u64 {
        self.procs.iter().find(|(n, _)| n == name).map(|(_, p)| rss_bytes(*p) / 1024).unwrap_or(0)
    }
}

/// The system's 1-minute load average.
fn load1() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

/// Either a started cluster (kept alive until the end) or attached gateways.
struct Target {
    _cluster: Option<(Cluster, PresenceProc)>,
    urls: Vec<String>,
    secret: String,
    watched: Watched,
}

async fn start_target(o: &Opts) -> Target {
    if let Ok(gws) = std::env::var("GATEWAYS") {
        let procs = std::env::var("PIDS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|e| e.split_once(':'))
            .filter_map(|(n, p)| Some((n.to_string(), p.parse().ok()?)))
            .collect();
        return Target {
            _cluster: None,
            urls: gws.split(',').map(str::to_string).collect(),
            secret: std::env::var("JWT_SECRET").expect("JWT_SECRET with GATEWAYS"),
            watched: Watched { procs },
        };
    }
    let log = std::env::var("SERVICES_LOG").unwrap_or_else(|_| "warn".into());
    let gateway_env = vec![
        // Production-like heartbeats (the harness's 2 s would be 5,000 pings/s here).
        ("HEARTBEAT_INTERVAL".to_string(), "25".to_string()),
        ("CONNECTION_TIMEOUT".into(), "60".into()),
        ("MAX_CONCURRENT_CONNECTIONS".into(), (o.users + 1000).to_string()),
        ("RUST_LOG".into(), log.clone()),
    ];
    let c = Cluster::start(ClusterOpts {
        gateways: 2,
        observers: 2,
        gateway_env,
        observer_env: vec![("RUST_LOG".into(), log.clone())],
    })
    .await;
    let p = spawn_presence(&c, None, &[("RUST_LOG", &log)]).await;
    let mut procs = Vec::new();
    for (i, g) in c.gateways.iter().flatten().enumerate() {
        procs.push((format!("gateway-{i}"), g.proc.pid().expect("gateway pid")));
    }
    for (i, ob) in c.observers.iter().flatten().enumerate() {
        procs.push((format!("observer-{i}"), ob.proc.pid().expect("observer pid")));
    }
    procs.push(("broker".into(), c.stack.broker_pid("broker-a").expect("broker pid")));
    procs.push(("presence".into(), p.proc.pid().expect("presence pid")));
    let urls = (0..2).map(|i| c.gw(i).ws_url()).collect();
    Target { _cluster: Some((c, p)), urls, secret: SECRET.into(), watched: Watched { procs } }
}

/// A user as the driver sees it.
struct Handle {
    tx: mpsc::UnboundedSender<Cmd>,
}

fn main() -> anyhow::Result<()> {
    // The harness looks for binaries next to a test executable's parent (`target/<profile>/deps`);
    // chatbench lives in `target/<profile>` itself, so point it there unless told otherwise.
    // Set before the runtime starts: no other thread reads the environment yet.
    if std::env::var_os("RMQ_BIN_DIR").is_none() {
        if let Some(dir) = std::env::current_exe()?.parent() {
            std::env::set_var("RMQ_BIN_DIR", dir);
        }
    }
    // One runtime: the client side must stay lean next to the gateways on the same cores.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        tokio::select! {
            r = run() => r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("chatbench: interrupted; stopping everything");
                Ok(())
            }
        }
    })
}

async fn run() -> anyhow::Result<()> {
    let o = Opts::from_env();
    let nofile = raise_nofile_limit();
    anyhow::ensure!(
        nofile as usize > o.users + 2000,
        "RLIMIT_NOFILE is {nofile}: {} users need more (raise the hard limit)",
        o.users
    );
    let t = start_target(&o).await;
    let base = Instant::now();
    println!(
        "chatbench: users={} rate={}/s churn={}/s duration={:?} room_share={} room_size={} churn_pool={} gateways={:?} load1={}",
        o.users, o.rate, o.churn, o.duration, o.room_share, o.room_size, o.churn_pool, t.urls, load1()
    );

    // Idle memory before any user connects.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss0: Vec<u64> = (0..2).map(|i| t.watched.rss_kib(&format!("gateway-{i}"))).collect();

    // Who is who: the last `churn_pool` users churn; steady users send and receive.
    let steady = o.users - o.churn_pool;
    let rooms: Vec<Vec<usize>> = (0..steady / o.room_size)
        .map(|k| (k * o.room_size..(k + 1) * o.room_size).collect())
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    let now_s = mq_common::protocol::now_millis() / 1000;
    let scopes = Claims::default_user_scopes();
    let specs: Vec<Arc<UserSpec>> = (0..o.users)
        .map(|i| {
            let uid = format!("u{i}");
            let token = jwt::sign(
                &Claims::new(&uid, "chat", now_s, 3 * 3600, scopes.clone()),
                t.secret.as_bytes(),
            );
            let churner = i >= steady;
            let watch = if !churner && o.churn_pool > 0 && i % o.watch_every == 0 {
                (0..3).map(|_| format!("u{}", steady + rng.random_range(0..o.churn_pool))).collect()
            } else {
                Vec::new()
            };
            let room =
                (!churner && i / o.room_size < rooms.len()).then(|| room_id(i / o.room_size));
            Arc::new(UserSpec {
                idx: i as u32,
                uid,
                url: t.urls[i % t.urls.len()].clone(),
                token,
                my_messages: !churner,
                rooms: room.into_iter().collect(),
                watch,
            })
        })
        .collect();

    // Log everyone in at a bounded rate.
    let stats = Arc::new(Stats::new());
    let mut handles = Vec::with_capacity(o.users);
    let mut readies = Vec::with_capacity(o.users);
    let t_login = Instant::now();
    let period = Duration::from_secs_f64(1.0 / o.login_rate.max(1.0));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for s in &specs {
        tick.tick().await;
        let (tx, rx) = mpsc::unbounded_channel();
        let (rtx, rrx) = oneshot::channel();
        tokio::spawn(user::run(s.clone(), stats.clone(), base, rx, rtx));
        handles.push(Handle { tx });
        readies.push(rrx);
    }
    let mut failed = Vec::new();
    for r in readies {
        match tokio::time::timeout(Duration::from_secs(60), r).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => failed.push(e),
            _ => failed.push("no answer within 60 s".into()),
        }
    }
    let login_time = t_login.elapsed();
    anyhow::ensure!(
        failed.is_empty(),
        "{} users failed to log in, first: {}",
        failed.len(),
        failed[0]
    );
    println!(
        "chatbench: {} users logged in and subscribed in {:.1}s ({:.0}/s) load1={}",
        o.users,
        login_time.as_secs_f64(),
        o.users as f64 / login_time.as_secs_f64(),
        load1()
    );

    // Idle memory per connection, once the logins' transient buffers are gone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let per_gw = o.users as f64 / 2.0;
    let mut rss_line = String::new();
    for (i, before) in rss0.iter().enumerate() {
        let after = t.watched.rss_kib(&format!("gateway-{i}"));
        rss_line += &format!(
            " gateway-{i}: {before}→{after} KiB ({:.1} KiB/conn)",
            after.saturating_sub(*before) as f64 / per_gw
        );
    }
    println!("chatbench RSS idle:{rss_line}");

    // The load: a fixed schedule, never waiting for a send to complete.
    let cpu0 = t.watched.cpu();
    let t_load = Instant::now();
    let run_id: String =
        (0..6).map(|_| rand::rng().sample(rand::distr::Alphanumeric) as char).collect();
    let handles = Arc::new(handles);
    let churn = (o.churn > 0.0).then(|| {
        let (handles, pool, rate, dur) = (handles.clone(), o.churn_pool, o.churn, o.duration);
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut n = 0u64;
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            while start.elapsed() < dur {
                tokio::time::sleep_until(start + Duration::from_secs_f64(n as f64 / rate)).await;
                let _ = handles[steady + rng.random_range(0..pool)].tx.send(Cmd::Bounce);
                n += 1;
            }
            n
        })
    });
    let total = (o.rate * o.duration.as_secs_f64()) as u64;
    let start = tokio::time::Instant::now();
    let mut next_report = Instant::now() + Duration::from_secs(5);
    let mut dms = 0u64;
    for seq in 0..total {
        let at = start + Duration::from_secs_f64(seq as f64 / o.rate);
        tokio::time::sleep_until(at).await;
        let sched_us = (at.into_std() - base).as_micros() as u64;
        let (from, rid, expect) =
            if rng.random_bool(o.room_share.clamp(0.0, 1.0)) && !rooms.is_empty() {
                let k = rng.random_range(0..rooms.len());
                let from = *rooms[k].choose(&mut rng).expect("room members");
                (from, room_id(k), rooms[k].len() as u64 - 1)
            } else {
                let a = rng.random_range(0..steady);
                let mut b = rng.random_range(0..steady - 1);
                if b >= a {
                    b += 1;
                }
                dms += 1;
                (a, chat_proto::ids::dm_rid(&specs[a].uid, &specs[b].uid)?, 1)
            };
        stats.expected.fetch_add(expect, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{run_id}{seq:010}");
        let _ = handles[from].tx.send(Cmd::Send { seq, rid, id, sched_us });
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(5);
            println!(
                "chatbench: t={:.0}s sent={seq} delivered={}/{} load1={}",
                t_load.elapsed().as_secs_f64(),
                stats.delivered_count(),
                Stats::get(&stats.expected),
                load1()
            );
        }
    }
    let send_phase = t_load.elapsed();
    let bounces = match churn {
        Some(h) => h.await.unwrap_or(0),
        None => 0,
    };
    // Drain: everything expected, or give up after 30 s.
    let expected = Stats::get(&stats.expected);
    let _ = mq_test_support::poll_until(Duration::from_secs(30), || {
        std::future::ready(stats.delivered_count() >= expected)
    })
    .await;
    let cpu1 = t.watched.cpu();
    let wall = t_load.elapsed();
    let (delivered, dupes, hist) = stats.snapshot();
    let relogin = stats.relogin.lock().clone();

    println!(
        "chatbench RESULT: users={} rate={}/s duration={:.1}s messages={total} (dm={dms} room={}) sent_ok={} sent_err={} \
         delivered={delivered}/{expected} raw_dupes={dupes} latency {} churn={bounces} relogin {} presence_events={} \
         server_closes={} load1={}",
        o.users,
        o.rate,
        send_phase.as_secs_f64(),
        total - dms,
        Stats::get(&stats.sent_ok),
        Stats::get(&stats.sent_err),
        quantiles(&hist),
        quantiles(&relogin),
        Stats::get(&stats.presence_events),
        Stats::get(&stats.closed_by_server),
        load1(),
    );
    let mut names: Vec<&String> = cpu1.keys().collect();
    names.sort();
    let mut cpu_line = String::new();
    for n in names {
        let d = cpu1[n].saturating_sub(cpu0.get(n).copied().unwrap_or_default());
        cpu_line += &format!(
            " {n}: {:.1}s ({:.0}% of a core, {:.0} µs/msg)",
            d.as_secs_f64(),
            100.0 * d.as_secs_f64() / wall.as_secs_f64(),
            d.as_micros() as f64 / total.max(1) as f64
        );
    }
    println!("chatbench CPU over {:.1}s:{cpu_line}", wall.as_secs_f64());
    let rss: Vec<String> = (0..2)
        .map(|i| format!("gateway-{i} {} KiB", t.watched.rss_kib(&format!("gateway-{i}"))))
        .collect();
    println!("chatbench RSS after load: {}", rss.join(", "));
    // Closing the command channels makes every user close its socket.
    drop(handles);
    tokio::time::sleep(Duration::from_millis(500)).await;
    anyhow::ensure!(delivered == expected, "delivered {delivered} of {expected}");
    Ok(())
}

fn room_id(k: usize) -> String {
    format!("r_bench-{k}")
}
