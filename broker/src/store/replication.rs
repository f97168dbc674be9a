//! The replication surface (the classic HA protocol, spec §7): what a
//! master reads to send, what a slave appends, how a diverged log is cut back, and the
//! confirmed offset consumers can be limited to.
//!
//! * **Raw reads** ([`MessageStore::read_raw`](super::MessageStore::read_raw)): up to `max`
//!   commit-log bytes from any stored offset, never crossing a file (an HA frame's body). A
//!   full file's tail (blank marker and zeros) is read like any bytes, so a slave's files come
//!   out byte-identical.
//! * **Raw appends** ([`Replica::append`]): bytes at exactly the end of the log (or, into an
//!   empty log, at a file boundary: a fresh slave starts at the master's last file). They are
//!   staged past the published end, checked record by record (layout, PHYSICALOFFSET, body
//!   CRC; a record may arrive split over frames and is checked once complete), and only then
//!   published and dispatched to consume queues and the index, exactly as a put would. Bad
//!   bytes are wiped and refused: nothing invalid is ever published.
//! * **A record that has only partly arrived** is held in memory ([`Pending`]), never left in
//!   the mapped file: after a crash, recovery scans the file, and a torn record whose missing
//!   tail reads as the file's zeros can pass its checks (the body CRC does not cover the
//!   properties that follow the body; found by the `ha_stream` fuzz target). The log's end
//!   as a slave reports it ([`MessageStore::get_max_phy_offset`](super::MessageStore::get_max_phy_offset))
//!   includes the held bytes, and raw reads see them, so the protocol is unchanged; the file's
//!   write position stops at the last complete record. Between the staging of a frame and
//!   its check (microseconds, under the write lock) a crash can still leave unchecked bytes
//!   in the file.
//! * **Truncation** ([`Replica::truncate`]): cut the log, the consume queues and the index back
//!   to a record boundary (a slave that is ahead of a new master). Readers holding the bytes
//!   being cut keep their copies (see `mapped_file.rs`).
//! * **Confirmed offset** ([`Replica::set_confirmed`]): the end of what the replicas hold;
//!   consumers' reads stop there (`ReadSide::get_message`). Unlimited unless set.
//!
//! A store is either appended to by puts or by replication at a time (the broker's role
//! decides); mixing both while a split record is pending would corrupt the log.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use bytes::{Bytes, BytesMut};
use mq_common::message::{sysflag, DecodeError, RecordView};

use super::commit_log::CommitLog;
use super::consume_queue::{ConsumeQueue, CQ_UNIT};
use super::dispatch::{DispatchRequest, Dispatcher, RecordProps};
use super::durability::Flusher;
use super::put_lock::WriteToken;
use super::write::WriteSide;

/// Why replicated bytes were refused, or a truncation was not done.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// The bytes do not start at the end of the log (the master and this log disagree).
    #[error("bytes at {got} do not continue the log, which ends at {expected}")]
    OffsetMismatch {
        /// the log's end
        expected: i64,
        /// where the bytes claim to start
        got: i64,
    },
    /// The bytes would run past the end of the file they start in.
    #[error("{len} bytes at {offset} cross a commit-log file boundary")]
    CrossesFile {
        /// start
        offset: i64,
        /// length
        len: usize,
    },
    /// A record failed its layout or CRC check (nothing was published).
    #[error("invalid record at {at}: {reason}")]
    Corrupt {
        /// commit-log offset of the bad record
        at: i64,
        /// what is wrong
        reason: String,
    },
    /// Not a record boundary of this log (truncation).
    #[error("{0} is not a record boundary of the log")]
    NotABoundary(i64),
    /// I/O (a full disk included): nothing was published.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaAppend {
    /// the log's end after it (what a slave reports)
    pub end: i64,
    /// complete records published and dispatched
    pub records: usize,
}

/// The bytes of a record that has only partly arrived (see the module docs).
struct Pending {
    /// commit-log offset of the record's first byte (the file's write position)
    from: i64,
    /// what has arrived of it
    bytes: Vec<u8>,
}

