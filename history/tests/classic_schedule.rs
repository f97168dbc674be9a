//! The fault schedule against classic replication: 1 name server and a SYNC_MASTER + SLAVE
//! pair (SYNC_FLUSH) on their own loopback addresses, our client (`mq_history::drive`) and
//! ali-ons (`interop/history.js`) sending continuously, while rounds of kill -9 / SIGSTOP /
//! partition hit the slave and kill -9 hits the master (the slave is read back while the
//! master is down). Then a final read-back of both replicas and the checker over all the
//! histories: no acknowledged message lost, no queue offset holding two messages.
//!
//! `HISTORY_ROUNDS` (default 2) sets the rounds; `HISTORY_KEEP=DIR` copies the histories
//! there for `mqhistory check` (scripts/history-soak.sh does both).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_history::drive::{drive, DriveOptions};
use mq_history::readback::{read_all, read_replica, Replica};
use mq_history::schedule::{run, Direction, Fault, Faults, Schedule, Step};
use mq_history::{check, load, Kind, Recorder, Via};
use mq_test_support::cluster::{Cluster, ProxiedGroup, FAST_HA};
use mq_test_support::fault_proxy::{Cut, FaultProxy};
use mq_test_support::replica::{wait_caught_up, wait_replicating, wait_topic_served};
use mq_test_support::{wait_until, Proc};

const TOPIC: &str = "History";
const QUEUES: i32 = 4;
const GROUP: &str = "broker-a";
const T: Duration = Duration::from_secs(60);
/// On top of the shared short replication timings ([`FAST_HA`]).
const SETTINGS: &[(&str, &str)] = &[("flushDiskType", "SYNC_FLUSH"), ("slaveReadEnable", "true")];

/// The classic pair behind the schedule's [`Faults`]: targets `master` and `slave`, link
/// `slave-master` (the slave's HA connection, through a fault proxy).
struct Classic {
    c: Cluster,
    ha_link: FaultProxy,
}

impl Classic {
    fn process(target: &str) -> &'static str {
        match target {
            "master" => "a-m",
            "slave" => "a-s",
            t => panic!("unknown target {t}"),
        }
    }
}

impl Faults for Classic {
    async fn kill(&mut self, target: &str) {
        self.c.kill(Self::process(target));
    }
    async fn restart(&mut self, target: &str) {
        self.c.start_broker(Self::process(target)).await;
    }
    async fn pause(&mut self, target: &str) {
        self.c.freeze(Self::process(target));
    }
    async fn resume(&mut self, target: &str) {
        self.c.thaw(Self::process(target));
    }
    async fn partition(&mut self, link: &str, dir: Direction) {
        assert_eq!(link, "slave-master");
        self.ha_link.cut(match dir {
            Direction::Both => Cut::Both,
            Direction::ToServer => Cut::ToServer,
            Direction::ToClient => Cut::ToClient,
        });
    }
    async fn heal(&mut self, link: &str) {
        assert_eq!(link, "slave-master");
        self.ha_link.heal();
    }
    async fn read_back(&mut self, replica: &str, rec: &Recorder) -> anyhow::Result<usize> {
        let r = Replica { broker: GROUP.into(), addr: self.c.host(Self::process(replica)).addr() };
        read_replica(&r, TOPIC, QUEUES, Via::Readback, rec).await
    }
    async fn settle(&mut self) {
        let (m, s) = (self.c.host("a-m").addr(), self.c.host("a-s").addr());
        wait_replicating(&m).await;
        wait_caught_up(&m, &s).await;
    }
}

/// One round: every fault the classic pair has, the slave's first, then the master's.
fn classic_round() -> Vec<Step> {
    let hold = Duration::from_millis(1500);
    vec![
        Step::new(Fault::Kill, "slave", Duration::from_secs(1)),
        Step::new(Fault::Pause, "slave", hold),
        Step::new(Fault::Partition(Direction::Both), "slave-master", hold),
        Step::new(Fault::Partition(Direction::ToServer), "slave-master", hold),
        Step::new(Fault::Kill, "master", hold).reading_back("slave"),
    ]
}

