//! Safe persistence of the broker's JSON config files (`config/*.json`).
//!
//! A [`JsonFile`] is the only writer of its file: writes are serialised, each goes to a
//! uniquely named temp file that is fsynced, the previous file is kept as `<f>.bak`, the temp
//! file is renamed into place and the directory fsynced. Reading falls back to the `.bak` when
//! the main file is missing or unparsable (a crash between the two renames).
//!
//! Changes are batched: a table that changes calls [`JsonFile::mark_changed`] (cheap, no I/O)
//! and the broker's config writer ([`run_writer`]) writes each changed file at most once per
//! [`MIN_WRITE_INTERVAL`], so a request that changes 50,000 entries costs one write, not
//! 50,000 (issue 16, B2). A request that must be durable before it is answered (admin
//! creates) awaits [`JsonFile::written`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

/// Shortest pause between two writes of one file by the config writer.
pub const MIN_WRITE_INTERVAL: Duration = Duration::from_millis(100);

/// How long [`JsonFile::written`] waits before it gives up.
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// `path` with `suffix` appended to its file name (`x.json` → `x.json.bak`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// What the writer has done for a file: the change generation its last good write covers,
/// and the last failure (generation, error) if the newest attempt failed.
#[derive(Debug, Clone, Default)]
struct Written {
    generation: u64,
    failed: Option<(u64, String)>,
}

/// One config file with exactly one writer (see the module docs).
pub struct JsonFile {
    path: PathBuf,
    /// Serialises writers (the config writer, shutdown, tests).
    writing: Mutex<()>,
    /// Generation of the newest change.
    changes: AtomicU64,
    written: watch::Sender<Written>,
    /// Wakes the config writer (files written by their owner's own schedule have none).
    wake: Option<Arc<Notify>>,
}

impl JsonFile {
    /// The file at `path`, written when its owner calls [`JsonFile::write_if_changed`].
    pub fn new(path: PathBuf) -> Self {
        JsonFile {
            path,
            writing: Mutex::new(()),
            changes: AtomicU64::new(0),
            written: watch::Sender::new(Written::default()),
            wake: None,
        }
    }

    /// The file at `path`, written by the config writer that `wake` wakes on every change
    /// ([`run_writer`]).
    pub fn batched(path: PathBuf, wake: Arc<Notify>) -> Self {
        JsonFile { wake: Some(wake), ..JsonFile::new(path) }
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record that the content changed; returns the change's generation (for
    /// [`JsonFile::written`]). No I/O: the config writer writes it soon.
    pub fn mark_changed(&self) -> u64 {
        let g = self.changes.fetch_add(1, Ordering::AcqRel) + 1;
        if let Some(w) = &self.wake {
            w.notify_one();
        }
        g
    }

    /// Whether changes are waiting to be written.
    pub fn is_dirty(&self) -> bool {
        self.changes.load(Ordering::Acquire) > self.written.borrow().generation
    }

    /// Write `render()` if anything changed since the last write (blocking I/O: call it from
    /// a blocking context). `render` runs after the change counter is read, so the content
    /// covers at least every change counted. Returns whether it wrote.
    pub fn write_if_changed(&self, render: impl FnOnce() -> Vec<u8>) -> std::io::Result<bool> {
        let _one_writer = self.writing.lock();
        let generation = self.changes.load(Ordering::Acquire);
        if generation <= self.written.borrow().generation && self.path.exists() {
            return Ok(false);
        }
        match write_safely(&self.path, &render()) {
            Ok(()) => {
                self.written.send_modify(|w| {
                    w.generation = w.generation.max(generation);
                    w.failed = None;
                });
                Ok(true)
            }
            Err(e) => {
                self.written.send_modify(|w| w.failed = Some((generation, e.to_string())));
                Err(e)
            }
        }
    }

    /// Wait until the change of generation `g` is on disk. `Err` names the file and the
    /// write error (or the timeout) when it could not be written.
    pub async fn written(&self, g: u64) -> Result<(), String> {
        let mut rx = self.written.subscribe();
        let done = async {
            rx.wait_for(|w| w.generation >= g || w.failed.as_ref().is_some_and(|(fg, _)| *fg >= g))
                .await
                .map(|w| w.clone())
        };
        match tokio::time::timeout(WRITE_WAIT, done).await {
            Ok(Ok(w)) if w.generation >= g => Ok(()),
            Ok(Ok(w)) => Err(format!(
                "persisting {} failed: {}",
                self.path.display(),
                w.failed.as_ref().map(|(_, e)| e.as_str()).unwrap_or("unknown error")
            )),
            Ok(Err(_)) => Err(format!("persisting {}: writer gone", self.path.display())),
            Err(_) => Err(format!("persisting {} timed out", self.path.display())),
        }
    }
}

/// Unique temp names: two processes (or a crashed earlier run) never share one.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Atomically replace `path` with `data`, keeping the previous file as `<path>.bak` (a hard
/// link, no copy) for [`read_with_backup`]. Callers serialise per file (a [`JsonFile`]).
pub fn write_safely(path: &Path, data: &[u8]) -> std::io::Result<()> {
    replace_file(path, data, true)
}

/// Atomically replace `path` with `data`: a uniquely named temp file beside it is written and
/// fsynced, renamed into place, and the directory fsynced. No other file is left behind (the
/// broker's `-c` file uses this: nothing may appear next to it).
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    replace_file(path, data, false)
}

