//! The timer log: `<storePathRootDir>/timerlog/<20-digit first entry index>`, an append-only
//! sequence of fixed 48-byte entries, one per timer message taken from `rmq_sys_wheel_timer`.
//!
//! ```text
//! 0  u32 magic "TML1"      8  i64 delivery time, ms     24 i32 record size
//! 4  u32 CRC32 of [8, 40)  16 i64 commit-log offset     28 i32 reserved (0)
//!                                                       32 i64 queue offset in the timer topic
//!                                                       40 i64 previous entry of the same slot
//! ```
//!
//! Entries are addressed by index (`file first index + position / 48`). The `prev` field links
//! the entries of one wheel slot into a list whose head the in-memory wheel keeps, so memory
//! grows with the number of occupied slots, not with the number of timers. `prev` is outside
//! the CRC because recovery relinks the lists (after a precision change, or when entries were
//! delivered straight from the active slot) by rewriting it in place.
//!
//! Files are written with `pwrite` (not mapped): appends never fault pages into the broker's
//! RSS, a full disk is an `ENOSPC` error instead of a SIGBUS, and reads of single entries are
//! one `pread` each.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

/// Bytes per entry.
pub const ENTRY_SIZE: usize = 48;
const MAGIC: u32 = 0x544D_4C31;
/// `prev` of the first entry of a slot.
pub const NO_PREV: i64 = -1;

/// One timer-log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// When to deliver, ms since the epoch (already clamped to the wheel's cursor).
    pub deliver_ms: i64,
    /// Commit-log offset of the record in `rmq_sys_wheel_timer`.
    pub phy: i64,
    /// Size of that record.
    pub size: i32,
    /// Its offset in the timer topic's queue 0.
    pub cq_offset: i64,
    /// Index of the previous entry of the same slot, or [`NO_PREV`].
    pub prev: i64,
}

/// An entry that failed its magic or CRC check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timer-log entry damaged (bad magic or CRC)")]
pub struct Damaged;

impl Entry {
    /// The 48 on-disk bytes.
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut b = [0u8; ENTRY_SIZE];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[8..16].copy_from_slice(&self.deliver_ms.to_be_bytes());
        b[16..24].copy_from_slice(&self.phy.to_be_bytes());
        b[24..28].copy_from_slice(&self.size.to_be_bytes());
        b[32..40].copy_from_slice(&self.cq_offset.to_be_bytes());
        b[40..48].copy_from_slice(&self.prev.to_be_bytes());
        let crc = crc32fast::hash(&b[8..40]);
        b[4..8].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decode and verify 48 bytes.
    pub fn decode(b: &[u8]) -> Result<Entry, Damaged> {
        let b: &[u8; ENTRY_SIZE] =
            b.get(..ENTRY_SIZE).and_then(|s| s.try_into().ok()).ok_or(Damaged)?;
        let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let i64_at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if u32_at(0) != MAGIC || u32_at(4) != crc32fast::hash(&b[8..40]) {
            return Err(Damaged);
        }
        Ok(Entry {
            deliver_ms: i64_at(8),
            phy: i64_at(16),
            size: u32_at(24) as i32,
            cq_offset: i64_at(32),
            prev: i64_at(40),
        })
    }
}

struct Segment {
    file: Arc<File>,
    /// Latest delivery time of its entries as far as known (appended, or seen by a
    /// [`TimerLog::scan`] from the first entry, as recovery does); `None` = unknown, never
    /// deleted.
    max_deliver_ms: Option<i64>,
}

impl Segment {
    fn note(&mut self, max: i64) {
        self.max_deliver_ms = Some(self.max_deliver_ms.map_or(max, |m| m.max(max)));
    }
}

/// The timer log (see the module docs). Appends come from one thread (the enqueuer); reads and
/// `prev` rewrites may come from any.
pub struct TimerLog {
    dir: PathBuf,
    per_file: u64,
    segments: RwLock<BTreeMap<u64, Segment>>,
    /// Index of the next entry to append.
    end: AtomicU64,
    /// Entries below this are fsynced.
    synced: Mutex<u64>,
}

fn name_of(first: u64) -> String {
    format!("{first:020}")
}

