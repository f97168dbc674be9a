//! The commit log: one appender writing §3.1 records into a queue of pre-sized mapped files.
//!
//! A record never straddles files: when `len + 8 > remaining`, an 8-byte blank marker
//! `[remaining i32][BLANK magic]` closes the file and the record goes to the next one (§3.2).
//! The next file is normally created, backed and warmed ahead of time by the pre-allocator
//! thread, so the append path takes neither file creation nor first-touch page faults.

use std::io;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mq_common::message::record::{self, RecordView};
use mq_common::message::{
    DecodeError, BLANK_MAGIC_CODE, MESSAGE_MAGIC_CODE_V1, MESSAGE_MAGIC_CODE_V2,
};
use parking_lot::Mutex;

use super::mapped_file::{Backing, MappedFile, WriteVia};
use super::mapped_file_queue::MappedFileQueue;
use super::put_lock::WriteToken;

/// Bytes always kept free at the end of a file for the blank marker.
pub const END_FILE_MIN_BLANK_LENGTH: usize = 8;

/// The commit log.
pub struct CommitLog {
    queue: MappedFileQueue,
    file_size: usize,
    /// A file created ahead of time by the pre-allocator, taken on roll if its offset matches.
    prepared: Mutex<Option<Arc<MappedFile>>>,
    /// Serialises file creation between the pre-allocator and a writer that rolls before the
    /// next file was prepared, so a file is created once.
    create_lock: Mutex<()>,
    /// Offset up to which data has been msync'ed.
    flushed_where: AtomicI64,
}

/// Outcome of a record scan (recovery / replay).
#[derive(Debug, Clone, Copy)]
pub struct ScanEnd {
    /// Offset just past the last valid record.
    pub valid_end: i64,
}

impl CommitLog {
    /// A commit log over `dir` with files of `file_size` bytes (not loaded yet), written
    /// `via` mapping stores or pwrite. Files are backed whole when created (ahead of the
    /// writer), so appends never allocate.
    pub fn new(dir: std::path::PathBuf, file_size: usize, via: WriteVia) -> Self {
        CommitLog {
            queue: MappedFileQueue::new(dir, file_size, Backing::Whole).write_via(via),
            file_size,
            prepared: Mutex::new(None),
            create_lock: Mutex::new(()),
            flushed_where: AtomicI64::new(0),
        }
    }

    /// The file queue.
    pub fn queue(&self) -> &MappedFileQueue {
        &self.queue
    }

    /// File size.
    pub fn file_size(&self) -> usize {
        self.file_size
    }

    /// First offset still stored.
    pub fn min_offset(&self) -> i64 {
        self.queue.min_offset()
    }

    /// Offset just past the last record.
    pub fn max_offset(&self) -> i64 {
        self.queue.max_offset()
    }

