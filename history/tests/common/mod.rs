//! What every schedule test does around its faults: start both drivers (our client with a
//! consumer, in this process; ali-ons sending and consuming, in node), wait until both are
//! acknowledged, and at the end stop them, read every replica back and run the checker.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_history::drive::{drive, DriveOptions};
use mq_history::readback::read_all;
use mq_history::{check, load, Kind, Recorder, Report};
use mq_test_support::{wait_until, Proc};

/// The topic every schedule drives.
pub const TOPIC: &str = "History";
/// Its queues per broker group.
pub const QUEUES: i32 = 4;
/// Bound of every wait for the clients.
pub const T: Duration = Duration::from_secs(60);

/// `HISTORY_ROUNDS`, else `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("HISTORY_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(default)
}

/// `HISTORY_SECONDS`: no round starts after this many seconds of the schedule (the first
/// always runs), e.g. `HISTORY_ROUNDS=1000 HISTORY_SECONDS=3600` for an hour's soak.
pub fn budget() -> Option<Duration> {
    let s = std::env::var("HISTORY_SECONDS").ok()?;
    Some(Duration::from_secs(s.parse().expect("HISTORY_SECONDS: whole seconds")))
}

/// `ok` events in the history at `p` so far.
fn acks(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(r#""type":"ok""#))
        .count()
}

/// Both drivers running, and the history files of the run.
pub struct Clients {
    files: Vec<PathBuf>,
    stop: Arc<AtomicBool>,
    stop_file: PathBuf,
    rust: tokio::task::JoinHandle<anyhow::Result<(u64, u64)>>,
    js: Proc,
    started: Instant,
}

impl Clients {
    /// Start both drivers against `namesrv` (histories under `dir`) and wait until each has
    /// 20 acknowledgements.
    pub async fn start(dir: &Path, namesrv: &str) -> Clients {
        let started = Instant::now();
        let interop = mq_test_support::node::ensure_ali_ons();
        let files: Vec<PathBuf> = ["rust", "ali-ons", "faults", "readback"]
            .iter()
            .map(|n| dir.join(format!("{n}.jsonl")))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let opts = DriveOptions {
            namesrv: namesrv.into(),
            topic: TOPIC.into(),
            client: "rust".into(),
            workers: 2,
            pause_after_error: Duration::from_millis(50),
            consume: true,
        };
        let rec = Recorder::open(&files[0]).unwrap();
        let rust = tokio::spawn({
            let stop = stop.clone();
            async move { drive(&opts, &rec, stop).await }
        });
        let stop_file = dir.join("stop");
        let mut cmd = std::process::Command::new("node");
        cmd.current_dir(&interop)
            .arg("history.js")
            .arg(namesrv)
            .arg(TOPIC)
            .arg(&files[1])
            .arg(&stop_file);
        let js = Proc::spawn_command(dir, "ali-ons", cmd);
        let c = Clients { files, stop, stop_file, rust, js, started };
        c.wait_acks(20, "both clients acknowledged").await;
        c
    }

    /// The history the fault schedule records into.
    pub fn faults(&self) -> Recorder {
        Recorder::open(&self.files[2]).unwrap()
    }

    /// Wait until both clients have `n` more acknowledgements than now.
    pub async fn wait_acks(&self, n: usize, what: &str) {
        let (r0, j0) = (acks(&self.files[0]), acks(&self.files[1]));
        wait_until(what, T, || async {
            acks(&self.files[0]) >= r0 + n && acks(&self.files[1]) >= j0 + n
        })
        .await;
    }

    /// Writes resumed after the last fault, from both clients; stop them, read back every
    /// replica `namesrv` routes (the caller has let the cluster settle), keep the histories
    /// (and the process logs beside them) in `HISTORY_KEEP` if set, and check them. Asserts a valid history with `faults` fault
    /// starts, acknowledgements and deliveries from both clients; returns the report.
    pub async fn finish(mut self, namesrv: &str, faults: usize, label: &str) -> Report {
        self.wait_acks(20, "both clients acknowledged after the schedule").await;
        self.stop.store(true, Ordering::Relaxed);
        std::fs::write(&self.stop_file, b"").unwrap();
        let (sent, acked) = self.rust.await.unwrap().expect("rust driver");
        let js = &mut self.js;
        wait_until("ali-ons finished", T, || std::future::ready(!js.alive())).await;
        let js_out = self.js.log_tail(2000);
        let read = read_all(namesrv, TOPIC, &Recorder::open(&self.files[3]).unwrap())
            .await
            .expect("read-back");
        if let Some(keep) = std::env::var_os("HISTORY_KEEP") {
            let keep = Path::new(&keep).join(label);
            std::fs::create_dir_all(&keep).unwrap();
            for f in &self.files {
                std::fs::copy(f, keep.join(f.file_name().unwrap())).unwrap();
            }
            // The servers' and ali-ons' logs sit next to the histories: a finding's timeline
            // is explained by them (what each broker thought its role and in-sync set were).
            let dir = self.files[0].parent().expect("history dir");
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                if e.path().extension().is_some_and(|x| x == "log") {
                    std::fs::copy(e.path(), keep.join(e.file_name())).unwrap();
                }
            }
        }
        let events = load(&self.files).expect("histories");
        let of_js = |k: Kind| {
            events.iter().filter(|e| e.kind == k && e.client.starts_with("ali-ons")).count()
        };
        let (js_acked, js_delivered) = (of_js(Kind::Ok), of_js(Kind::Recv));
        let report = check(events);
        let text = report.render();
        eprintln!(
            "{label} in {:?}: rust sent={sent} acked={acked}; ali-ons {}; {read} read back\n{}",
            self.started.elapsed(),
            js_out.lines().last().unwrap_or(""),
            text.lines().take(60).collect::<Vec<_>>().join("\n")
        );
        assert!(report.valid(), "{text}");
        assert!(acked > 0 && js_acked > 0, "both clients must have been acknowledged");
        assert!(js_delivered > 0, "ali-ons' consumer must have recorded deliveries");
        assert_eq!(report.faults, faults, "every fault recorded");
        report
    }
}
