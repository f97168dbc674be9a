//! The epoch file of controller mode (Java's `EpochFileCache`, file
//! `<storePathRootDir>/epochFileCheckpoint`): which master epoch wrote which part of the
//! commit log, as `epoch-startOffset` lines in ascending order. A master appends an entry when
//! it takes an epoch; a slave copies its master's entries in the HA handshake
//! (`handshake.rs`). Two logs agree up to the end of the last epoch both hold with the same
//! start ([`consistent_point`]); a rejoining replica truncates past it.
//!
//! The format is rmq's (one `epoch-startOffset` per line, written to a temp file and renamed);
//! Java's checkpoint file adds a version, a count and a CRC. Only rmq brokers read it.

use std::path::{Path, PathBuf};

/// One epoch: the master epoch and the commit-log offset its first record starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// Master epoch (from the controller).
    pub epoch: i32,
    /// Commit-log offset where this epoch's records start.
    pub start: i64,
}

/// The entries, persisted at `path`.
#[derive(Debug)]
pub struct EpochCache {
    path: PathBuf,
    entries: Vec<EpochEntry>,
}

impl EpochCache {
    /// Load `path` (missing: empty). A line that does not parse is an error (the file is ours).
    pub fn load(path: &Path) -> Result<EpochCache, String> {
        let entries = match std::fs::read_to_string(path) {
            Ok(text) => parse(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(EpochCache { path: path.to_path_buf(), entries })
    }

    /// The entries, ascending.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The last epoch (0: none).
    pub fn last_epoch(&self) -> i32 {
        self.entries.last().map_or(0, |e| e.epoch)
    }

    /// A master took `epoch` with its log ending at `start`: entries starting past `start`
    /// (bytes this log no longer holds) are dropped first, an older or equal epoch is ignored.
    pub fn append(&mut self, epoch: i32, start: i64) -> Result<(), String> {
        self.entries.retain(|e| e.start <= start);
        if self.last_epoch() >= epoch {
            return self.persist();
        }
        self.entries.push(EpochEntry { epoch, start });
        self.persist()
    }

    /// Replace the entries by the master's (a slave after the handshake), keeping none past
    /// what the master holds.
    pub fn replace(&mut self, entries: &[EpochEntry]) -> Result<(), String> {
        self.entries = entries.to_vec();
        self.persist()
    }

    fn persist(&self) -> Result<(), String> {
        let text: String =
            self.entries.iter().map(|e| format!("{}-{}\n", e.epoch, e.start)).collect();
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &self.path))
            .map_err(|e| format!("writing {}: {e}", self.path.display()))
    }
}

/// Parse `epoch-startOffset` lines (blank lines skipped).
pub fn parse(text: &str) -> Result<Vec<EpochEntry>, String> {
    let mut out: Vec<EpochEntry> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (e, s) = line.split_once('-').ok_or_else(|| format!("bad line '{line}'"))?;
        let entry = EpochEntry {
            epoch: e.parse().map_err(|_| format!("bad epoch in '{line}'"))?,
            start: s.parse().map_err(|_| format!("bad offset in '{line}'"))?,
        };
        if out.last().is_some_and(|l| l.epoch >= entry.epoch || l.start > entry.start) {
            return Err(format!("entries out of order at '{line}'"));
        }
        out.push(entry);
    }
    Ok(out)
}

/// Where a replica's log (`mine`, ending at `my_max`) stops agreeing with the master's
/// (`theirs`, ending at `their_max`), Java's `findLastConsistentPoint`: the last epoch both
/// hold with the same start, up to the earlier of the two ends of that epoch. `None` when they
/// share no epoch (a replica without entries: its tail is checked byte by byte instead).
pub fn consistent_point(
    mine: &[EpochEntry],
    my_max: i64,
    theirs: &[EpochEntry],
    their_max: i64,
) -> Option<i64> {
    for (i, m) in mine.iter().enumerate().rev() {
        let Some(j) = theirs.iter().position(|t| t == m) else { continue };
        let my_end = mine.get(i + 1).map_or(my_max, |n| n.start).min(my_max);
        let their_end = theirs.get(j + 1).map_or(their_max, |n| n.start).min(their_max);
        return Some(my_end.min(their_end));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(epoch: i32, start: i64) -> EpochEntry {
        EpochEntry { epoch, start }
    }

    #[test]
    fn old_master_with_an_unreplicated_tail_stops_at_the_new_epoch() {
        // The old master wrote epoch 1 up to 500; the new master took epoch 2 at 400.
        let old = [e(1, 0)];
        let new = [e(1, 0), e(2, 400)];
        assert_eq!(consistent_point(&old, 500, &new, 900), Some(400));
        // A slave that is simply behind keeps everything.
        assert_eq!(consistent_point(&[e(1, 0), e(2, 400)], 450, &new, 900), Some(450));
        // No common epoch.
        assert_eq!(consistent_point(&[e(3, 0)], 10, &new, 900), None);
        assert_eq!(consistent_point(&[], 10, &new, 900), None);
    }

    #[test]
    fn file_round_trip_and_append_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("epochFileCheckpoint");
        let mut c = EpochCache::load(&p).unwrap();
        c.append(1, 0).unwrap();
        c.append(2, 300).unwrap();
        c.append(2, 350).unwrap(); // same epoch again: ignored
        assert_eq!(EpochCache::load(&p).unwrap().entries(), &[e(1, 0), e(2, 300)]);
        c.append(4, 200).unwrap(); // log cut to 200: epoch 2's entry goes
        assert_eq!(EpochCache::load(&p).unwrap().entries(), &[e(1, 0), e(4, 200)]);
        assert!(parse("2-0\n1-5\n").is_err());
        assert!(parse("x").is_err());
    }
}
