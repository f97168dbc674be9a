//! Index files (§4.4): a hash index from `topic#key` to commit-log offsets.
//!
//! Layout: 40-byte header, `max_hash_slot_num` i32 slots (newest entry number per bucket),
//! then `max_index_num` 20-byte entries `keyHash i32 ‖ phyOffset i64 ‖ timeDiff i32 ‖ prev i32`.
//! Entry numbers start at 1. One writer (under the put lock) inserts: entry first, then the slot
//! (atomic store with Release), then the header count; readers load the slot with Acquire, so a
//! slot never points at an entry whose bytes are not yet visible.
//!
//! Files are sparse: the header and slots are backed when a file is created, entries
//! [`INDEX_BACKING_STEP`] bytes at a time as they are added.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;

use mq_common::message::java_hash;
use parking_lot::RwLock;

use super::mapped_file::{Backing, MappedFile, WriteVia};
use super::put_lock::WriteToken;

/// Header size.
pub const INDEX_HEADER_SIZE: usize = 40;
/// Entry size.
pub const INDEX_ENTRY_SIZE: usize = 20;
/// Entries are backed this many bytes at a time.
pub const INDEX_BACKING_STEP: usize = 1024 * 1024;

/// `abs(javaHash(key))` with `i32::MIN → 0`.
pub fn index_key_hash(key: &str) -> i32 {
    let h = java_hash(key);
    if h == i32::MIN {
        0
    } else {
        h.abs()
    }
}

/// One index file.
pub struct IndexFile {
    file: Arc<MappedFile>,
    slots: u32,
    max_entries: u32,
    begin_ts: AtomicI64,
    end_ts: AtomicI64,
    begin_phy: AtomicI64,
    end_phy: AtomicI64,
    slot_count: AtomicI32,
    index_count: AtomicI32,
}