impl Pending {
    /// The log's end as the master sees it: past the held bytes.
    fn end(&self) -> i64 {
        self.from + self.bytes.len() as i64
    }

    /// Whether `more` bytes still leave the record (or a blank tail) incomplete, by its
    /// TOTALSIZE; `false` when that is unknown or not plausible (the full check decides).
    fn still_incomplete_with(&self, more: usize, file_end: i64) -> bool {
        let Some(size) = self.bytes.get(..4) else { return false };
        let size = i32::from_be_bytes(size.try_into().expect("4 bytes")) as i64;
        let have = (self.bytes.len() + more) as i64;
        size > have && self.from + size <= file_end
    }
}

/// Replication state of a store.
pub struct Replica {
    /// A record that arrived only in part (taken after the write token).
    pending: parking_lot::Mutex<Option<Pending>>,
    /// [`Pending::end`] of `pending`, -1 without one: read without the lock by
    /// [`Replica::end_past`] (the log's end, asked on every report).
    pending_end: AtomicI64,
    /// Reads are limited to records ending at or below this.
    confirmed: AtomicI64,
    /// Fed by replication (a SLAVE): puts are refused.
    follower: AtomicBool,
}

impl Default for Replica {
    fn default() -> Self {
        Replica {
            pending: parking_lot::Mutex::new(None),
            pending_end: AtomicI64::new(-1),
            confirmed: AtomicI64::new(i64::MAX),
            follower: AtomicBool::new(false),
        }
    }
}

/// A complete record found in staged bytes.
struct Found {
    at: i64,
    size: usize,
    /// (topic, queue, queue offset) for a record that gets a consume-queue unit
    queue: Option<(String, i32, i64)>,
    keys: usize,
}

impl Replica {
    /// The confirmed offset (`i64::MAX`: unlimited).
    pub fn confirmed(&self) -> i64 {
        self.confirmed.load(Ordering::Acquire)
    }

    /// Limit reads to records ending at or below `offset` (`i64::MAX` lifts the limit).
    pub fn set_confirmed(&self, offset: i64) {
        self.confirmed.store(offset, Ordering::Release);
    }

    /// Whether the store is fed by replication (puts refused).
    pub fn is_follower(&self) -> bool {
        self.follower.load(Ordering::Acquire)
    }

    /// Feed the store by replication (a SLAVE: puts are refused) or by puts.
    pub fn set_follower(&self, on: bool) {
        self.follower.store(on, Ordering::Release);
    }

    /// Where a record that has only partly arrived starts (-1: none).
    pub fn pending_from(&self) -> i64 {
        self.pending.lock().as_ref().map_or(-1, |p| p.from)
    }

    /// The log's end given the file's (`log_end`): past a partly arrived record's bytes.
    pub fn end_past(&self, log_end: i64) -> i64 {
        log_end.max(self.pending_end.load(Ordering::Acquire))
    }

    /// `raw` (what the file holds from `offset`, up to `max` bytes) continued with the held
    /// bytes of a partly arrived record when they follow it, so raw reads see the log as the
    /// master sent it (a slave compares a resent tail with them).
    pub fn overlay_pending(&self, offset: i64, max: usize, raw: Option<Bytes>) -> Option<Bytes> {
        if self.pending_end.load(Ordering::Acquire) < 0 {
            return raw;
        }
        let guard = self.pending.lock();
        let Some(p) = guard.as_ref() else { return raw };
        let have = raw.as_ref().map_or(0, Bytes::len);
        let start = offset.saturating_add(have as i64);
        if have == 0 && start == p.end() {
            return Some(Bytes::new()); // the end of the log, as at any log's end
        }
        if have >= max || start < p.from || start >= p.end() || (have > 0 && start != p.from) {
            return raw;
        }
        let held = &p.bytes[(start - p.from) as usize..];
        let held = &held[..held.len().min(max - have)];
        let mut out = BytesMut::with_capacity(have + held.len());
        out.extend_from_slice(raw.as_deref().unwrap_or_default());
        out.extend_from_slice(held);
        Some(out.freeze())
    }