/// `ok` events of `client` in the history at `p` so far.
fn acks(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(r#""type":"ok""#))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_pair_keeps_every_acknowledged_message_across_the_schedule() {
    let started = Instant::now();
    let rounds: usize =
        std::env::var("HISTORY_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(2);
    let interop = mq_test_support::node::ensure_ali_ons();
    let settings: Vec<_> = FAST_HA.iter().chain(SETTINGS).copied().collect();
    let mut c = Cluster::start(1, &settings).await;
    let ProxiedGroup { slave: s, ha_link, .. } = c.add_proxied_group("a", "SYNC_MASTER").await;
    c.create_topic(TOPIC, QUEUES).await;
    wait_topic_served(&s, TOPIC).await;

    let dir = c.dir.path().to_path_buf();
    let files: Vec<PathBuf> = ["rust", "ali-ons", "faults", "readback"]
        .iter()
        .map(|n| dir.join(format!("{n}.jsonl")))
        .collect();
    let [rust_h, js_h, faults_h, read_h] = [&files[0], &files[1], &files[2], &files[3]];

    // Our client, in this process.
    let stop = Arc::new(AtomicBool::new(false));
    let opts = DriveOptions {
        namesrv: c.namesrv_list(),
        topic: TOPIC.into(),
        client: "rust".into(),
        workers: 2,
        pause_after_error: Duration::from_millis(50),
        consume: true,
    };
    let rust_rec = Recorder::open(rust_h).unwrap();
    let rust = tokio::spawn({
        let stop = stop.clone();
        async move { drive(&opts, &rust_rec, stop).await }
    });
    // ali-ons, in node.
    let stop_file = dir.join("stop");
    let mut cmd = std::process::Command::new("node");
    cmd.current_dir(&interop)
        .arg("history.js")
        .arg(c.namesrv_list())
        .arg(TOPIC)
        .arg(js_h)
        .arg(&stop_file);
    let mut js = Proc::spawn_command(&dir, "ali-ons", cmd);
    wait_until("both clients acknowledged", T, || async { acks(rust_h) >= 20 && acks(js_h) >= 20 })
        .await;

    let mut cl = Classic { c, ha_link };
    let sched = Schedule { steps: classic_round(), rounds };
    let faults = Recorder::open(faults_h).unwrap();
    run(&mut cl, &sched, &faults).await.expect("schedule");

    // Writes resumed after the last fault, from both clients.
    let (r0, j0) = (acks(rust_h), acks(js_h));
    wait_until("both clients acknowledged after the schedule", T, || async {
        acks(rust_h) >= r0 + 20 && acks(js_h) >= j0 + 20
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    std::fs::write(&stop_file, b"").unwrap();
    let (sent, acked) = rust.await.unwrap().expect("rust driver");
    wait_until("ali-ons finished", T, || std::future::ready(!js.alive())).await;
    let js_out = js.log_tail(2000);

    cl.settle().await;
    let read = read_all(&cl.c.namesrv_list(), TOPIC, &Recorder::open(read_h).unwrap())
        .await
        .expect("read-back");
    if let Some(keep) = std::env::var_os("HISTORY_KEEP") {
        std::fs::create_dir_all(&keep).unwrap();
        for f in &files {
            std::fs::copy(f, Path::new(&keep).join(f.file_name().unwrap())).unwrap();
        }
    }
    let events = load(&files).expect("histories");
    let of_js =
        |k: Kind| events.iter().filter(|e| e.kind == k && e.client.starts_with("ali-ons")).count();
    let (js_acked, js_delivered) = (of_js(Kind::Ok), of_js(Kind::Recv));
    let report = check(events);
    let text = report.render();
    eprintln!(
        "{} rounds in {:?}: rust sent={sent} acked={acked}; ali-ons {} ({js_acked} acked, \
         {js_delivered} delivered); \
         {read} read back\n{}",
        rounds,
        started.elapsed(),
        js_out.lines().last().unwrap_or(""),
        text.lines().take(60).collect::<Vec<_>>().join("\n")
    );
    assert!(report.valid(), "{text}");
    assert!(acked > 0 && js_acked > 0, "both clients must have been acknowledged");
    assert!(js_delivered > 0, "ali-ons' consumer must have recorded deliveries");
    assert_eq!(report.faults, rounds * sched.steps.len());
}