fn rd_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn rd_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl IndexFile {
    /// Total file size for a geometry.
    pub fn file_size(slots: u32, max_entries: u32) -> usize {
        INDEX_HEADER_SIZE + slots as usize * 4 + max_entries as usize * INDEX_ENTRY_SIZE
    }

    /// Open an existing index file at `path` (`create`: make a new one). A file of another
    /// geometry (`maxHashSlotNum`, `maxIndexNum` changed) is an error naming it.
    pub fn open(
        t: &WriteToken<'_>,
        path: &Path,
        slots: u32,
        max_entries: u32,
        create: bool,
    ) -> io::Result<IndexFile> {
        let size = Self::file_size(slots, max_entries);
        let backing = Backing::Steps {
            prefix: INDEX_HEADER_SIZE + slots as usize * 4,
            step: INDEX_BACKING_STEP,
        };
        let f = if create {
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
            MappedFile::create(path, 0, size, (backing, WriteVia::Mapping))?
        } else {
            MappedFile::open_existing(path, 0, size, (backing, WriteVia::Mapping))?
        };
        // Hash slots are written and probed at random.
        f.fault_readahead_off();
        // Index files are always "fully written": readers follow slot chains, not a position.
        f.set_wrote_position(t, size);
        let h = f.written(0, INDEX_HEADER_SIZE).unwrap_or(&[0; 40]).to_vec();
        let idx = IndexFile {
            file: Arc::new(f),
            slots,
            max_entries,
            begin_ts: AtomicI64::new(rd_i64(&h, 0)),
            end_ts: AtomicI64::new(rd_i64(&h, 8)),
            begin_phy: AtomicI64::new(rd_i64(&h, 16)),
            end_phy: AtomicI64::new(rd_i64(&h, 24)),
            slot_count: AtomicI32::new(rd_i32(&h, 32)),
            index_count: AtomicI32::new(rd_i32(&h, 36).max(1)),
        };
        idx.recover_count(t)?;
        Ok(idx)
    }

    /// A crash between publishing an entry (slot store) and writing the header leaves the header
    /// count one behind; the next insert would then overwrite the entry its own slot points to
    /// and cut that bucket's chain. Advance the count past every complete entry found beyond it.
    fn recover_count(&self, t: &WriteToken<'_>) -> io::Result<()> {
        let mut n = self.index_count.load(Ordering::Acquire);
        let base = INDEX_HEADER_SIZE + self.slots as usize * 4;
        let mut moved = false;
        while (n as u32) < self.max_entries {
            let Some(e) = self.file.written(base + n as usize * INDEX_ENTRY_SIZE, INDEX_ENTRY_SIZE)
            else {
                break;
            };
            if e.iter().all(|&b| b == 0) {
                break;
            }
            let phy = rd_i64(e, 4);
            if phy > self.end_phy.load(Ordering::Relaxed) {
                self.end_phy.store(phy, Ordering::Release);
            }
            n += 1;
            moved = true;
        }
        if moved {
            tracing::warn!(path = ?self.file.path(), count = n, "index header was behind its entries; repaired");
            self.index_count.store(n, Ordering::Release);
            self.write_header(t)?;
        }
        Ok(())
    }

    /// Path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Store time of the first entry.
    pub fn begin_timestamp(&self) -> i64 {
        self.begin_ts.load(Ordering::Acquire)
    }

    /// Store time of the last entry.
    pub fn end_timestamp(&self) -> i64 {
        self.end_ts.load(Ordering::Acquire)
    }

    /// Commit-log offset of the last entry.
    pub fn end_phy_offset(&self) -> i64 {
        self.end_phy.load(Ordering::Acquire)
    }

    /// Next entry number (starts at 1).
    pub fn index_count(&self) -> i32 {
        self.index_count.load(Ordering::Acquire)
    }

    /// Whether no more entries fit.
    pub fn is_full(&self) -> bool {
        self.index_count() as u32 >= self.max_entries
    }

    fn entry_pos(&self, n: i32) -> usize {
        INDEX_HEADER_SIZE + self.slots as usize * 4 + n as usize * INDEX_ENTRY_SIZE
    }

    /// Back the next `n` entries' disk blocks (see `IndexService::reserve`). False if they do
    /// not fit in this file.
    fn reserve(&self, t: &WriteToken<'_>, n: usize) -> io::Result<bool> {
        let count = self.index_count();
        if count as usize + n > self.max_entries as usize {
            return Ok(false);
        }
        let from = self.entry_pos(count);
        self.file.ensure_backed(t, from, from + n * INDEX_ENTRY_SIZE)?;
        Ok(true)
    }

    fn write_header(&self, t: &WriteToken<'_>) -> io::Result<()> {
        let mut h = [0u8; INDEX_HEADER_SIZE];
        h[0..8].copy_from_slice(&self.begin_ts.load(Ordering::Relaxed).to_be_bytes());
        h[8..16].copy_from_slice(&self.end_ts.load(Ordering::Relaxed).to_be_bytes());
        h[16..24].copy_from_slice(&self.begin_phy.load(Ordering::Relaxed).to_be_bytes());
        h[24..32].copy_from_slice(&self.end_phy.load(Ordering::Relaxed).to_be_bytes());
        h[32..36].copy_from_slice(&self.slot_count.load(Ordering::Relaxed).to_be_bytes());
        h[36..40].copy_from_slice(&self.index_count.load(Ordering::Relaxed).to_be_bytes());
        self.file.write_at(t, 0, &h)
    }

    /// Seed an empty file's header with the previous file's end (Java does this so time and
    /// offset ranges stay contiguous).
    pub fn seed(&self, t: &WriteToken<'_>, end_phy: i64, end_ts: i64) -> io::Result<()> {
        if self.index_count() <= 1 {
            self.begin_phy.store(end_phy, Ordering::Release);
            self.end_phy.store(end_phy, Ordering::Release);
            self.begin_ts.store(end_ts, Ordering::Release);
            self.end_ts.store(end_ts, Ordering::Release);
            self.write_header(t)?;
        }
        Ok(())
    }

    /// Insert `key` → `phy`. Returns false if the file is full.
    pub fn put_key(
        &self,
        t: &WriteToken<'_>,
        key: &str,
        phy: i64,
        store_ts: i64,
    ) -> io::Result<bool> {
        let count = self.index_count.load(Ordering::Acquire);
        if count as u32 >= self.max_entries {
            return Ok(false);
        }
        let hash = index_key_hash(key);
        let slot_pos = INDEX_HEADER_SIZE + (hash as u32 % self.slots) as usize * 4;
        // Backed at creation for files made here; older (sparse) files get it now.
        self.file.ensure_backed(t, slot_pos, slot_pos + 4)?;
        let Some(slot) = self.file.atomic_i32(slot_pos) else {
            return Ok(false);
        };
        let mut prev = i32::from_be(slot.load(Ordering::Acquire));
        if prev <= 0 || prev > count {
            prev = 0;
        }
        let begin = self.begin_ts.load(Ordering::Relaxed);
        let diff = if begin <= 0 {
            0
        } else {
            // Saturating: STORETIMESTAMP is not covered by the body CRC (a replicated record
            // may carry any value; found by the `ha_stream` fuzz target).
            (store_ts.saturating_sub(begin) / 1000).clamp(0, i32::MAX as i64) as i32
        };
        let entry_pos = self.entry_pos(count);
        let mut e = [0u8; INDEX_ENTRY_SIZE];
        e[0..4].copy_from_slice(&hash.to_be_bytes());
        e[4..12].copy_from_slice(&phy.to_be_bytes());
        e[12..16].copy_from_slice(&diff.to_be_bytes());
        e[16..20].copy_from_slice(&prev.to_be_bytes());
        self.file.write_at(t, entry_pos, &e)?;
        // Publish: entry bytes happen-before the slot store.
        slot.store(count.to_be(), Ordering::Release);
        if count <= 1 {
            self.begin_phy.store(phy, Ordering::Release);
            self.begin_ts.store(store_ts, Ordering::Release);
        }
        if prev == 0 {
            self.slot_count.fetch_add(1, Ordering::AcqRel);
        }
        self.end_phy.store(phy, Ordering::Release);
        self.end_ts.store(store_ts, Ordering::Release);
        self.index_count.store(count + 1, Ordering::Release);
        self.write_header(t)?;
        Ok(true)
    }

    /// Whether `[begin, end]` overlaps this file's time range.
    pub fn is_time_matched(&self, begin: i64, end: i64) -> bool {
        let (b, e) = (self.begin_timestamp(), self.end_timestamp());
        (begin < b && end > e) || (begin >= b && begin <= e) || (end >= b && end <= e)
    }

    /// Commit-log offsets of entries for `key` stored within `[begin, end]`, newest first, at
    /// most `max`. Hash collisions are possible: callers verify against the message.
    pub fn select(&self, key: &str, max: usize, begin: i64, end: i64, out: &mut Vec<i64>) {
        let count = self.index_count();
        if count <= 1 {
            return;
        }
        let hash = index_key_hash(key);
        let slot_pos = INDEX_HEADER_SIZE + (hash as u32 % self.slots) as usize * 4;
        let Some(slot) = self.file.atomic_i32(slot_pos) else {
            return;
        };
        let mut cur = i32::from_be(slot.load(Ordering::Acquire));
        if cur <= 0 || cur > count {
            return;
        }
        let begin_ts = self.begin_timestamp();
        let mut steps = 0u32;
        while out.len() < max && steps < self.max_entries {
            steps += 1;
            let Some(e) = self.file.written(self.entry_pos(cur), INDEX_ENTRY_SIZE) else {
                break;
            };
            let (h, phy, diff, prev) = (rd_i32(e, 0), rd_i64(e, 4), rd_i32(e, 12), rd_i32(e, 16));
            let t = begin_ts + diff as i64 * 1000;
            if h == hash && t >= begin && t <= end {
                out.push(phy);
            }
            if prev <= 0 || prev > count || prev == cur || t < begin {
                break;
            }
            cur = prev;
        }
    }

    /// Flush the mapping.
    pub fn flush(&self) -> io::Result<()> {
        self.file.flush_all()
    }

    /// Delete the file.
    pub fn destroy(&self) -> io::Result<()> {
        self.file.destroy()
    }
}

