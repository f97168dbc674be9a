//! The `checkpoint` file (§4.5): one 4 KiB page.
//!
//! Bytes 0..40 follow Java (physic/logics/index timestamps, 5.x masterFlushedOffset and
//! confirmPhyOffset). Java ignores the rest of the page, so we keep our own clean-shutdown
//! record at bytes 40..64: `commit-log end offset i64 ‖ magic i64 ‖ last record offset i64`. It is written only by a clean
//! shutdown and lets the next start skip scanning the commit log.
//!
//! Bytes 64..88 hold the *consistent point*, written by every periodic checkpoint:
//! `offset i64 ‖ magic i64 ‖ last record offset i64`. Every commit-log record below `offset` was
//! fsynced, and so were its consume-queue unit and index entries, before the page was written.
//! Recovery after a crash scans (and re-dispatches) only from there instead of from a whole file
//! chosen by timestamps; the record at `last record offset` (which must end exactly at `offset`)
//! is CRC-checked first, so a checkpoint that does not match the log is not trusted.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Size of the checkpoint file.
pub const CHECKPOINT_SIZE: usize = 4096;
const CLEAN_MAGIC: i64 = 0x524d_5153_544f_5245; // "RMQSTORE"
const CONSISTENT_MAGIC: i64 = 0x524d_5143_4f4e_5354; // "RMQCONST"
/// Bytes of the page we write (the rest stays zero).
const WRITTEN: usize = 88;

/// Checkpoint contents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// store time of the last flushed commit-log message
    pub physic_msg_timestamp: i64,
    /// store time of the last flushed consume-queue message
    pub logics_msg_timestamp: i64,
    /// store time of the last flushed index message
    pub index_msg_timestamp: i64,
    /// 5.x masterFlushedOffset (kept as read)
    pub master_flushed_offset: i64,
    /// 5.x confirmPhyOffset (kept as read)
    pub confirm_phy_offset: i64,
    /// commit-log end at clean shutdown (our extension), if recorded
    pub clean_shutdown_offset: Option<i64>,
    /// offset of the last record at clean shutdown (-1 if none), verified at the next start
    pub clean_last_record_offset: i64,
    /// Commit-log offset below which log, consume queues and index were all durable at the last
    /// checkpoint (our extension), with the offset of the record ending there (-1 if none).
    pub consistent: Option<(i64, i64)>,
}

/// The open checkpoint file.
pub struct CheckpointFile {
    file: File,
    /// Current values.
    pub value: Checkpoint,
}

fn get(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl CheckpointFile {
    /// Open or create `path`.
    pub fn open(path: &Path) -> io::Result<CheckpointFile> {
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let mut b = vec![0u8; CHECKPOINT_SIZE];
        let n = file.read(&mut b)?;
        if n < CHECKPOINT_SIZE {
            b[n..].fill(0);
        }
        let value = Checkpoint {
            physic_msg_timestamp: get(&b, 0),
            logics_msg_timestamp: get(&b, 8),
            index_msg_timestamp: get(&b, 16),
            master_flushed_offset: get(&b, 24),
            confirm_phy_offset: get(&b, 32),
            clean_shutdown_offset: (get(&b, 48) == CLEAN_MAGIC).then(|| get(&b, 40)),
            clean_last_record_offset: get(&b, 56),
            consistent: (get(&b, 72) == CONSISTENT_MAGIC).then(|| (get(&b, 64), get(&b, 80))),
        };
        if file.metadata()?.len() < CHECKPOINT_SIZE as u64 {
            file.set_len(CHECKPOINT_SIZE as u64)?;
        }
        Ok(CheckpointFile { file, value })
    }

    /// Write the page and fsync it.
    pub fn flush(&mut self) -> io::Result<()> {
        let mut b = [0u8; WRITTEN];
        let v = &self.value;
        b[0..8].copy_from_slice(&v.physic_msg_timestamp.to_be_bytes());
        b[8..16].copy_from_slice(&v.logics_msg_timestamp.to_be_bytes());
        b[16..24].copy_from_slice(&v.index_msg_timestamp.to_be_bytes());
        b[24..32].copy_from_slice(&v.master_flushed_offset.to_be_bytes());
        b[32..40].copy_from_slice(&v.confirm_phy_offset.to_be_bytes());
        if let Some(off) = v.clean_shutdown_offset {
            b[40..48].copy_from_slice(&off.to_be_bytes());
            b[48..56].copy_from_slice(&CLEAN_MAGIC.to_be_bytes());
            b[56..64].copy_from_slice(&v.clean_last_record_offset.to_be_bytes());
        }
        if let Some((off, last)) = v.consistent {
            b[64..72].copy_from_slice(&off.to_be_bytes());
            b[72..80].copy_from_slice(&CONSISTENT_MAGIC.to_be_bytes());
            b[80..88].copy_from_slice(&last.to_be_bytes());
        }
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&b)?;
        self.file.sync_data()
    }

    /// min(physic, logics[, index]) — the point up to which everything derived is durable.
    pub fn min_timestamp(&self, with_index: bool) -> i64 {
        self.value.min_timestamp(with_index)
    }
}