    /// Forget a partly arrived record (its bytes are not in the file).
    fn drop_pending(&self, pending: &mut Option<Pending>) {
        *pending = None;
        self.pending_end.store(-1, Ordering::Release);
    }

    /// Append replicated bytes `data` at `offset`; see the module docs.
    pub fn append(
        &self,
        w: &WriteSide,
        d: &Dispatcher,
        offset: i64,
        data: &[u8],
    ) -> Result<ReplicaAppend, ReplicationError> {
        let t = w.lock();
        if !self.is_follower() {
            // The broker took the master role (controller mode): puts own the log now.
            return Err(ReplicationError::Io(std::io::Error::other(
                "not a replica any more: replicated bytes refused",
            )));
        }
        let log = w.log();
        let mut pending = self.pending.lock();
        let end = pending.as_ref().map_or_else(|| log.max_offset(), Pending::end);
        if !log.queue().is_empty() && offset != end {
            return Err(ReplicationError::OffsetMismatch { expected: end, got: offset });
        }
        if data.is_empty() {
            return Ok(ReplicaAppend { end, records: 0 });
        }
        // Negative, or so high that the file would end past i64::MAX: no log holds these.
        if offset < 0 || offset.checked_add(log.file_size() as i64).is_none() {
            return Err(ReplicationError::OffsetMismatch { expected: end, got: offset });
        }
        let new_end = offset + data.len() as i64;
        if let Some(p) = pending.as_mut() {
            let file_end = p.from - p.from % log.file_size() as i64 + log.file_size() as i64;
            if p.still_incomplete_with(data.len(), file_end) {
                // Still short of its TOTALSIZE: nothing to check yet, nothing for the file.
                p.bytes.extend_from_slice(data);
                self.pending_end.store(new_end, Ordering::Release);
                return Ok(ReplicaAppend { end: new_end, records: 0 });
            }
        }
        let first_file = log.queue().is_empty();
        let file = log.file_at_end(offset)?;
        // A refused append into an empty log removes the file it created: left there, the
        // log would start (empty) wherever a bad frame said, and the slave would report that
        // offset as its end (found by the `ha_stream` fuzz target).
        let refuse = |e: ReplicationError| match first_file {
            true => log.queue().truncate_from(&t, i64::MIN, false).map_or_else(Into::into, |_| e),
            false => e,
        };
        let base = file.from_offset();
        let start = pending.as_ref().map_or(offset, |p| p.from);
        let (spos, pos) = ((start - base) as usize, (offset - base) as usize);
        if start < base || pos + data.len() > file.size() {
            return Err(refuse(ReplicationError::CrossesFile { offset, len: data.len() }));
        }
        let staged = match pending.as_ref() {
            Some(p) => file.stage(&t, spos, &p.bytes),
            None => Ok(()),
        };
        if let Err(e) = staged.and_then(|_| file.stage(&t, pos, data)) {
            // The held bytes may be in the file already (a full disk refused the rest): they
            // must not stay there for a recovery scan to find.
            wipe(&t, &file, spos, pos - spos)?;
            return Err(refuse(e.into()));
        }
        let checked = check_staged(&t, &file, start, new_end)
            .and_then(|(found, next)| reserve(&t, d, &found).map(|_| (found, next)));
        let (found, next) = match checked {
            Ok(v) => v,
            Err(e) => {
                // Wipe the staged bytes: a later scan must not see them. The held bytes stay
                // held (the next connection resends from the end they make).
                wipe(&t, &file, spos, pos + data.len() - spos)?;
                return Err(refuse(e));
            }
        };
        // Hold an incomplete last record in memory and take it out of the file.
        let held = match next {
            Some(at) => {
                let rel = (at - base) as usize;
                let bytes = file.unpublished(&t, rel, (new_end - at) as usize).unwrap_or(&[]);
                let held = Pending { from: at, bytes: bytes.to_vec() };
                wipe(&t, &file, rel, held.bytes.len())?;
                Some(held)
            }
            None => None,
        };
        // The end only ever grows: a new pending end before the write position moves, the
        // write position before a pending end is withdrawn.
        if held.is_some() {
            self.pending_end.store(new_end, Ordering::Release);
        }
        file.set_wrote_position(&t, (next.unwrap_or(new_end) - base) as usize);
        match held {
            Some(h) => *pending = Some(h),
            None => self.drop_pending(&mut pending),
        }
        drop(pending);
        let mut arrivals = Vec::new();
        for f in &found {
            let rel = (f.at - base) as usize;
            let Some(Ok(v)) = file.written(rel, f.size).map(|b| RecordView::parse(b, false)) else {
                continue;
            };
            arrivals.extend(d.dispatch(&t, &DispatchRequest::from_view(f.at, &v), None)?);
            w.note_last_record(&t, f.at, v.store_timestamp);
        }
        drop(t);
        d.notify(&arrivals);
        Ok(ReplicaAppend { end: new_end, records: found.len() })
    }

