//! Consume queue (§4.3): per (topic, queueId) an array of 20-byte units
//! `commitLogOffset i64 ‖ size i32 ‖ tagsCode i64`; entry n lives at byte n*20 of the logical
//! queue, split into files named by their starting byte offset.
//!
//! Files are sparse, like Java's: disk blocks are reserved [`CQ_BACKING_STEP`] bytes at a time
//! as units arrive, so an idle or nearly empty queue costs a few KiB of disk and no file
//! descriptor, whatever `mappedFileSizeConsumeQueue` says.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::mapped_file::{Backing, MappedFile};
use super::mapped_file_queue::{LoadReport, MappedFileQueue};
use super::put_lock::WriteToken;

/// Size of one unit.
pub const CQ_UNIT: usize = 20;

/// Disk blocks are reserved this many bytes (819 units) at a time.
pub const CQ_BACKING_STEP: usize = 16 * 1024;

/// Commit-log offset of a gap-filling blank unit.
pub const BLANK_UNIT: (i64, i32, i64) = (0, i32::MAX, 0);

/// One unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqUnit {
    /// commit-log offset of the record
    pub phy_offset: i64,
    /// record size
    pub size: i32,
    /// tag hash (or delivery time for SCHEDULE_TOPIC_XXXX)
    pub tags_code: i64,
}

impl CqUnit {
    /// Whether this is a gap-filling blank unit.
    pub fn is_blank(&self) -> bool {
        self.size == i32::MAX && self.phy_offset == 0
    }

    fn decode(b: &[u8]) -> CqUnit {
        let mut o = [0u8; 8];
        o.copy_from_slice(&b[0..8]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[12..20]);
        CqUnit {
            phy_offset: i64::from_be_bytes(o),
            size: i32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            tags_code: i64::from_be_bytes(t),
        }
    }

    fn encode(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[0..8].copy_from_slice(&self.phy_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }
}

/// A unit refused by [`ConsumeQueue::put`]: its queue offset is more than a file's worth of
/// units past the queue's end (carried inside an `io::Error`; [`FarQueueOffset::is`] tells).
#[derive(Debug, thiserror::Error)]
#[error("queue offset {queue_offset} of {queue} is far past the queue's end {end}")]
pub struct FarQueueOffset {
    /// the unit's queue offset
    pub queue_offset: i64,
    /// the queue's end (units)
    pub end: i64,
    /// `topic:queue`
    pub queue: String,
}

impl FarQueueOffset {
    /// Whether `e` is one.
    pub fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|r| r.is::<FarQueueOffset>())
    }
}

/// A consume queue.
pub struct ConsumeQueue {
    topic: String,
    queue_id: i32,
    queue: MappedFileQueue,
    /// Logical byte offset of the first unit still pointing into the commit log (units before it
    /// reference deleted commit-log files).
    min_logic_offset: AtomicI64,
    /// Serialises file creation between [`ConsumeQueue::prepare`] (any sender, outside the put
    /// lock) and the writer, so a file is created once and files are pushed in offset order.
    create_lock: Mutex<()>,
    /// Set by [`ConsumeQueue::destroy`] (topic deleted): a sender that looked this queue up
    /// before the put lock must look it up again.
    destroyed: std::sync::atomic::AtomicBool,
}