/// All index files of the store, newest last.
pub struct IndexService {
    dir: PathBuf,
    slots: u32,
    max_entries: u32,
    files: RwLock<Vec<Arc<IndexFile>>>,
}

impl IndexService {
    /// A service over `dir`.
    pub fn new(dir: PathBuf, slots: u32, max_entries: u32) -> Self {
        IndexService {
            dir,
            slots: slots.max(1),
            max_entries: max_entries.max(2),
            files: RwLock::new(Vec::new()),
        }
    }

    /// Load existing files (names are creation times `yyyyMMddHHmmssSSS`, sorted). A file of
    /// another geometry is an error naming it.
    pub fn load(&self, t: &WriteToken<'_>) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.len() == 17 && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        paths.sort();
        let mut files = Vec::new();
        for p in paths {
            let f = IndexFile::open(t, &p, self.slots, self.max_entries, false).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("{e} (index geometry: maxHashSlotNum, maxIndexNum)"),
                )
            })?;
            files.push(Arc::new(f));
        }
        *self.files.write() = files;
        Ok(())
    }

    /// Snapshot of the files.
    pub fn files(&self) -> Vec<Arc<IndexFile>> {
        self.files.read().clone()
    }

    fn new_file_name(&self) -> PathBuf {
        let mut t = chrono::Local::now();
        loop {
            let p = self.dir.join(t.format("%Y%m%d%H%M%S%3f").to_string());
            if !p.exists() {
                return p;
            }
            t += chrono::Duration::milliseconds(1);
        }
    }

    fn writable_file(&self, t: &WriteToken<'_>) -> io::Result<Arc<IndexFile>> {
        if let Some(f) = self.files.read().last() {
            if !f.is_full() {
                return Ok(f.clone());
            }
        }
        self.new_file(t)
    }

    fn new_file(&self, t: &WriteToken<'_>) -> io::Result<Arc<IndexFile>> {
        let prev = self.files.read().last().cloned();
        let f = IndexFile::open(t, &self.new_file_name(), self.slots, self.max_entries, true)?;
        let f = Arc::new(f);
        if let Some(p) = prev {
            f.seed(t, p.end_phy_offset(), p.end_timestamp())?;
        }
        self.files.write().push(f.clone());
        Ok(f)
    }

    /// Make sure `keys` entries can be added without allocating (a new file created if they
    /// do not fit, disk blocks backed), so that a full disk fails the put before its record is
    /// appended rather than half-way through its dispatch.
    pub fn reserve(&self, t: &WriteToken<'_>, keys: usize) -> io::Result<()> {
        let f = self.writable_file(t)?;
        if !f.reserve(t, keys)? {
            let f = self.new_file(t)?;
            f.reserve(t, keys.min(self.max_entries as usize - 1))?;
        }
        Ok(())
    }

    /// Index one message: `topic#UNIQ_KEY` and `topic#k` for every KEYS element. Skips offsets
    /// already indexed (replay idempotence). Single writer.
    pub fn build(
        &self,
        t: &WriteToken<'_>,
        topic: &str,
        uniq: Option<&str>,
        keys: Option<&str>,
        phy: i64,
        store_ts: i64,
    ) -> io::Result<()> {
        let mut f = self.writable_file(t)?;
        if f.index_count() > 1 && phy <= f.end_phy_offset() {
            return Ok(());
        }
        let mut key = String::with_capacity(topic.len() + 40);
        let all = uniq.into_iter().chain(keys.unwrap_or("").split(' ')).filter(|k| !k.is_empty());
        for k in all {
            key.clear();
            key.push_str(topic);
            key.push('#');
            key.push_str(k);
            if !f.put_key(t, &key, phy, store_ts)? {
                f = self.writable_file(t)?;
                if !f.put_key(t, &key, phy, store_ts)? {
                    return Err(io::Error::other("index file full right after creation"));
                }
            }
        }
        Ok(())
    }

    /// Query: newest files first. Returns (offsets, last update timestamp, last update offset).
    pub fn query(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> (Vec<i64>, i64, i64) {
        let files = self.files();
        let mut out = Vec::new();
        let (mut last_ts, mut last_phy) = (0, 0);
        let k = format!("{topic}#{key}");
        for (i, f) in files.iter().enumerate().rev() {
            if i == files.len() - 1 {
                last_ts = f.end_timestamp();
                last_phy = f.end_phy_offset();
            }
            if f.is_time_matched(begin, end) {
                f.select(&k, max, begin, end, &mut out);
            }
            if out.len() >= max || f.begin_timestamp() < begin {
                break;
            }
        }
        (out, last_ts, last_phy)
    }

    /// Flush every file.
    pub fn flush(&self) -> io::Result<()> {
        for f in self.files() {
            f.flush()?;
        }
        Ok(())
    }

    /// Delete files (never the last) whose end offset is below `commit_log_min`.
    pub fn delete_expired(&self, commit_log_min: i64) -> usize {
        let victims: Vec<Arc<IndexFile>> = {
            let files = self.files.read();
            let n = files.len().saturating_sub(1);
            files[..n].iter().take_while(|f| f.end_phy_offset() < commit_log_min).cloned().collect()
        };
        let mut n = 0;
        for v in &victims {
            if v.destroy().is_err() {
                break;
            }
            n += 1;
        }
        if n > 0 {
            self.files.write().drain(..n);
        }
        n
    }
}