    /// Cut the log, consume queues and index back to `offset` (a record boundary within the
    /// log); see the module docs. The caller (the store) also forgets checkpoint points above.
    pub fn truncate(
        &self,
        t: &WriteToken<'_>,
        w: &WriteSide,
        d: &Dispatcher,
        flusher: &Flusher,
        offset: i64,
    ) -> Result<(), ReplicationError> {
        let log = w.log();
        // A partly arrived record is not in the file: cutting anywhere drops it (the master
        // sends it again from the end this leaves).
        self.drop_pending(&mut self.pending.lock());
        if offset == log.max_offset() {
            return Ok(());
        }
        if !is_record_boundary(log, offset) {
            return Err(ReplicationError::NotABoundary(offset));
        }
        log.queue().truncate_from(t, offset, true)?;
        log.set_flushed_offset(log.flushed_offset().min(offset));
        flusher.ctl.truncated(offset);
        d.truncate_beyond(t, offset)?;
        let file_start = offset - offset % log.file_size() as i64;
        let mut last = (-1i64, 0i64);
        log.scan(file_start.max(log.min_offset()), false, |phy, v| last = (phy, v.store_timestamp));
        w.note_last_record(t, last.0, last.1);
        // A limit in force comes down to the new end; "unlimited" (i64::MAX) must stay
        // unlimited: lowering it here capped every later read at the cut point for good (a
        // truncated replica, once promoted, served nothing it stored after the cut).
        let _ = self.confirmed.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
            (c != i64::MAX).then_some(c.min(offset))
        });
        tracing::warn!(offset, "commit log, consume queues and index truncated (replication)");
        Ok(())
    }
}

/// Whether `offset` is where a record (or a file, or a file's blank tail) starts, within the
/// log.
fn is_record_boundary(log: &CommitLog, offset: i64) -> bool {
    if offset < log.min_offset() || offset > log.max_offset() {
        return false;
    }
    if offset % log.file_size() as i64 == 0 {
        return true;
    }
    let Some(f) = log.queue().find(offset) else { return false };
    let pos = (offset - f.from_offset()) as usize;
    match f
        .written(pos, f.wrote_position().saturating_sub(pos))
        .map(|b| RecordView::parse(b, false))
    {
        Some(Ok(v)) => v.physical_offset == offset,
        Some(Err(DecodeError::Blank { size })) => size as usize == f.size() - pos,
        _ => false,
    }
}

