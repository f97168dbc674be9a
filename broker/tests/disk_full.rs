//! A full disk (issue 16, B1): the broker's store on a small tmpfs (in a private mount
//! namespace, so nothing leaks onto the machine) filled to the last byte under load. Before,
//! the broker died with SIGBUS writing a sparse file, and again on every restart. Now: every
//! send is answered (SEND_OK while already-backed space lasts, then SERVICE_NOT_AVAILABLE),
//! the broker stays up, reads keep working, a restart while full works, and sends succeed
//! again by themselves once space is freed; no acknowledged message is lost.
//!
//! Needs root (a tmpfs mount in a new mount namespace: `unshare`, `nsenter`); without it the
//! test says so and does nothing.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use mq_common::protocol::codes::response;
use mq_common::protocol::header::SendMessageResponseHeader;
use mq_test_support::{free_port, Proc};

/// A process holding a private mount namespace with a tmpfs of `mib` MiB mounted on `dir`.
struct Tmpfs {
    holder: Proc,
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(logs: &Path, dir: &Path, mib: u32) -> Tmpfs {
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"]).arg(format!(
            "mount -t tmpfs -o size={mib}m tmpfs '{}' && touch '{}/.mounted' && exec sleep 3600",
            dir.display(),
            dir.display()
        ));
        let holder = Proc::spawn_command(logs, "tmpfs-holder", cmd);
        let t = Tmpfs { holder, dir: dir.to_path_buf() };
        wait_until_blocking("the tmpfs mounted", Duration::from_secs(10), || {
            t.path(".mounted").exists()
        });
        t
    }

    /// `rel` inside the tmpfs, as seen from outside its namespace.
    fn path(&self, rel: &str) -> PathBuf {
        let pid = self.holder.pid().expect("holder runs");
        PathBuf::from(format!("/proc/{pid}/root{}", self.dir.join(rel).display()))
    }

    /// A command run inside the namespace.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["--target", &self.holder.pid().unwrap().to_string(), "--mount", "--"]);
        cmd.arg(program);
        cmd
    }

    /// Fill the tmpfs to the last byte; returns the filler's size.
    fn fill(&self) -> u64 {
        let mut f = std::fs::File::create(self.path("filler")).expect("filler");
        let mut total = 0u64;
        for chunk in [1 << 20, 4096, 1] {
            let buf = vec![0xEEu8; chunk];
            while f.write_all(&buf).is_ok() {
                total += chunk as u64;
            }
        }
        total
    }
}

fn broker(fs: &Tmpfs, logs: &Path, port: u16) -> Proc {
    let mut cmd = fs.command(Path::new(env!("CARGO_BIN_EXE_mqbroker")));
    for kv in [
        "brokerIP1=127.0.0.1".to_string(),
        format!("listenPort={port}"),
        format!("storePathRootDir={}", fs.dir.join("store").display()),
        "brokerName=broker-full".into(),
        "mappedFileSizeCommitLog=1048576".into(),
        "maxHashSlotNum=10000".into(),
        "maxIndexNum=40000".into(),
        // Refusals come from the real ENOSPC path, not from the 90 % usage check (which
        // would refuse earlier), and nothing is deleted to make room.
        "cleanResourceInterval=600000".into(),
        "cleanFileForciblyEnable=false".into(),
    ] {
        cmd.args(["--set", &kv]);
    }
    cmd.env("RUST_LOG", "info").env_remove("NAMESRV_ADDR").stdin(Stdio::null());
    let p = Proc::spawn_command(logs, "broker", cmd);
    wait_until_blocking("the broker to listen", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    p
}

/// Send one message; `Some(key)` when acknowledged, `None` when refused as Java does for a
/// full disk. Any other answer, or none, fails the test.
async fn send(b: &RemotingClientAt, i: usize) -> Option<String> {
    let key = format!("k{i}");
    let req = send_v2(&send_header("Full", (i % 4) as i32, "t", &key), &[7u8; 1024]);
    let r = b.client.invoke(&b.addr, req, T).await.expect("every send is answered");
    match r.code {
        response::SUCCESS => {
            r.decode_header::<SendMessageResponseHeader>().expect("send header");
            Some(key)
        }
        response::SERVICE_NOT_AVAILABLE => {
            let remark = r.remark.unwrap_or_default();
            assert!(remark.contains("disk is full"), "{remark}");
            None
        }
        c => panic!("unexpected answer {c}: {:?}", r.remark),
    }
}

struct RemotingClientAt {
    client: mq_common::remoting::RemotingClient,
    addr: String,
}

/// Check that every acknowledged key is stored in the four queues (and nothing else).
async fn assert_stored(b: &RemotingClientAt, acked: &BTreeSet<String>, when: &str) {
    let stored = stored_keys(b).await;
    let missing: Vec<_> = acked.difference(&stored).take(5).collect();
    let extra: Vec<_> = stored.difference(acked).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "{when}: missing {missing:?}, extra {extra:?}");
}

