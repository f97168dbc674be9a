//! [`AclFile`]: the `plain_acl.yml` in force, reloaded when the file changes.
//!
//! A poller (Java polls every 5 s too) re-reads the file when its modification time, size or
//! content changed. A file that does not parse, is empty or is missing keeps the last good
//! accounts in force and logs why once per distinct problem; the next good version is taken
//! at once. A change is read only once the file has stayed the same for [`SETTLE`], so a
//! file rewritten in place (truncate, then write) is not caught half-written: without this a
//! reload under load briefly saw an empty file, i.e. no accounts, and refused everyone.
//! Readers see each version whole: the accounts sit behind an [`ArcSwap`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use super::plain::PlainAcl;

/// How long a changed file must stay unchanged before it is read.
pub const SETTLE: Duration = Duration::from_millis(50);

/// The accounts of one `plain_acl.yml`, kept current by [`AclFile::spawn_reloader`].
pub struct AclFile {
    path: PathBuf,
    current: Arc<ArcSwap<PlainAcl>>,
}

/// What identifies a version of the file without reading it.
#[derive(PartialEq, Eq, Clone, Copy)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    Ok(Stamp { modified: m.modified().ok(), len: m.len() })
}

fn read(path: &Path) -> Result<(String, PlainAcl), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    if text.trim().is_empty() {
        // Most likely caught mid-rewrite; an intentional "nobody" is `accounts: []`.
        return Err("file is empty (write `accounts: []` for no accounts)".into());
    }
    let acl = PlainAcl::parse(&text)?;
    Ok((text, acl))
}

impl AclFile {
    /// Load `path`; an unreadable or invalid file is an error (a server must not start with
    /// access control on and no accounts it meant to have).
    pub fn load(path: &Path) -> Result<AclFile, String> {
        let (_, acl) = read(path).map_err(|e| format!("ACL file {}: {e}", path.display()))?;
        tracing::info!(file = %path.display(), accounts = acl.accounts.len(), "ACL loaded");
        Ok(AclFile { path: path.to_path_buf(), current: Arc::new(ArcSwap::from_pointee(acl)) })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The shared slot validators read from.
    pub fn shared(&self) -> Arc<ArcSwap<PlainAcl>> {
        self.current.clone()
    }

    /// Poll the file every `every` until `stop` fires, swapping in each new good version.
    pub fn spawn_reloader(&self, every: Duration, stop: CancellationToken) {
        let path = self.path.clone();
        let current = self.current.clone();
        let mut last_stamp = stamp(&path).ok();
        let mut last_text = std::fs::read_to_string(&path).ok();
        tokio::spawn(async move {
            let mut last_problem: Option<String> = None;
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = stamp(&path).ok();
                if now.is_some() && now == last_stamp {
                    continue;
                }
                // Let a writer finish: read only a file that stayed the same for SETTLE.
                tokio::time::sleep(SETTLE).await;
                if stamp(&path).ok() != now {
                    continue;
                }
                let outcome = match now {
                    None => Err("file is missing".to_string()),
                    Some(_) => read(&path),
                };
                match outcome {
                    Ok((text, acl)) => {
                        last_stamp = now;
                        last_problem = None;
                        if last_text.as_deref() == Some(text.as_str()) {
                            continue; // touched, not changed
                        }
                        tracing::info!(file = %path.display(), accounts = acl.accounts.len(), "ACL reloaded");
                        current.store(Arc::new(acl));
                        last_text = Some(text);
                    }
                    Err(why) => {
                        // Re-read next time even if the stamp stays (the writer may not be
                        // done), but say it once.
                        last_stamp = None;
                        if last_problem.as_deref() != Some(why.as_str()) {
                            tracing::warn!(file = %path.display(), problem = %why, "ACL file not reloaded; the last good version stays in force");
                            last_problem = Some(why);
                        }
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "accounts:\n  - {accessKey: RocketMQ, secretKey: '12345678'}\n";
    const BETTER: &str = "accounts:\n  - {accessKey: RocketMQ, secretKey: '12345678'}\n  - {accessKey: Another1, secretKey: '12345678'}\n";

    async fn wait_for(f: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(tokio::time::Instant::now() < deadline, "condition not reached in 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn reload_keeps_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain_acl.yml");
        std::fs::write(&path, GOOD).unwrap();
        let f = AclFile::load(&path).unwrap();
        let stop = CancellationToken::new();
        f.spawn_reloader(Duration::from_millis(20), stop.clone());
        let slot = f.shared();
        assert_eq!(slot.load().accounts.len(), 1);
        // Broken file: the old accounts stay.
        std::fs::write(&path, "accounts: [\n").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(slot.load().accounts.len(), 1);
        // Empty (a rewrite caught half-way): the old accounts stay.
        std::fs::write(&path, "").unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(slot.load().accounts.len(), 1);
        // Removed: still the old accounts.
        std::fs::remove_file(&path).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(slot.load().accounts.len(), 1);
        // A good new version is taken.
        std::fs::write(&path, BETTER).unwrap();
        wait_for(|| slot.load().accounts.len() == 2).await;
        stop.cancel();
        let missing = AclFile::load(&dir.path().join("missing.yml")).err().unwrap();
        assert!(missing.contains("missing.yml"), "{missing}");
    }
}