/// Walk the records of `[start, end)` of `file` (published and staged bytes): every complete
/// one must be valid. Returns them, and where a record that is not complete yet starts.
fn check_staged(
    t: &WriteToken<'_>,
    file: &super::mapped_file::MappedFile,
    start: i64,
    end: i64,
) -> Result<(Vec<Found>, Option<i64>), ReplicationError> {
    let base = file.from_offset();
    let file_end = base + file.size() as i64;
    let mut found = Vec::new();
    let mut at = start;
    while at < end {
        let rel = (at - base) as usize;
        let buf = file.unpublished(t, rel, (end - at) as usize).unwrap_or(&[]);
        match RecordView::parse(buf, true) {
            Ok(v)
                if v.physical_offset == at
                    && sysflag::is_dispatchable(v.sys_flag)
                    && !safe_dir_name(v.topic) =>
            {
                let reason = format!("topic {:?} cannot name a consume-queue directory", v.topic);
                return Err(ReplicationError::Corrupt { at, reason });
            }
            Ok(v) if v.physical_offset == at => {
                let queue = sysflag::is_dispatchable(v.sys_flag)
                    .then(|| (v.topic.to_string(), v.queue_id, v.queue_offset));
                let keys = RecordProps::parse(v.properties).index_keys();
                found.push(Found { at, size: v.total_size as usize, queue, keys });
                at += v.total_size as i64;
            }
            Ok(v) => {
                let reason = format!("PHYSICALOFFSET says {}", v.physical_offset);
                return Err(ReplicationError::Corrupt { at, reason });
            }
            // The file's blank tail: complete once the bytes reach the end of the file.
            Err(DecodeError::Blank { size }) if at + size as i64 == file_end => {
                if end < file_end {
                    return Ok((found, Some(at)));
                }
                at = file_end;
            }
            Err(DecodeError::Truncated { .. }) => return Ok((found, Some(at))),
            Err(e) => return Err(ReplicationError::Corrupt { at, reason: e.to_string() }),
        }
    }
    Ok((found, None))
}

/// Whether a replicated record's topic can name its consume queue's directory
/// (`consumequeue/<topic>/<queue>`): never a path (a hostile master's topic `/x` or `..`
/// would create files anywhere; found by the `ha_stream` fuzz target). Deliberately not
/// RocketMQ's full topic pattern: a slave stores whatever its master accepted.
fn safe_dir_name(topic: &str) -> bool {
    !topic.is_empty() && topic != "." && topic != ".." && !topic.contains(['/', '\\', '\0'])
}

/// The queue offset of a replicated record must continue its queue: a consume queue fills a
/// gap before a unit with blank units, so a far-off offset (QUEUEOFFSET is not covered by the
/// body CRC; a hostile or corrupt master) would write blanks until the disk is full, and a
/// negative or huge one would overflow (found by the `ha_stream` fuzz target). An empty
/// queue may start anywhere (a slave starts at the master's last file); a queue that has
/// units takes at most `earlier` more (this frame's records before this one may all be its)
/// plus one file's worth, the most that starting a queue fills.
fn check_queue_offset(cq: &ConsumeQueue, qo: i64, earlier: usize) -> Result<(), String> {
    let units = (cq.files().file_size() / CQ_UNIT) as i64;
    let max = cq.max_offset_in_queue();
    let empty = cq.files().is_empty();
    if qo < 0
        || qo > i64::MAX / CQ_UNIT as i64 - units
        || (!empty && qo > max + earlier as i64 + units)
    {
        return Err(format!(
            "queue offset {qo} of {}:{} does not continue the queue (ends at {max})",
            cq.topic(),
            cq.queue_id()
        ));
    }
    Ok(())
}

/// Zero `len` staged bytes of `file` at `pos` (past its write position).
fn wipe(
    t: &WriteToken<'_>,
    file: &super::mapped_file::MappedFile,
    pos: usize,
    len: usize,
) -> std::io::Result<()> {
    const ZEROS: [u8; 4096] = [0; 4096];
    let mut at = pos;
    while at < pos + len {
        let n = (pos + len - at).min(ZEROS.len());
        file.stage(t, at, &ZEROS[..n])?;
        at += n;
    }
    Ok(())
}

/// Reserve the disk blocks the records' dispatch needs (a full disk refuses the append).
fn reserve(t: &WriteToken<'_>, d: &Dispatcher, found: &[Found]) -> Result<(), ReplicationError> {
    for (i, f) in found.iter().enumerate() {
        // A slave is not latency-critical: queues are looked up and prepared under the lock.
        let cq = f.queue.as_ref().map(|(topic, qid, qo)| (d.find_or_create_cq(topic, *qid), *qo));
        if let Some((c, qo)) = &cq {
            check_queue_offset(c, *qo, i)
                .map_err(|reason| ReplicationError::Corrupt { at: f.at, reason })?;
        }
        let at = cq.as_ref().map(|(c, qo)| (&**c, *qo));
        d.reserve(t, at, usize::from(cq.is_some()), f.keys)?;
    }
    Ok(())
}