impl Checkpoint {
    /// min(physic, logics[, index]) — the point up to which everything derived is durable.
    pub fn min_timestamp(&self, with_index: bool) -> i64 {
        let v = self;
        let mut m = v.physic_msg_timestamp.min(v.logics_msg_timestamp);
        if with_index {
            m = m.min(v.index_msg_timestamp);
        }
        m
    }
}

/// The checkpoint file and the consistent point it is about to record.
///
/// The consistent point: `(end, last)` is read under the put lock, so every record below
/// `end` has been dispatched; the consume-queue and index flushes that follow make its units
/// and entries durable. The point is published once the commit log is also flushed past it:
/// at once, or (ASYNC flush lags) at the next round, which is why the previous candidate is
/// kept.
pub struct Checkpointer {
    file: parking_lot::Mutex<CheckpointFile>,
    pending: parking_lot::Mutex<Option<(i64, i64)>>,
}

/// What one checkpoint round records.
pub struct Round {
    /// `(log end, last record)` read under the put lock, everything below dispatched
    pub candidate: (i64, i64),
    /// commit-log offset durable now
    pub log_flushed: i64,
    /// store time of the newest record the commit-log flush covered
    pub physic_ts: i64,
    /// store time of the newest dispatched record (consume queues and index just flushed)
    pub logics_ts: i64,
}

impl Checkpointer {
    /// Over an open checkpoint file.
    pub fn new(file: CheckpointFile) -> Self {
        Checkpointer { file: parking_lot::Mutex::new(file), pending: Default::default() }
    }

    /// Record a round whose consume-queue/index flushes succeeded, and write the page.
    pub fn record(&self, r: &Round) -> io::Result<()> {
        let mut pending = self.pending.lock();
        let mut c = self.file.lock();
        if r.physic_ts > 0 {
            c.value.physic_msg_timestamp = r.physic_ts;
        }
        if r.logics_ts > 0 {
            c.value.logics_msg_timestamp = r.logics_ts;
            c.value.index_msg_timestamp = r.logics_ts;
        }
        if r.log_flushed >= r.candidate.0 {
            c.value.consistent = Some(r.candidate);
        } else if let Some(p) = pending.filter(|p| r.log_flushed >= p.0) {
            c.value.consistent = Some(p);
        }
        *pending = Some(r.candidate);
        c.flush()
    }

    /// Write the clean-shutdown record (`Some(end, last)`) or clear it (`None`, at open).
    pub fn set_clean(&self, clean: Option<(i64, i64)>) -> io::Result<()> {
        let mut c = self.file.lock();
        c.value.clean_shutdown_offset = clean.map(|x| x.0);
        if let Some((_, last)) = clean {
            c.value.clean_last_record_offset = last;
        }
        c.flush()
    }

    /// The log was cut at `end`: forget consistent points beyond it.
    pub fn truncated(&self, end: i64) -> io::Result<()> {
        *self.pending.lock() = None;
        let mut c = self.file.lock();
        if c.value.consistent.is_some_and(|p| p.0 > end) {
            c.value.consistent = None;
            c.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("checkpoint");
        let mut c = CheckpointFile::open(&p).unwrap();
        assert_eq!(c.value, Checkpoint::default());
        c.value.physic_msg_timestamp = 5;
        c.value.logics_msg_timestamp = 3;
        c.value.clean_shutdown_offset = Some(77);
        c.value.consistent = Some((70, 60));
        c.flush().unwrap();
        let c2 = CheckpointFile::open(&p).unwrap();
        assert_eq!(c2.value.physic_msg_timestamp, 5);
        assert_eq!(c2.value.clean_shutdown_offset, Some(77));
        assert_eq!(c2.value.consistent, Some((70, 60)));
        assert_eq!(c2.min_timestamp(false), 3);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 4096);
    }
}