    /// Offset up to which data is durable.
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_where.load(Ordering::Acquire)
    }

    /// Declare everything up to `off` durable (after recovery) or no more than `off` (after a
    /// truncation).
    pub fn set_flushed_offset(&self, off: i64) {
        self.flushed_where.store(off, Ordering::Release);
        for f in self.queue.files() {
            f.set_flushed_position(f.wrote_position());
        }
    }

    /// Start offset of the file after the active one (what the pre-allocator should prepare).
    pub fn next_file_offset(&self) -> i64 {
        match self.queue.last() {
            Some(f) => f.from_offset() + f.size() as i64,
            None => 0,
        }
    }

    /// Offer a pre-created file for the next roll.
    pub fn offer_prepared(&self, f: Arc<MappedFile>) {
        *self.prepared.lock() = Some(f);
    }

    /// Whether a file for `from` is already prepared.
    pub fn has_prepared(&self, from: i64) -> bool {
        self.prepared.lock().as_ref().is_some_and(|f| f.from_offset() == from)
    }

    /// Take the pre-allocated file, if any (shutdown).
    pub fn take_prepared(&self) -> Option<Arc<MappedFile>> {
        self.prepared.lock().take()
    }

    /// The file starting at `from`, not yet in the queue: the prepared one if it is that one,
    /// else created now, on this thread ("cold").
    fn next_file(&self, from: i64) -> io::Result<Arc<MappedFile>> {
        let _g = self.create_lock.lock();
        let prepared = self.prepared.lock().take();
        match prepared {
            Some(p) if p.from_offset() == from => Ok(p),
            _ => Ok(Arc::new(self.queue.create_detached(from)?)),
        }
    }

    /// One round of the pre-allocator: keep a window ahead of the writer warm in the active
    /// file, and once the writer is within that window of its end, create (backed) and warm the
    /// next file, so rolling costs the writer nothing. Creation errors (disk full) are
    /// returned; the writer then creates the file itself and reports the error to its sender.
    pub fn prepare_ahead(&self, warm: bool) -> io::Result<()> {
        /// How far ahead of the write position pages are kept warm.
        const WARM_AHEAD: usize = 256 * 1024 * 1024;
        let Some(last) = self.queue.last() else { return Ok(()) };
        let wrote = last.wrote_position();
        if warm {
            last.warm_range(wrote, wrote.saturating_add(WARM_AHEAD));
        }
        if wrote.saturating_add(WARM_AHEAD) < last.size() {
            return Ok(());
        }
        let next = self.next_file_offset();
        let f = {
            let _g = self.create_lock.lock();
            if self.has_prepared(next) || self.next_file_offset() != next {
                return Ok(());
            }
            let f = Arc::new(self.queue.create_detached(next)?);
            self.offer_prepared(f.clone());
            f
        };
        if warm {
            f.warm_range(0, WARM_AHEAD);
        }
        Ok(())
    }

    /// The file to append `len` bytes to, rolling to the next file if needed. Returns it and
    /// whether a new file became active.
    ///
    /// Order matters for recovery: the next file exists before the current one is closed with
    /// its blank marker, and joins the queue only after that, so a failure (disk full) leaves
    /// the log as it was, never an empty file after a half-written one.
    fn file_for(&self, t: &WriteToken<'_>, len: usize) -> io::Result<(Arc<MappedFile>, bool)> {
        let Some(last) = self.queue.last() else {
            let f = self.next_file(0)?;
            self.queue.push(f.clone());
            return Ok((f, true));
        };
        let rem = last.remaining();
        if len + END_FILE_MIN_BLANK_LENGTH <= rem {
            return Ok((last, false));
        }
        let next = self.next_file(self.next_file_offset())?;
        if rem > 0 {
            let mut m = [0u8; 8];
            m[..4].copy_from_slice(&(rem as i32).to_be_bytes());
            m[4..].copy_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
            // Only the marker is written: the tail it stands for stays as it is.
            let closed = last.append_head(t, rem, &m);
            if let Err(e) = closed {
                self.offer_prepared(next);
                return Err(e);
            }
        }
        self.queue.push(next.clone());
        Ok((next, true))
    }

    /// Append consecutive records, `lens[j]` bytes for record set `j` (a message, or a
    /// SEND_BATCH kept in one file), each written by `encode(j, phy_offset, dst)` which must
    /// fill `dst` whole. The sets that fit in the active file go to it with **one** write (one
    /// `pwrite` in pwrite mode), then the log rolls (see [`CommitLog::file_for`]) and the rest
    /// continue in the next file the same way. The caller guarantees `lens[j] + 8 <=
    /// file_size`.
    ///
    /// Returns each appended set's offset and whether a new file became active for it, in
    /// order, and the error that stopped the rest (the next file could not be created, or a
    /// write failed: disk full): sets past the returned ones were not written.
    pub fn append_sets(
        &self,
        t: &WriteToken<'_>,
        lens: &[usize],
        mut encode: impl FnMut(usize, i64, &mut [u8]),
    ) -> (Vec<(i64, bool)>, Option<io::Error>) {
        let mut done = Vec::with_capacity(lens.len());
        while done.len() < lens.len() {
            let first = done.len();
            let (f, rolled) = match self.file_for(t, lens[first]) {
                Ok(v) => v,
                Err(e) => return (done, Some(e)),
            };
            // The run of sets that fits before the file's blank-marker reserve.
            let room = f.remaining() - END_FILE_MIN_BLANK_LENGTH;
            let (mut end, mut total) = (first, 0usize);
            while end < lens.len() && total + lens[end] <= room {
                total += lens[end];
                end += 1;
            }
            let base = f.from_offset() + f.wrote_position() as i64;
            let wrote = f.append_with(t, total, |dst| {
                let mut at = 0usize;
                for (j, &len) in lens.iter().enumerate().take(end).skip(first) {
                    encode(j, base + at as i64, &mut dst[at..at + len]);
                    at += len;
                }
            });
            match wrote {
                Ok(true) => {}
                Ok(false) => {
                    return (done, Some(io::Error::other("append does not fit after roll")))
                }
                Err(e) => return (done, Some(e)),
            }
            let mut at = base;
            for (j, &len) in lens.iter().enumerate().take(end).skip(first) {
                done.push((at, rolled && j == first));
                at += len as i64;
            }
        }
        (done, None)
    }

    /// The file that bytes starting at the end of the log go to: the active file, or the next
    /// one (created) when the active one is full; for an empty log, the file starting at `at`
    /// (which must be a file boundary). Replication uses it to place raw bytes.
    pub fn file_at_end(&self, at: i64) -> io::Result<Arc<MappedFile>> {
        let from = match self.queue.last() {
            Some(f) if !f.is_full() => return Ok(f),
            Some(_) => self.next_file_offset(),
            None if at % self.file_size as i64 == 0 => at,
            None => {
                return Err(io::Error::other(format!(
                    "an empty commit log can only start at a file boundary, not at {at}"
                )))
            }
        };
        let f = self.next_file(from)?;
        self.queue.push(f.clone());
        Ok(f)
    }

    /// `len` bytes at `phy` as a zero-copy slice, if fully written and still stored.
    pub fn get_data(&self, phy: i64, len: usize) -> Option<Bytes> {
        let f = self.queue.find(phy)?;
        f.read_bytes((phy - f.from_offset()) as usize, len)
    }

    /// Up to `max` written bytes from `phy`, never crossing a file (replication reads). At the
    /// end of a full file it continues in the next one. `None` if `phy` is not stored;
    /// empty at the end of the log.
    pub fn read_raw(&self, phy: i64, max: usize) -> Option<Bytes> {
        if phy == self.max_offset() {
            return Some(Bytes::new());
        }
        let f = self.queue.find(phy)?;
        let pos = (phy - f.from_offset()) as usize;
        let end = f.wrote_position().min(pos.saturating_add(max));
        if pos >= end {
            return None;
        }
        f.read_bytes(pos, end - pos)
    }

    /// The record at `phy` (size read from its TOTALSIZE field); `None` for blank markers,
    /// garbage or offsets outside the log.
    pub fn read_record(&self, phy: i64) -> Option<Bytes> {
        let f = self.queue.find(phy)?;
        let pos = (phy - f.from_offset()) as usize;
        let size = f.read_i32(pos)?;
        let magic = f.read_i32(pos + 4)?;
        if size < record::MIN_RECORD_LEN as i32
            || (magic != MESSAGE_MAGIC_CODE_V1 && magic != MESSAGE_MAGIC_CODE_V2)
        {
            return None;
        }
        f.read_bytes(pos, size as usize)
    }

    /// STORETIMESTAMP of the record at `phy`.
    pub fn store_timestamp_at(&self, phy: i64) -> Option<i64> {
        let f = self.queue.find(phy)?;
        let pos = (phy - f.from_offset()) as usize;
        let sys = f.read_i32(pos + record::pos::SYS_FLAG)?;
        let b = f.written(pos + record::pos::store_timestamp(sys), 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(i64::from_be_bytes(a))
    }

    /// Walk records from `from` (a record boundary) over the written part of all files,
    /// calling `f` for each valid record. Stops at the first invalid record (bad
    /// magic/size/CRC, PHYSICALOFFSET disagreeing with the position, or zeros) and returns its
    /// offset. Blank markers skip to the next file.
    pub fn scan(
        &self,
        from: i64,
        check_crc: bool,
        mut f: impl FnMut(i64, &RecordView<'_>),
    ) -> ScanEnd {
        let files = self.queue.files();
        let mut i = files.partition_point(|x| x.from_offset() + x.size() as i64 <= from);
        let mut pos = match files.get(i) {
            Some(file) => (from - file.from_offset()).max(0) as usize,
            None => return ScanEnd { valid_end: from },
        };
        loop {
            let Some(file) = files.get(i) else {
                // Ran off the last file exactly at its end.
                let end = files.last().map(|l| l.from_offset() + l.size() as i64);
                return ScanEnd { valid_end: end.unwrap_or(from) };
            };
            let base = file.from_offset();
            let wrote = file.wrote_position();
            if pos >= file.size() {
                i += 1;
                pos = 0;
                continue;
            }
            let buf = file.written(pos, wrote.saturating_sub(pos)).unwrap_or(&[]);
            match RecordView::parse(buf, check_crc) {
                Ok(v) if v.physical_offset == base + pos as i64 => {
                    f(base + pos as i64, &v);
                    pos += v.total_size as usize;
                }
                Err(DecodeError::Blank { size }) if size as usize == file.size() - pos => {
                    i += 1;
                    pos = 0;
                }
                other => {
                    if let Err(e) = other {
                        if !matches!(e, DecodeError::BadMagic(0) | DecodeError::Truncated { .. }) {
                            tracing::info!(offset = base + pos as i64, %e, "commit-log scan stops");
                        }
                    } else {
                        tracing::info!(
                            offset = base + pos as i64,
                            "commit-log scan stops: offset mismatch"
                        );
                    }
                    return ScanEnd { valid_end: base + pos as i64 };
                }
            }
        }
    }

    /// msync everything written since the last flush. Returns the new flushed offset.
    pub fn flush(&self) -> io::Result<i64> {
        let target = self.max_offset();
        let from = self.flushed_offset();
        if target <= from {
            return Ok(from);
        }
        for f in self.queue.files() {
            let end = f.from_offset() + f.size() as i64;
            if end <= from {
                continue;
            }
            f.flush()?;
            if f.from_offset() >= target {
                break;
            }
        }
        self.flushed_where.fetch_max(target, Ordering::AcqRel);
        Ok(target)
    }
}
