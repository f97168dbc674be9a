//! Child processes: spawn with a log file, signal by PID, kill on drop.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Directory of the built binaries (`target/<profile>`), building the missing ones once.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    let needed = ["mqnamesrv", "mqbroker", "chat-gateway", "chat-observer"];
    if needed.iter().any(|b| !dir.join(b).exists()) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "mq-namesrv", "-p", "mq-broker", "-p", "chat-ddp-streamer"])
            .status()
            .expect("run cargo build");
        assert!(st.success(), "building the binaries failed");
    }
    dir
}

/// A port p with p-2 and p+1 also free (the broker uses listenPort-2 and +1).
pub fn free_port() -> u16 {
    for _ in 0..500 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = l.local_addr().expect("addr").port();
        if !(1100..=65000).contains(&p) {
            continue;
        }
        if [p - 2, p + 1].iter().all(|q| TcpListener::bind(("127.0.0.1", *q)).is_ok()) {
            return p;
        }
    }
    panic!("no free port");
}

/// A spawned process.
pub struct Proc {
    /// Name for logs.
    pub name: String,
    /// Log file (stdout + stderr).
    pub log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// Spawn `bin` with `args` and `env`, logging to `dir/<name>.log` (appended).
    pub fn spawn(dir: &Path, name: &str, bin: &str, args: &[String], env: &[(String, String)]) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let f = File::options().create(true).append(true).open(&log).expect("log file");
        let mut cmd = Command::new(bin_dir().join(bin));
        cmd.args(args).stdout(Stdio::from(f.try_clone().expect("dup"))).stderr(Stdio::from(f)).stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        Proc { name: name.into(), log, child: Some(child) }
    }

    /// PID, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL.
    pub fn term(&mut self, grace: Duration) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) on the PID of our own child.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let end = Instant::now() + grace;
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The last `n` bytes of the log.
    pub fn log_tail(&self, n: u64) -> String {
        let Ok(mut f) = File::open(&self.log) else { return String::new() };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(n)));
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- {} ({}) log tail -----\n{}", self.name, self.log.display(), self.log_tail(3000));
        }
        self.kill();
    }
}

/// Minimal HTTP/1.1 GET on loopback: `(status, body)`.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// A metric value from a `/metrics` body (0 when absent).
pub fn metric(body: &str, name: &str) -> i64 {
    body.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}