impl IndexService {
    /// After the commit log was truncated at `log_end`, make sure offsets from `log_end` on are
    /// indexed again when rewritten (the idempotence check compares against the end offset).
    /// Stale entries stay; queries verify the records they return.
    pub fn forget_beyond(&self, t: &WriteToken<'_>, log_end: i64) -> io::Result<()> {
        if let Some(f) = self.files.read().last() {
            if f.end_phy_offset() >= log_end && f.index_count() > 1 {
                f.end_phy.store(log_end - 1, Ordering::Release);
                f.write_header(t)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::put_lock::PutLock;
    use super::*;

    /// Found by the `ha_stream` fuzz target: a replicated record's STORETIMESTAMP (not under
    /// the body CRC) far below the file's begin time overflowed the time difference.
    #[test]
    fn extreme_store_timestamps_do_not_overflow() {
        let lock = PutLock::default();
        let t = lock.lock();
        let dir = tempfile::tempdir().unwrap();
        let svc = IndexService::new(dir.path().join("index"), 7, 50);
        svc.load(&t).unwrap();
        for (i, ts) in [1_000_000, i64::MIN, i64::MAX, -1].into_iter().enumerate() {
            svc.reserve(&t, 1).unwrap();
            svc.build(&t, "T", Some(&format!("U{i}")), None, i as i64 * 100, ts).unwrap();
        }
        assert_eq!(svc.query("T", "U1", 10, 0, i64::MAX).0, vec![100]);
    }

    #[test]
    fn put_and_query_across_files() {
        let lock = PutLock::default();
        let t = lock.lock();
        let dir = tempfile::tempdir().unwrap();
        let svc = IndexService::new(dir.path().join("index"), 7, 5);
        svc.load(&t).unwrap();
        for i in 0..10i64 {
            let uniq = format!("U{i}");
            svc.reserve(&t, 2).unwrap();
            svc.build(&t, "T", Some(&uniq), Some("same k"), i * 100, 1_000_000 + i * 1000).unwrap();
        }
        // Replay of an old offset is skipped.
        svc.build(&t, "T", Some("U3"), None, 300, 1_003_000).unwrap();
        assert!(svc.files().len() > 3);
        let (r, _, last) = svc.query("T", "U3", 10, 0, i64::MAX);
        assert_eq!(r, vec![300]);
        assert_eq!(last, 900);
        let (r, _, _) = svc.query("T", "same", 100, 0, i64::MAX);
        assert_eq!(r.len(), 10);
        let (r, _, _) = svc.query("T", "same", 3, 0, i64::MAX);
        assert_eq!(r.len(), 3);
        let (r, _, _) = svc.query("X", "same", 100, 0, i64::MAX);
        assert!(r.is_empty());
        // Reload.
        let svc2 = IndexService::new(dir.path().join("index"), 7, 5);
        svc2.load(&t).unwrap();
        // Another geometry is refused, naming the file.
        let e = IndexService::new(dir.path().join("index"), 8, 5).load(&t).unwrap_err();
        assert!(e.to_string().contains("maxHashSlotNum"), "{e}");
        assert_eq!(svc2.query("T", "U9", 10, 0, i64::MAX).0, vec![900]);
        assert!(svc2.delete_expired(500) >= 1);
        assert!(svc2.query("T", "U9", 10, 0, i64::MAX).0 == vec![900]);
    }

    #[test]
    fn key_hash() {
        assert_eq!(index_key_hash("polygenelubricants"), 0);
        assert!(index_key_hash("anything") >= 0);
    }
}
