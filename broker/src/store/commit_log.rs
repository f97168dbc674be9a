//! The commit log: one appender writing §3.1 records into a queue of pre-sized mapped files.
//!
//! A record never straddles files: when `len + 8 > remaining`, an 8-byte blank marker
//! `[remaining i32][BLANK magic]` closes the file and the record goes to the next one (§3.2).
//! The next file is normally pre-created and warmed by the pre-allocator thread, so the append
//! path does not take first-touch page faults.

use std::io;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mq_common::message::record::{self, RecordView};
use mq_common::message::{
    DecodeError, BLANK_MAGIC_CODE, MESSAGE_MAGIC_CODE_V1, MESSAGE_MAGIC_CODE_V2,
};
use parking_lot::Mutex;

use super::mapped_file::MappedFile;
use super::mapped_file_queue::MappedFileQueue;

/// Bytes always kept free at the end of a file for the blank marker.
pub const END_FILE_MIN_BLANK_LENGTH: usize = 8;

/// The commit log.
pub struct CommitLog {
    queue: MappedFileQueue,
    file_size: usize,
    /// A file created ahead of time by the pre-allocator, taken on roll if its offset matches.
    prepared: Mutex<Option<Arc<MappedFile>>>,
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
    /// A commit log over `dir` with files of `file_size` bytes (not loaded yet).
    pub fn new(dir: std::path::PathBuf, file_size: usize) -> Self {
        CommitLog {
            queue: MappedFileQueue::new(dir, file_size),
            file_size,
            prepared: Mutex::new(None),
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

    /// Declare everything up to `off` durable (after recovery).
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

    /// The file to append `len` bytes to, writing a blank marker and rolling if needed.
    /// Caller holds the put lock. Returns the file and whether a new file became active.
    fn file_for(&self, len: usize) -> io::Result<(Arc<MappedFile>, bool)> {
        let mut rolled = false;
        if let Some(last) = self.queue.last() {
            let rem = last.remaining();
            if len + END_FILE_MIN_BLANK_LENGTH <= rem {
                return Ok((last, false));
            }
            if rem > 0 {
                // Close the file with the blank marker; the rest of it is already zero.
                last.append_with(rem, |b| {
                    let n = b.len().min(8);
                    let mut m = [0u8; 8];
                    m[..4].copy_from_slice(&(rem as i32).to_be_bytes());
                    m[4..].copy_from_slice(&BLANK_MAGIC_CODE.to_be_bytes());
                    b[..n].copy_from_slice(&m[..n]);
                });
            }
            rolled = true;
        }
        let from = self.next_file_offset();
        let prepared = self.prepared.lock().take();
        let f = match prepared {
            Some(p) if p.from_offset() == from => {
                self.queue.push(p.clone());
                p
            }
            _ => {
                // Not prepared in time (or the very first file): created cold on this thread.
                rolled = true;
                self.queue.create(from)?
            }
        };
        Ok((f, rolled))
    }

    /// Append `len` bytes written by `encode(phy_offset, dst)`. Caller holds the put lock and
    /// guarantees `len + 8 <= file_size`. Returns the record's offset and whether the log rolled
    /// to a new file.
    pub fn append(
        &self,
        len: usize,
        encode: impl FnOnce(i64, &mut [u8]),
    ) -> io::Result<(i64, bool)> {
        let (f, rolled) = self.file_for(len)?;
        let phy = f.from_offset() + f.wrote_position() as i64;
        let ok = f.append_with(len, |dst| encode(phy, dst));
        if !ok {
            return Err(io::Error::other("append does not fit after roll"));
        }
        Ok((phy, rolled))
    }

    /// `len` bytes at `phy` as a zero-copy slice, if fully written and still stored.
    pub fn get_data(&self, phy: i64, len: usize) -> Option<Bytes> {
        let f = self.queue.find(phy)?;
        f.read_bytes((phy - f.from_offset()) as usize, len)
    }

    /// Everything written from `phy` to the end of its file (for replication / bulk reads).
    pub fn get_data_from(&self, phy: i64) -> Option<Bytes> {
        let f = self.queue.find(phy)?;
        let pos = (phy - f.from_offset()) as usize;
        let end = f.wrote_position();
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
        let at = pos + record::pos::store_timestamp(sys);
        let b = f.read_bytes(at, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Some(i64::from_be_bytes(a))
    }

    /// Walk records from `from` (a record boundary) over all files regardless of write
    /// positions, calling `f` for each valid record. Stops at the first invalid record (bad
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
            if pos >= file.size() {
                i += 1;
                pos = 0;
                continue;
            }
            let buf = file.slice(pos, file.size() - pos).unwrap_or(&[]);
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
                        if !matches!(e, DecodeError::BadMagic(0)) {
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

impl CommitLog {
    /// Take the pre-allocated file, if any (shutdown).
    pub fn take_prepared(&self) -> Option<Arc<MappedFile>> {
        self.prepared.lock().take()
    }
}