impl TimerLog {
    /// Open (or create) the log in `dir`; `file_size` bytes per file (rounded down to whole
    /// entries). A torn partial entry at the end is cut off.
    pub fn open(dir: &Path, file_size: u64) -> io::Result<TimerLog> {
        std::fs::create_dir_all(dir)?;
        let per_file = (file_size / ENTRY_SIZE as u64).max(1);
        let mut segments = BTreeMap::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let Some(first) = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let file = OpenOptions::new().read(true).write(true).open(e.path())?;
            segments.insert(first, Segment { file: Arc::new(file), max_deliver_ms: None });
        }
        let mut end = 0;
        if let Some((&first, seg)) = segments.iter().next_back() {
            let len = seg.file.metadata()?.len();
            let whole = (len / ENTRY_SIZE as u64).min(per_file);
            if whole * ENTRY_SIZE as u64 != len {
                seg.file.set_len(whole * ENTRY_SIZE as u64)?;
            }
            end = first + whole;
        }
        Ok(TimerLog {
            dir: dir.to_path_buf(),
            per_file,
            segments: RwLock::new(segments),
            end: AtomicU64::new(end),
            synced: Mutex::new(end),
        })
    }

    /// Index of the next entry to append.
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Index of the oldest entry kept.
    pub fn first(&self) -> u64 {
        self.segments.read().keys().next().copied().unwrap_or_else(|| self.end())
    }

    fn segment_of(&self, idx: u64) -> Option<(u64, Arc<File>)> {
        let segs = self.segments.read();
        let (&first, seg) = segs.range(..=idx).next_back()?;
        (idx < first + self.per_file).then(|| (first, seg.file.clone()))
    }

    /// Append `entries` at [`TimerLog::end`]; returns the index of the first. On error nothing
    /// counts as appended (a partial write is overwritten by the next append).
    pub fn append(&self, entries: &[Entry]) -> io::Result<u64> {
        let start = self.end();
        let mut at = start;
        let mut rest = entries;
        while !rest.is_empty() {
            let first = at - at % self.per_file;
            let file = match self.segment_of(at) {
                Some((_, f)) => f,
                None => self.create_segment(first)?,
            };
            let n = rest.len().min((first + self.per_file - at) as usize);
            let mut buf = Vec::with_capacity(n * ENTRY_SIZE);
            let mut max = i64::MIN;
            for e in &rest[..n] {
                buf.extend_from_slice(&e.encode());
                max = max.max(e.deliver_ms);
            }
            file.write_all_at(&buf, (at - first) * ENTRY_SIZE as u64)?;
            if let Some(seg) = self.segments.write().get_mut(&first) {
                seg.note(max);
            }
            at += n as u64;
            rest = &rest[n..];
        }
        self.end.store(at, Ordering::Release);
        Ok(start)
    }

    fn create_segment(&self, first: u64) -> io::Result<Arc<File>> {
        let path = self.dir.join(name_of(first));
        let file = Arc::new(
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?,
        );
        // The new name must survive a crash together with the data fsynced into it later.
        File::open(&self.dir)?.sync_all()?;
        self.segments.write().insert(first, Segment { file: file.clone(), max_deliver_ms: None });
        Ok(file)
    }

    /// Read entry `idx`.
    pub fn read(&self, idx: u64) -> io::Result<Entry> {
        if idx >= self.end() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("timer-log entry {idx} not written"),
            ));
        }
        let (first, file) = self.segment_of(idx).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("timer-log entry {idx} deleted"))
        })?;
        let mut b = [0u8; ENTRY_SIZE];
        file.read_exact_at(&mut b, (idx - first) * ENTRY_SIZE as u64)?;
        Entry::decode(&b)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("entry {idx}: {e}")))
    }

    /// Visit entries `[from, to)` in order, reading in large chunks. Stops at the first damaged
    /// entry and returns its index (`Ok(None)` when all were intact).
    pub fn scan(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &Entry),
    ) -> io::Result<Option<u64>> {
        const CHUNK: u64 = 16 * 1024;
        let mut idx = from.max(self.first());
        let to = to.min(self.end());
        let mut buf = Vec::new();
        while idx < to {
            let Some((first, file)) = self.segment_of(idx) else { return Ok(Some(idx)) };
            let n = CHUNK.min(to - idx).min(first + self.per_file - idx);
            buf.resize(n as usize * ENTRY_SIZE, 0);
            file.read_exact_at(&mut buf, (idx - first) * ENTRY_SIZE as u64)?;
            let mut max = i64::MIN;
            let mut damaged = None;
            for (i, raw) in buf.chunks_exact(ENTRY_SIZE).enumerate() {
                match Entry::decode(raw) {
                    Ok(e) => {
                        max = max.max(e.deliver_ms);
                        f(idx + i as u64, &e)
                    }
                    Err(Damaged) => {
                        damaged = Some(idx + i as u64);
                        break;
                    }
                }
            }
            if let Some(seg) = self.segments.write().get_mut(&first) {
                seg.note(max);
            }
            if damaged.is_some() {
                return Ok(damaged);
            }
            idx += n;
        }
        Ok(None)
    }

    /// Rewrite the `prev` link of entry `idx`.
    pub fn set_prev(&self, idx: u64, prev: i64) -> io::Result<()> {
        let (first, file) = self
            .segment_of(idx)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("entry {idx}")))?;
        file.write_all_at(&prev.to_be_bytes(), (idx - first) * ENTRY_SIZE as u64 + 40)
    }

    /// Drop every entry from `end` on.
    pub fn truncate(&self, end: u64) -> io::Result<()> {
        if end >= self.end() {
            return Ok(());
        }
        let mut segs = self.segments.write();
        let doomed: Vec<u64> = segs.range(end..).map(|(k, _)| *k).filter(|k| *k >= end).collect();
        for first in doomed {
            segs.remove(&first);
            std::fs::remove_file(self.dir.join(name_of(first)))?;
        }
        if let Some((&first, seg)) = segs.range(..end).next_back() {
            seg.file.set_len((end - first).min(self.per_file) * ENTRY_SIZE as u64)?;
            seg.file.sync_all()?;
        }
        drop(segs);
        self.end.store(end, Ordering::Release);
        let mut s = self.synced.lock();
        *s = (*s).min(end);
        Ok(())
    }

    /// fsync everything appended so far; returns the index up to which the log is durable.
    pub fn sync(&self) -> io::Result<u64> {
        let end = self.end();
        let mut synced = self.synced.lock();
        if *synced < end {
            let files: Vec<Arc<File>> = {
                let segs = self.segments.read();
                let lo = *synced - *synced % self.per_file;
                segs.range(lo..end).map(|(_, s)| s.file.clone()).collect()
            };
            for f in files {
                f.sync_data()?;
            }
            *synced = end;
        }
        Ok(*synced)
    }

    /// Delete whole files (never the last one) whose entries are all due before `before_ms`,
    /// i.e. already delivered. Returns how many files were removed.
    pub fn delete_delivered(&self, before_ms: i64) -> io::Result<usize> {
        let mut segs = self.segments.write();
        let last = segs.keys().next_back().copied();
        let doomed: Vec<u64> = segs
            .iter()
            .take_while(|(k, s)| {
                Some(**k) != last && s.max_deliver_ms.is_some_and(|m| m < before_ms)
            })
            .map(|(k, _)| *k)
            .collect();
        for first in &doomed {
            segs.remove(first);
            std::fs::remove_file(self.dir.join(name_of(*first)))?;
        }
        Ok(doomed.len())
    }

    /// Number of files.
    pub fn file_count(&self) -> usize {
        self.segments.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(i: i64) -> Entry {
        Entry { deliver_ms: 1000 + i, phy: i * 100, size: 90, cq_offset: i, prev: i - 1 }
    }

    #[test]
    fn codec_round_trip_and_damage() {
        let x = Entry { deliver_ms: -5, phy: 1 << 40, size: 123, cq_offset: 7, prev: NO_PREV };
        let b = x.encode();
        assert_eq!(Entry::decode(&b), Ok(x));
        for i in 0..40 {
            let mut bad = b;
            bad[i] ^= 0x10;
            assert_eq!(Entry::decode(&bad), Err(Damaged), "byte {i}");
        }
        // prev is outside the CRC: relinking rewrites it in place.
        let mut relinked = b;
        relinked[40..48].copy_from_slice(&9i64.to_be_bytes());
        assert_eq!(Entry::decode(&relinked).unwrap().prev, 9);
        assert_eq!(Entry::decode(&b[..47]), Err(Damaged));
    }

    #[test]
    fn append_read_across_files_reopen_truncate_delete() {
        let dir = tempfile::tempdir().unwrap();
        let size = ENTRY_SIZE as u64 * 10 + 7; // 10 entries per file
        let log = TimerLog::open(dir.path(), size).unwrap();
        let all: Vec<Entry> = (0..35).map(e).collect();
        assert_eq!(log.append(&all[..4]).unwrap(), 0);
        assert_eq!(log.append(&all[4..]).unwrap(), 4);
        assert_eq!(log.end(), 35);
        assert_eq!(log.file_count(), 4);
        for i in 0..35 {
            assert_eq!(log.read(i).unwrap(), all[i as usize]);
        }
        assert!(log.read(35).is_err());
        log.set_prev(12, 3).unwrap();
        assert_eq!(log.read(12).unwrap().prev, 3);
        log.sync().unwrap();
        drop(log);
        // A torn half entry at the end is cut off at reopen.
        let last = dir.path().join(name_of(30));
        let f = OpenOptions::new().append(true).open(&last).unwrap();
        f.write_all_at(&[1, 2, 3], 5 * ENTRY_SIZE as u64).unwrap();
        let log = TimerLog::open(dir.path(), size).unwrap();
        assert_eq!(log.end(), 35);
        let mut seen = Vec::new();
        assert_eq!(log.scan(0, 100, |i, x| seen.push((i, x.cq_offset))).unwrap(), None);
        assert_eq!(seen.len(), 35);
        log.truncate(22).unwrap();
        assert_eq!((log.end(), log.file_count()), (22, 3));
        assert_eq!(log.append(&[e(99)]).unwrap(), 22);
        assert_eq!(log.read(22).unwrap().cq_offset, 99);
        // Retention: files whose entries are all due before the time go (entry i is due at
        // 1000 + i), never the last file.
        assert_eq!(log.delete_delivered(1010).unwrap(), 1);
        assert_eq!(log.first(), 10);
        assert!(log.read(3).is_err());
        assert_eq!(log.delete_delivered(i64::MAX).unwrap(), 1);
        assert_eq!(log.file_count(), 1);
    }

    #[test]
    fn scan_stops_at_damage() {
        let dir = tempfile::tempdir().unwrap();
        let log = TimerLog::open(dir.path(), 1 << 20).unwrap();
        log.append(&(0..5).map(e).collect::<Vec<_>>()).unwrap();
        let f = OpenOptions::new().write(true).open(dir.path().join(name_of(0))).unwrap();
        f.write_all_at(&[0xFF], 3 * ENTRY_SIZE as u64 + 10).unwrap();
        let mut n = 0;
        assert_eq!(log.scan(0, 5, |_, _| n += 1).unwrap(), Some(3));
        assert_eq!(n, 3);
    }

    proptest! {
        #[test]
        fn entries_round_trip(d in any::<i64>(), p in any::<i64>(), s in any::<i32>(), q in any::<i64>(), pr in any::<i64>()) {
            let x = Entry { deliver_ms: d, phy: p, size: s, cq_offset: q, prev: pr };
            prop_assert_eq!(Entry::decode(&x.encode()), Ok(x));
        }

        /// Appends in random batch sizes over small files read back exactly, also after a
        /// reopen and a truncation at a random point.
        #[test]
        fn log_matches_a_vector(batches in proptest::collection::vec(1usize..30, 1..12), cut in 0u64..400) {
            let dir = tempfile::tempdir().unwrap();
            let size = ENTRY_SIZE as u64 * 7;
            let log = TimerLog::open(dir.path(), size).unwrap();
            let mut model = Vec::new();
            for n in batches {
                let batch: Vec<Entry> = (0..n).map(|_| e(model.len() as i64 + 1)).collect();
                let at = log.append(&batch).unwrap();
                prop_assert_eq!(at, model.len() as u64);
                model.extend(batch);
            }
            drop(log);
            let log = TimerLog::open(dir.path(), size).unwrap();
            prop_assert_eq!(log.end(), model.len() as u64);
            let cut = cut.min(model.len() as u64);
            log.truncate(cut).unwrap();
            model.truncate(cut as usize);
            let mut got = Vec::new();
            log.scan(0, u64::MAX, |_, x| got.push(*x)).unwrap();
            prop_assert_eq!(got, model);
        }
    }
}