impl ConsumeQueue {
    /// Open (or prepare to create) `root/consumequeue/<topic>/<queueId>/`.
    pub fn new(cq_root: &Path, topic: &str, queue_id: i32, file_size: usize) -> Self {
        ConsumeQueue {
            topic: topic.to_owned(),
            queue_id,
            queue: MappedFileQueue::new(
                cq_root.join(topic).join(queue_id.to_string()),
                file_size,
                Backing::Steps { prefix: 0, step: CQ_BACKING_STEP },
            )
            .random_access(),
            min_logic_offset: AtomicI64::new(0),
            create_lock: Mutex::new(()),
            destroyed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Make sure the writer will find a file to append to without creating one: create the first
    /// file of an empty queue, or the next file when the active one is full. Called by senders
    /// *before* taking the store's put lock, so creating a file (mkdir + open + set_len +
    /// fallocate + mmap, milliseconds on a busy disk) delays only the message that needs it,
    /// never other senders. Two atomic loads when there is nothing to do.
    ///
    /// Only a *full* active file gets a successor: an empty file after a full one is a state the
    /// writer produces anyway and recovery accepts, whereas an empty file after a partly written
    /// one would make recovery treat the zero tail of the latter as units.
    pub fn prepare(&self) -> io::Result<()> {
        match self.queue.last() {
            Some(f) if !f.is_full() => Ok(()),
            Some(f) => self.create_file(f.from_offset() + f.size() as i64).map(|_| ()),
            None => self.create_file(0).map(|_| ()),
        }
    }

    /// Whether [`ConsumeQueue::destroy`] ran.
    pub fn is_destroyed(&self) -> bool {
        self.destroyed.load(Ordering::Acquire)
    }

    /// Create the file starting at `from` and make it the active one, unless a concurrent
    /// `prepare` / the writer already did.
    fn create_file(&self, from: i64) -> io::Result<Arc<MappedFile>> {
        let _g = self.create_lock.lock();
        if let Some(f) = self.queue.last() {
            if f.from_offset() >= from {
                return Ok(f);
            }
        }
        self.queue.create(from)
    }

    /// Topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Queue id.
    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }

    /// The files.
    pub fn files(&self) -> &MappedFileQueue {
        &self.queue
    }

    /// Map existing files. Files after a hole (a middle file was lost) are deleted: they are
    /// derived data that recovery rebuilds from the commit log, and leaving them would block
    /// the rebuild from writing those offsets.
    pub fn load(&self) -> io::Result<LoadReport> {
        let report = self.queue.load()?;
        for p in &report.after_gap {
            tracing::warn!(path = ?p, topic = %self.topic, queue = self.queue_id, "consume-queue file after a hole: deleted, the queue is rebuilt from the commit log");
            std::fs::remove_file(p)?;
        }
        Ok(report)
    }

    /// Make sure the next `n` units can be written without allocating (disk blocks backed; the
    /// next file created if the active one is full), so that a full disk fails the put before
    /// its record is appended to the commit log rather than half-way through its dispatch.
    /// `queue_offset` is where the first of them goes. Units that spill into a file after the
    /// active one are not covered: only a full file may get a successor (see [`Self::prepare`]);
    /// the writer creates it when it gets there.
    pub fn reserve(&self, t: &WriteToken<'_>, queue_offset: i64, n: usize) -> io::Result<()> {
        if self.queue.is_empty() {
            self.start_at(queue_offset)?;
        }
        let Some(last) = self.queue.last() else { return Ok(()) };
        let f = match last.is_full() {
            true => self.create_file(last.from_offset() + last.size() as i64)?,
            false => last,
        };
        let pos = f.wrote_position();
        let want = ((queue_offset + n as i64) * CQ_UNIT as i64 - f.from_offset()).max(0) as usize;
        f.ensure_backed(t, pos, want.clamp(pos, f.size()))
    }

    /// Create the first file of an empty queue whose first unit is `queue_offset`: the file
    /// covering it (earlier units expired, or a replica starts mid-log), with the queue's
    /// minimum there.
    fn start_at(&self, queue_offset: i64) -> io::Result<()> {
        let expected = queue_offset * CQ_UNIT as i64;
        let fs = self.queue.file_size() as i64;
        self.create_file(expected / fs * fs)?;
        self.min_logic_offset.store(expected, Ordering::Release);
        Ok(())
    }

    /// Find the end of valid units: every file but the last is full; the last is scanned from its
    /// start for units with offset ≥ 0 and size > 0. Returns the commit-log end (offset + size) of
    /// the last valid unit, or -1.
    pub fn recover(&self, t: &WriteToken<'_>) -> io::Result<i64> {
        let (last_from, n_files) = match self.queue.last() {
            Some(l) => (l.from_offset(), self.queue.len()),
            None => return Ok(-1),
        };
        let pos = {
            let Some(last) = self.queue.last() else { return Ok(-1) };
            let mut pos = 0usize;
            while let Some(b) = last.written(pos, CQ_UNIT) {
                let u = CqUnit::decode(b);
                if u.phy_offset < 0 || u.size <= 0 {
                    break;
                }
                pos += CQ_UNIT;
            }
            pos
        };
        self.queue.truncate_from(t, last_from + pos as i64, true)?;
        // An empty last file after a full one is fine; an empty sole file is removed.
        if pos == 0 && n_files == 1 && last_from == 0 {
            self.queue.destroy_all();
        }
        Ok(self.last_phy_end())
    }

    /// Commit-log end (offset + size) of the last non-blank unit, or -1.
    pub fn last_phy_end(&self) -> i64 {
        let max = self.max_offset_in_queue();
        let min = self.first_stored_index();
        let mut i = max - 1;
        while i >= min {
            if let Some(u) = self.get_unit(i) {
                if !u.is_blank() {
                    return u.phy_offset + u.size as i64;
                }
            }
            i -= 1;
        }
        -1
    }

    /// Drop units whose record extends beyond `phy_max` (the commit log was truncated there).
    pub fn truncate_beyond(&self, t: &WriteToken<'_>, phy_max: i64) -> io::Result<()> {
        let max = self.max_offset_in_queue();
        let min = self.first_stored_index();
        // Keep up to the last real unit inside the log; trailing blanks only filled a gap
        // before a unit that is now gone, so they go too.
        let mut keep = max;
        while keep > min {
            match self.get_unit(keep - 1) {
                Some(u) if u.is_blank() || u.phy_offset + u.size as i64 > phy_max => keep -= 1,
                _ => break,
            }
        }
        if keep < max {
            tracing::info!(topic = %self.topic, queue = self.queue_id, from = keep, to = max, "truncating consume queue");
            self.queue.truncate_from(t, keep * CQ_UNIT as i64, true)?;
        }
        Ok(())
    }

    /// Next logical offset to be written (= number of units incl. deleted ones).
    pub fn max_offset_in_queue(&self) -> i64 {
        self.queue.max_offset() / CQ_UNIT as i64
    }

    fn first_stored_index(&self) -> i64 {
        self.queue.min_offset() / CQ_UNIT as i64
    }

    /// Smallest logical offset whose unit still points into the commit log.
    pub fn min_offset_in_queue(&self) -> i64 {
        let m = self.min_logic_offset.load(Ordering::Acquire) / CQ_UNIT as i64;
        m.max(self.first_stored_index()).min(self.max_offset_in_queue())
    }

    /// The unit at logical offset `index`, if stored and written.
    pub fn get_unit(&self, index: i64) -> Option<CqUnit> {
        if index < 0 {
            return None;
        }
        let at = index.checked_mul(CQ_UNIT as i64)?;
        let f = self.queue.find(at)?;
        let pos = (at - f.from_offset()) as usize;
        Some(CqUnit::decode(f.written(pos, CQ_UNIT)?))
    }

    /// Units from `index` to the end of the written part of its file (one file at most, like
    /// Java's `getIndexBuffer`). `None` if no file holds `index`.
    pub fn units_from(&self, index: i64, max_units: usize) -> Option<Vec<CqUnit>> {
        let at = index.checked_mul(CQ_UNIT as i64)?;
        let f: Arc<MappedFile> = self.queue.find(at)?;
        let pos = (at - f.from_offset()) as usize;
        let end = f.wrote_position();
        if pos >= end {
            return Some(Vec::new());
        }
        let n = ((end - pos) / CQ_UNIT).min(max_units);
        let bytes = f.written(pos, n * CQ_UNIT)?;
        Some(bytes.chunks_exact(CQ_UNIT).map(CqUnit::decode).collect())
    }

    /// Start index of the file after the one holding `index` (for OFFSET_FOUND_NULL).
    pub fn roll_next_file(&self, index: i64) -> i64 {
        let per = (self.queue.file_size() / CQ_UNIT) as i64;
        (index / per + 1) * per
    }

    /// Write unit `queue_offset`. Idempotent: offsets already present are skipped (replay).
    /// A gap (queue first seen at a non-zero offset, or lost units) is filled with blank units,
    /// at most one file's worth: a unit further past the queue's end is refused with
    /// [`FarQueueOffset`] (QUEUEOFFSET is not under a record's body CRC, so one flipped bit on disk
    /// would otherwise have recovery write blank units until the disk is full).
    pub fn put(
        &self,
        t: &WriteToken<'_>,
        queue_offset: i64,
        phy: i64,
        size: i32,
        tags_code: i64,
    ) -> io::Result<()> {
        let expected = queue_offset * CQ_UNIT as i64;
        if self.queue.is_empty() {
            self.start_at(queue_offset)?;
        } else if expected < self.queue.max_offset() {
            return Ok(());
        } else if expected - self.queue.max_offset() > self.queue.file_size() as i64 {
            let end = self.queue.max_offset() / CQ_UNIT as i64;
            let queue = format!("{}:{}", self.topic, self.queue_id);
            let e = FarQueueOffset { queue_offset, end, queue };
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        while self.queue.max_offset() < expected {
            tracing::warn!(topic = %self.topic, queue = self.queue_id, at = self.queue.max_offset() / 20, "filling consume-queue gap with a blank unit");
            let (o, s, tc) = BLANK_UNIT;
            self.append_unit(t, CqUnit { phy_offset: o, size: s, tags_code: tc })?;
        }
        self.append_unit(t, CqUnit { phy_offset: phy, size, tags_code })
    }

    fn append_unit(&self, t: &WriteToken<'_>, u: CqUnit) -> io::Result<()> {
        let f = match self.queue.last() {
            Some(f) if !f.is_full() => f,
            Some(f) => self.create_file(f.from_offset() + f.size() as i64)?,
            None => self.create_file(0)?,
        };
        let b = u.encode();
        if !f.append_with(t, CQ_UNIT, |dst| dst.copy_from_slice(&b))? {
            return Err(io::Error::other("consume-queue unit does not fit"));
        }
        Ok(())
    }

    /// Flush written units.
    pub fn flush(&self) -> io::Result<()> {
        for f in self.queue.files() {
            if f.flushed_position() < f.wrote_position() {
                f.flush()?;
            }
        }
        Ok(())
    }

    /// Delete leading files whose every unit points below `commit_log_min` and move the min
    /// logical offset past such units in the first remaining file. Returns files deleted.
    pub fn delete_expired(&self, commit_log_min: i64) -> usize {
        let deleted = self.queue.delete_leading(usize::MAX, |f| {
            let w = f.wrote_position();
            if w < CQ_UNIT {
                return false;
            }
            let last = CqUnit::decode(f.written(w - CQ_UNIT, CQ_UNIT).unwrap_or(&[0; 20]));
            f.is_full() && last.phy_offset + last.size as i64 <= commit_log_min
        });
        self.correct_min_offset(commit_log_min);
        deleted
    }

    /// Move the min logical offset to the first unit at or above `commit_log_min`.
    pub fn correct_min_offset(&self, commit_log_min: i64) {
        let min = self
            .first_stored_index()
            .max(self.min_logic_offset.load(Ordering::Acquire) / CQ_UNIT as i64);
        let max = self.max_offset_in_queue();
        let mut i = min;
        while i < max {
            match self.get_unit(i) {
                Some(u) if u.is_blank() || u.phy_offset < commit_log_min => i += 1,
                _ => break,
            }
        }
        self.min_logic_offset.store(i * CQ_UNIT as i64, Ordering::Release);
    }

    /// Remove every file and the queue directory.
    pub fn destroy(&self) {
        self.destroyed.store(true, Ordering::Release);
        self.queue.destroy_all();
        if let Some(parent) = self.queue.dir().parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::put_lock::PutLock;
    use super::*;

    #[test]
    fn put_read_roll_gap_truncate() {
        let lock = PutLock::default();
        let t = lock.lock();
        let dir = tempfile::tempdir().unwrap();
        let cq = ConsumeQueue::new(dir.path(), "T", 0, 60); // 3 units per file
        for i in 0..7 {
            cq.put(&t, i, i * 100, 100, i).unwrap();
        }
        cq.put(&t, 3, 999, 1, 1).unwrap(); // replay of an existing unit: ignored
        assert_eq!(cq.max_offset_in_queue(), 7);
        assert_eq!(cq.get_unit(3).unwrap().phy_offset, 300);
        assert_eq!(cq.units_from(4, 100).unwrap().len(), 2); // to the end of the 2nd file
        assert_eq!(cq.files().len(), 3);
        cq.put(&t, 9, 900, 100, 0).unwrap(); // gap of 2
        assert!(cq.get_unit(7).unwrap().is_blank());
        assert_eq!(cq.max_offset_in_queue(), 10);
        cq.truncate_beyond(&t, 650).unwrap();
        assert_eq!(cq.max_offset_in_queue(), 6);
        assert_eq!(cq.last_phy_end(), 600);
        assert_eq!(cq.delete_expired(350), 1);
        assert_eq!(cq.min_offset_in_queue(), 4);
        // Reload and recover.
        let cq2 = ConsumeQueue::new(dir.path(), "T", 0, 60);
        cq2.load().unwrap();
        assert_eq!(cq2.recover(&t).unwrap(), 600);
        assert_eq!(cq2.max_offset_in_queue(), 6);
    }

    #[test]
    fn new_queue_at_nonzero_offset() {
        let lock = PutLock::default();
        let t = lock.lock();
        let dir = tempfile::tempdir().unwrap();
        let cq = ConsumeQueue::new(dir.path(), "T", 1, 60);
        cq.put(&t, 4, 10, 5, 0).unwrap();
        assert_eq!(cq.max_offset_in_queue(), 5);
        assert_eq!(cq.min_offset_in_queue(), 4);
        assert!(cq.get_unit(3).unwrap().is_blank());
    }
}
