//! One child process: spawned with a log file, signalled by PID, killed on drop.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bins::target_dir;

/// A spawned process. Dropping it sends SIGKILL and reaps it; if the thread is panicking the
/// tail of its log is printed first.
pub struct Proc {
    /// Name for logs.
    pub name: String,
    /// Log file (stdout + stderr, appended across restarts).
    pub log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// Spawn the workspace binary `bin` (from [`target_dir`]; see [`crate::ensure_bins`]) with
    /// `args` and `env`, logging to `dir/<name>.log` (appended).
    pub fn spawn(
        dir: &Path,
        name: &str,
        bin: &str,
        args: &[String],
        env: &[(String, String)],
    ) -> Proc {
        let mut cmd = Command::new(target_dir().join(bin));
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn_command(dir, name, cmd)
    }

    /// Spawn `cmd` (any program, e.g. a workspace binary wrapped in `nsenter`), logging to
    /// `dir/<name>.log` (appended).
    pub fn spawn_command(dir: &Path, name: &str, mut cmd: Command) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let f = File::options().create(true).append(true).open(&log).expect("log file");
        cmd.stdout(Stdio::from(f.try_clone().expect("dup log fd")))
            .stderr(Stdio::from(f))
            .stdin(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
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

    /// SIGKILL (kill -9) and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait up to `grace` for a clean exit, then SIGKILL. Returns the exit status
    /// when the process exited by itself within `grace`.
    pub fn term(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // SAFETY: plain kill(2) on the PID of our own, not yet reaped, child.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Resident memory of the process, bytes (0 once it is gone).
    pub fn rss_bytes(&self) -> u64 {
        self.pid().map(rss_bytes).unwrap_or(0)
    }

    /// The last `n` bytes of the log.
    pub fn log_tail(&self, n: u64) -> String {
        let Ok(mut f) = File::open(&self.log) else { return String::new() };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(n)));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Resident memory (`VmRSS`) of process `pid`, bytes; 0 if it is gone.
pub fn rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:") * 1024
}

/// Resident anonymous memory (`RssAnon`: heap and stacks, not mapped files such as a broker's
/// commit log) of process `pid`, bytes; 0 if it is gone.
pub fn anon_rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "RssAnon:") * 1024
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
}

/// Established TCP connections whose local port is `port` and that a process has accepted,
/// counted from `/proc/net/tcp{,6}` (the caller's network namespace). A connection still in
/// the listen backlog is established too, but has no socket file yet (inode 0), so it is not
/// counted. Unlike a process's descriptor count, this does not move when the process opens
/// or closes an unrelated file or outgoing connection.
pub fn accepted_connections(port: u16) -> usize {
    let port = format!("{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|table| {
            let port = port.clone();
            table
                .lines()
                .skip(1)
                .filter(move |l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    cols.len() > 9
                        && cols[1].rsplit(':').next() == Some(port.as_str())
                        && cols[3] == "01"
                        && cols[9] != "0"
                })
                .map(|_| ())
                .collect::<Vec<_>>()
        })
        .count()
}

/// Bytes process `pid` has passed to write-like syscalls (`wchar` of `/proc/<pid>/io`).
pub fn written_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("wchar:")).and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- {} ({}) log tail -----\n{}",
                self.name,
                self.log.display(),
                self.log_tail(6000)
            );
        }
        self.kill();
    }
}

/// CPU time (user + system) process `pid` has used so far, from `/proc/<pid>/stat` (fields 14
/// and 15, in clock ticks); zero if it is gone. Load generators divide its growth over a run by
/// the messages they sent to report CPU per message.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // rest starts at field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// Raise this process's soft `RLIMIT_NOFILE` to its hard limit (children spawned afterwards
/// inherit it); returns the new soft limit. Thousands of sockets in one process need it.
pub fn raise_nofile_limit() -> u64 {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit on a local, fully initialised struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
    }
    r.rlim_cur
}
