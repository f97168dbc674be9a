//! `<storePathRootDir>/config/timerCheckpoint.json`: how far the timer got, written every
//! `timerFlushIntervalMs` (temp file, fsync, rename) after the timer log is fsynced.
//!
//! Invariants a written checkpoint guarantees (see `docs/timer.md`):
//! * every record of `rmq_sys_wheel_timer` below `enqueueOffset` has its entry in the timer log
//!   below `logEnd`, and those entries are on disk;
//! * every entry due before `readTimeMs` was delivered, and its copy lies in the commit log
//!   below `deliveredPhy`, which was flushed when the checkpoint was written;
//! * a copy of any other entry lies at or above `deliveredPhy`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::json_file;

/// The checkpoint's content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TimerCheckpoint {
    /// Next offset of `rmq_sys_wheel_timer` queue 0 to take into the timer log.
    pub enqueue_offset: i64,
    /// Timer-log entries below this index are valid.
    pub log_end: u64,
    /// Slots before this time (ms) are fully delivered.
    pub read_time_ms: i64,
    /// Commit-log offset above which copies of entries due at or after `read_time_ms` lie.
    pub delivered_phy: i64,
    /// `timerPrecisionMs` when written (informational; recovery relinks slots if it changed).
    pub precision_ms: i64,
}

/// Where the checkpoint lives under the store root.
pub fn path(root: &Path) -> PathBuf {
    root.join("config").join("timerCheckpoint.json")
}

impl TimerCheckpoint {
    /// Read the checkpoint (or its backup); `None` when there is none.
    pub fn load(path: &Path) -> Option<TimerCheckpoint> {
        json_file::read_with_backup(path, |t| serde_json::from_str(t).ok())
    }

    /// Write it durably.
    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        json_file::write_safely(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path());
        assert_eq!(TimerCheckpoint::load(&p), None);
        let c = TimerCheckpoint {
            enqueue_offset: 5,
            log_end: 7,
            read_time_ms: 1000,
            delivered_phy: 4096,
            precision_ms: 1000,
        };
        c.store(&p).unwrap();
        assert_eq!(TimerCheckpoint::load(&p), Some(c));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"readTimeMs\": 1000"), "{text}");
    }
}