fn replace_file(path: &Path, data: &[u8], keep_backup: bool) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = with_suffix(
        path,
        &format!(".{}.{}.tmp", std::process::id(), TMP_SEQ.fetch_add(1, Ordering::Relaxed)),
    );
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if keep_backup && path.exists() {
        let bak = with_suffix(path, ".bak");
        let _ = std::fs::remove_file(&bak);
        if std::fs::hard_link(path, &bak).is_err() {
            let _ = std::fs::copy(path, &bak);
        }
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()
}

/// Read and parse `path` (or its `.bak`) with `parse`; `None` when neither is usable.
pub fn read_with_backup<T>(path: &Path, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    for p in [path.to_path_buf(), with_suffix(path, ".bak")] {
        if let Ok(text) = std::fs::read_to_string(&p) {
            if text.trim().is_empty() {
                continue;
            }
            match parse(&text) {
                Some(v) => return Some(v),
                None => {
                    tracing::warn!(file = %p.display(), "unparsable config file, trying backup")
                }
            }
        }
    }
    None
}

/// The broker's config writer: whenever `wake` fires, run `persist` (which writes every
/// changed file, see [`JsonFile::write_if_changed`]) on a blocking thread, then pause
/// [`MIN_WRITE_INTERVAL`] so a burst of changes is written once. Ends when `stop` fires (the
/// final write is the shutdown's).
pub async fn run_writer(
    wake: Arc<Notify>,
    stop: tokio_util::sync::CancellationToken,
    persist: Arc<dyn Fn() + Send + Sync>,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
        }
        let p = persist.clone();
        // Not awaited past `stop`: the shutdown's own final write waits for this one on the
        // file's lock, so SIGTERM does not also wait out the task timeout.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::task::spawn_blocking(move || p()) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(MIN_WRITE_INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_writers_never_collide_and_backup_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let f = Arc::new(JsonFile::new(path.clone()));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let f = f.clone();
                std::thread::spawn(move || {
                    for j in 0..20 {
                        f.mark_changed();
                        f.write_if_changed(|| format!("{{\"v\":{}}}", i * 100 + j).into_bytes())
                            .expect("no failed write under concurrency");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(!f.is_dirty());
        assert!(read_with_backup(&path, |t| t.contains("\"v\"").then_some(())).is_some());
        assert!(with_suffix(&path, ".bak").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn written_reports_success_and_failure() {
        let dir = tempfile::tempdir().unwrap();
        let f = JsonFile::new(dir.path().join("ok.json"));
        let g = f.mark_changed();
        assert!(f.write_if_changed(|| b"{}".to_vec()).unwrap());
        assert!(!f.write_if_changed(|| b"{}".to_vec()).unwrap(), "nothing new to write");
        f.written(g).await.unwrap();
        // A directory where the file should be: the write fails and waiters hear it.
        let bad = dir.path().join("bad.json");
        std::fs::create_dir_all(&bad).unwrap();
        let f = JsonFile::new(bad);
        let g = f.mark_changed();
        assert!(f.write_if_changed(|| b"{}".to_vec()).is_err());
        assert!(f.written(g).await.unwrap_err().contains("bad.json"));
    }
}