/// Every key stored in the four queues.
async fn stored_keys(b: &RemotingClientAt) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for q in 0..4 {
        let mut off = 0;
        loop {
            let req = pull_req("GF", "Full", q, off, Some("*"), None);
            let r = b.client.invoke(&b.addr, req, T).await.expect("pull answered");
            if r.code != response::SUCCESS {
                break;
            }
            let msgs = decode_msgs(&r.body);
            off = msgs.last().unwrap().queue_offset + 1;
            keys.extend(msgs.iter().flat_map(|m| m.keys()).map(str::to_string));
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_sends_and_the_broker_survives() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: mounting a private tmpfs needs root");
        return;
    }
    let logs = tempfile::tempdir().unwrap();
    let mnt = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(logs.path(), mnt.path(), 24);
    let port = free_port();
    let mut proc = broker(&fs, logs.path(), port);
    let b = RemotingClientAt {
        client: mq_common::remoting::RemotingClient::new(Default::default()),
        addr: format!("127.0.0.1:{port}"),
    };
    let mut acked = BTreeSet::new();
    for i in 0..200 {
        acked.insert(send(&b, i).await.expect("room left"));
    }
    let filler = fs.fill();
    assert!(filler > 0);
    // Under load on a full disk: keep sending until 100 refusals in a row.
    let (mut i, mut refused_in_row) = (200, 0);
    while refused_in_row < 100 {
        match send(&b, i).await {
            Some(k) => {
                acked.insert(k);
                refused_in_row = 0;
            }
            None => refused_in_row += 1,
        }
        i += 1;
        assert!(i < 20_000, "the disk never filled");
    }
    assert!(proc.alive(), "the broker died: {}", proc.log_tail(2000));
    assert_stored(&b, &acked, "reads on a full disk").await;
    // kill -9 and restart while the disk is still full: it starts and serves reads.
    proc.kill();
    let mut proc = broker(&fs, logs.path(), port);
    assert_stored(&b, &acked, "reads after a restart on a full disk").await;
    assert_eq!(send(&b, i).await, None);
    assert!(proc.alive(), "the broker died: {}", proc.log_tail(2000));
    // Space back: sends succeed again by themselves.
    std::fs::remove_file(fs.path("filler")).unwrap();
    let next = std::sync::atomic::AtomicUsize::new(i);
    let k = wait_until("a send to succeed again", Duration::from_secs(20), || {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let b = &b;
        async move { send(b, i).await }
    })
    .await;
    acked.insert(k);
    assert_stored(&b, &acked, "after space came back").await;
    let st = proc.term(Duration::from_secs(30));
    assert!(st.is_some_and(|s| s.success()), "clean stop: {st:?} {}", proc.log_tail(2000));
    assert!(!proc.log_tail(1 << 20).contains("SIGBUS"));
    b.client.close_all();
}
