//! A startup check of the store device's readahead size.
//!
//! The commit-log warmer pre-faults pages ahead of the writer; each fault on an uncached page of
//! a preallocated file makes the kernel zero-fill a readahead window of page cache in one call
//! with no preemption point. With the Linux default window (128 KiB) that is ~0.3 ms; some
//! virtual disks are set to several MiB (8 MiB on this project's VM), which turns it into
//! 13-27 ms of a CPU every window appended: connection tasks waiting for that CPU see it as
//! multi-millisecond tail latency (bench/RESULTS.md, "e2e10k"). Brokers cannot change the
//! setting themselves, so they say so once at startup.

use std::path::{Path, PathBuf};

/// Readahead (KiB) above which the broker warns.
pub const WARN_ABOVE_KB: u64 = 1024;

/// `read_ahead_kb` of the block device holding `dir` and the sysfs file it came from, if it can
/// be found (not for tmpfs/overlay or without sysfs).
pub fn device_read_ahead_kb(dir: &Path) -> Option<(u64, PathBuf)> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(dir).ok()?.dev();
        let (major, minor) = (libc::major(dev), libc::minor(dev));
        if major == 0 {
            return None; // virtual filesystem: no block device
        }
        // A whole disk has queue/ itself; a partition's queue/ is its parent disk's.
        let base = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
        for p in [base.join("queue/read_ahead_kb"), base.join("../queue/read_ahead_kb")] {
            if let Some(kb) = std::fs::read_to_string(&p).ok().and_then(|s| s.trim().parse().ok()) {
                return Some((kb, p));
            }
        }
        None
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        None
    }
}

/// Log a warning if the store device reads ahead more than [`WARN_ABOVE_KB`].
pub fn warn_if_large(dir: &Path) {
    if let Some((kb, path)) = device_read_ahead_kb(dir) {
        if kb > WARN_ABOVE_KB {
            tracing::warn!(
                read_ahead_kb = kb,
                sysfs = %path.display(),
                "the store's block device reads ahead {kb} KiB per fault: every {kb} KiB appended, \
                 pre-faulting the commit log zero-fills that much page cache in one \
                 non-preemptible kernel call (~3 ms per MiB here), which shows as tail latency; \
                 for latency-sensitive use set it to 128 (echo 128 > {})",
                path.display()
            );
        } else {
            tracing::debug!(read_ahead_kb = kb, "store device readahead");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_device_of_a_real_directory_or_nothing() {
        // The project's disk: a number when sysfs knows the device, None on tmpfs/overlay.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        if let Some((kb, p)) = device_read_ahead_kb(dir.path()) {
            assert!(p.ends_with("read_ahead_kb"));
            assert!(kb < 1 << 30);
        }
        assert!(device_read_ahead_kb(Path::new("/proc")).is_none(), "procfs has no block device");
    }
}
