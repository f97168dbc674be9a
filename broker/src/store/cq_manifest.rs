//! `cq_manifest`: the length of every consume queue at clean shutdown (our extension; Java
//! ignores unknown files in the store root).
//!
//! A queue whose *last* file was lost shows no hole and its end is below the others', so the
//! usual "replay from the furthest queue end" rule cannot notice it. After a verified clean
//! shutdown, recovery compares each queue with this list and rebuilds the short ones from the
//! commit log. The header names the commit-log end it was written with: a manifest that does not
//! match the log being recovered (stale, or left over from an older run) is ignored, and the file
//! is removed at every start, so after a crash there is none.
//!
//! ```text
//! rmq-cq-manifest 1 <commit-log end>
//! <topic> <queueId> <maxOffsetInQueue>
//! ```

use std::io::{self, Write};
use std::path::{Path, PathBuf};

const HEADER: &str = "rmq-cq-manifest 1";

fn path(root: &Path) -> PathBuf {
    root.join("cq_manifest")
}

/// Write the manifest for `log_end` atomically (temp file, fsync, rename).
pub(crate) fn write(
    root: &Path,
    log_end: i64,
    queues: impl IntoIterator<Item = (String, i32, i64)>,
) -> io::Result<()> {
    let mut s = format!("{HEADER} {log_end}\n");
    for (topic, qid, len) in queues {
        // Topic names are validated by the broker (no whitespace), but never write a line the
        // reader would split wrongly.
        if topic.is_empty() || topic.contains(char::is_whitespace) {
            continue;
        }
        s.push_str(&format!("{topic} {qid} {len}\n"));
    }
    let tmp = root.join("cq_manifest.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(s.as_bytes())?;
    f.sync_data()?;
    std::fs::rename(&tmp, path(root))
}

/// The entries of a manifest written for `log_end`; empty if there is none, it is unreadable or
/// it was written for another log end.
pub(crate) fn read(root: &Path, log_end: i64) -> Vec<(String, i32, i64)> {
    let Ok(text) = std::fs::read_to_string(path(root)) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    if lines.next() != Some(&format!("{HEADER} {log_end}")) {
        tracing::info!("consume-queue manifest does not match the commit log: ignored");
        return Vec::new();
    }
    lines
        .filter_map(|l| {
            let mut it = l.split(' ');
            let t = it.next()?.to_owned();
            let q = it.next()?.parse().ok()?;
            let n = it.next()?.parse().ok()?;
            Some((t, q, n))
        })
        .collect()
}

/// Remove the manifest (it describes only the shutdown that wrote it).
pub(crate) fn remove(root: &Path) {
    let _ = std::fs::remove_file(path(root));
}
