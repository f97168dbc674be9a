//! Startup recovery (§4.6): a free function over the store's parts, run once by `open` under
//! the put lock, before any reader or background thread exists.
//!
//! * Normal (no `abort` file) with a clean-shutdown record in the checkpoint: trust it: set the
//!   write position, no scan (fast start regardless of log size).
//! * Normal without that record (e.g. a store written by Java): scan the last 3 files with full
//!   validation.
//! * Abnormal (the `abort` file exists: kill -9, power loss) with a valid *consistent point* in
//!   the checkpoint (see [`super::checkpoint`]): everything below it was durable in the log, the
//!   consume queues and the index, so the CRC scan, the torn-tail truncation and the dispatch
//!   replay start there: the work is bounded by what was written since the last checkpoint (about
//!   one `flushIntervalConsumeQueue`), not by the size of the log.
//! * Abnormal otherwise (no consistent point, e.g. a store written by Java, a damaged or stale
//!   checkpoint): RocketMQ's rule: scan with CRC from the newest file whose first record is
//!   older than the checkpoint's min(physic, logics, index) − 3 s (the first file when the
//!   timestamps are missing), truncate the torn tail, and replay dispatch from that file.
//!
//! Consume queues are then truncated to the valid log end, and dispatch is replayed from the
//! furthest point every queue is known to cover (Java's rule), or earlier for queues that lost
//! files (a hole, or fewer units than the clean-shutdown manifest recorded), so derived data
//! always catches up with the log. Replay is idempotent.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use mq_common::message::RecordView;

use super::checkpoint::Checkpoint;
use super::commit_log::CommitLog;
use super::consume_queue::ConsumeQueue;
use super::cq_manifest;
use super::dispatch::{DispatchRequest, Dispatcher};
use super::error::{IoContext, StoreError};
use super::put_lock::WriteToken;
use super::write::WriteSide;

/// Where the commit-log scan of the last start began, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Not recovered yet.
    #[default]
    None,
    /// Clean shutdown record verified: no scan.
    Clean,
    /// Normal start without a clean record: last 3 files scanned.
    LastFiles,
    /// Abnormal start from the checkpoint's consistent point.
    FromCheckpoint,
    /// Abnormal start from a file chosen by store timestamps (no usable consistent point).
    FromTimestamp,
}

/// What the last recovery did (tests and startup logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// the `abort` file was present
    pub abnormal: bool,
    /// how the scan start was chosen
    pub mode: RecoveryMode,
    /// commit-log offset the CRC scan started at (None: no scan)
    pub scan_from: Option<i64>,
    /// bytes of commit log the scan walked over (valid records only)
    pub scanned_bytes: u64,
    /// valid end of the commit log after recovery
    pub log_end: i64,
    /// commit-log offset dispatch was replayed from (None: nothing replayed)
    pub replay_from: Option<i64>,
    /// records re-dispatched
    pub replayed_records: u64,
    /// consume queues found short of the clean-shutdown manifest (rebuilt from the log)
    pub short_queues: usize,
}

/// The store's parts recovery works on.
pub struct Recover<'a> {
    /// the put lock, held
    pub t: &'a WriteToken<'a>,
    /// commit log and last-record bookkeeping
    pub write: &'a WriteSide,
    /// consume queues and index
    pub dispatch: &'a Dispatcher,
    /// the store root (consume-queue manifest)
    pub root: &'a Path,
    /// the checkpoint as read at open
    pub ckpt: Checkpoint,
    /// `checkCRCOnRecover`
    pub check_crc: bool,
    /// `messageIndexEnable` (whether the index timestamp counts)
    pub index_enable: bool,
    /// the `abort` file was present
    pub abnormal: bool,
    /// queues that lost files (holes) at load
    pub damaged: Vec<Arc<ConsumeQueue>>,
}

/// Whether the record at `last` is intact (CRC) and ends exactly at `end`. `last < 0` means
/// "no record": then `end` must be the start of the log.
fn record_ends_at(log: &CommitLog, last: i64, end: i64) -> bool {
    if last < 0 {
        return end == log.min_offset() || end == 0;
    }
    log.queue().find(last).is_some_and(|f| {
        let pos = (last - f.from_offset()) as usize;
        f.written(pos, f.wrote_position().saturating_sub(pos))
            .and_then(|b| RecordView::parse(b, true).ok())
            .is_some_and(|v| v.physical_offset == last && last + v.total_size as i64 == end)
    })
}

/// Whether `off` lies within the files of the log (a point beyond them, or below the first
/// file because retention deleted it, is useless).
fn in_log(log: &CommitLog, off: i64) -> bool {
    let q = log.queue();
    match (q.first(), q.last()) {
        (Some(first), Some(last)) => {
            off >= first.from_offset() && off <= last.from_offset() + last.size() as i64
        }
        _ => false,
    }
}

/// Recover the store; see the module docs.
pub fn recover(r: Recover<'_>) -> Result<RecoveryReport, StoreError> {
    let t0 = Instant::now();
    let mut report = RecoveryReport { abnormal: r.abnormal, ..Default::default() };
    let replay_from = recover_log(&r, &mut report)?;
    let (cq_max_end, short_missing, damaged) = recover_queues(&r, &mut report)?;
    let log = r.write.log();
    let cl_min = log.min_offset();
    let mut from = replay_from.unwrap_or(if cq_max_end < 0 { cl_min } else { cq_max_end });
    for cq in &damaged {
        let e = cq.last_phy_end();
        from = from.min(if e < 0 { cl_min } else { e });
    }
    if short_missing {
        from = cl_min;
    }
    let from = from.clamp(cl_min, report.log_end);
    r.dispatch.index().forget_beyond(r.t, report.log_end).ctx(|| "index".into())?;
    if from < report.log_end {
        report.replayed_records = replay(&r, from)?;
        report.replay_from = Some(from);
    }
    for cq in r.dispatch.all_cqs() {
        cq.correct_min_offset(cl_min);
    }
    log.set_flushed_offset(report.log_end);
    tracing::info!(?report, elapsed_ms = t0.elapsed().as_millis() as u64, "recovery report");
    Ok(report)
}

/// Find the valid end of the commit log and cut the rest. Returns where dispatch must be
/// replayed from after an abnormal stop.
fn recover_log(r: &Recover<'_>, report: &mut RecoveryReport) -> Result<Option<i64>, StoreError> {
    let log = r.write.log();
    let ckpt = &r.ckpt;
    if log.queue().is_empty() {
        return Ok(None);
    }
    let clean = ckpt
        .clean_shutdown_offset
        .filter(|&o| in_log(log, o) && record_ends_at(log, ckpt.clean_last_record_offset, o));
    // `abort` present although the checkpoint holds a clean-shutdown record: the markers
    // contradict each other (a crash between writing the checkpoint and removing `abort`, or
    // files copied around by hand). Trust neither the clean record nor the consistent point.
    let contradictory = r.abnormal && ckpt.clean_shutdown_offset.is_some();
    if let (false, Some(off)) = (r.abnormal, clean) {
        log.queue().truncate_from(r.t, off, false).ctx(|| "set commit-log end".into())?;
        r.write.note_last_record(r.t, ckpt.clean_last_record_offset, 0);
        report.mode = RecoveryMode::Clean;
        report.log_end = off;
        return Ok(None);
    }
    let point = ckpt.consistent.filter(|&(off, last)| {
        r.abnormal && !contradictory && in_log(log, off) && record_ends_at(log, last, off)
    });
    let (from, mode, mut last_rec) = match point {
        Some((p, last)) => (p, RecoveryMode::FromCheckpoint, last),
        None if r.abnormal => (timestamp_start(r), RecoveryMode::FromTimestamp, -1),
        None => {
            let files = log.queue().files();
            (files[files.len().saturating_sub(3)].from_offset(), RecoveryMode::LastFiles, -1)
        }
    };
    let mut scanned = 0u64;
    let end = log
        .scan(from, r.check_crc, |phy, v| {
            last_rec = phy;
            scanned += v.total_size as u64;
        })
        .valid_end;
    r.write.note_last_record(r.t, last_rec, 0);
    tracing::info!(abnormal = r.abnormal, ?mode, from, end, "commit-log scan done");
    log.queue().truncate_from(r.t, end, true).ctx(|| "truncate commit log".into())?;
    report.mode = mode;
    report.scan_from = Some(from);
    report.scanned_bytes = scanned;
    report.log_end = end;
    Ok(r.abnormal.then_some(from))
}

/// RocketMQ's abnormal-recovery start: the newest file whose first record is older than the
/// checkpoint's min(physic, logics, index) − 3 s; the first file without usable timestamps.
fn timestamp_start(r: &Recover<'_>) -> i64 {
    let min_ts = r.ckpt.min_timestamp(r.index_enable) - 3000;
    let files = r.write.log().queue().files();
    files
        .iter()
        .rev()
        .find(|f| {
            f.written(0, f.wrote_position())
                .and_then(|b| RecordView::parse(b, false).ok())
                .is_some_and(|v| v.store_timestamp != 0 && v.store_timestamp <= min_ts)
        })
        .unwrap_or(&files[0])
        .from_offset()
}

/// Find each consume queue's valid end and drop units beyond the log. Returns the furthest
/// queue end, whether a queue of the clean-shutdown manifest is missing, and the queues that
/// must be rebuilt from earlier (holes, or short of the manifest).
#[allow(clippy::type_complexity)]
fn recover_queues(
    r: &Recover<'_>,
    report: &mut RecoveryReport,
) -> Result<(i64, bool, Vec<Arc<ConsumeQueue>>), StoreError> {
    let mut cq_max_end = -1i64;
    for cq in r.dispatch.all_cqs() {
        let what = || format!("recover consume queue {}/{}", cq.topic(), cq.queue_id());
        cq.recover(r.t).ctx(what)?;
        cq.truncate_beyond(r.t, report.log_end).ctx(what)?;
        cq_max_end = cq_max_end.max(cq.last_phy_end());
    }
    // After a verified clean shutdown, every queue must be as long as the manifest written
    // then says; a shorter one lost files (e.g. its last file was deleted), which neither a
    // hole nor the max-end rule above reveals.
    let mut damaged = r.damaged.clone();
    let mut short_missing = false;
    if report.mode == RecoveryMode::Clean {
        for (topic, qid, len) in cq_manifest::read(r.root, report.log_end) {
            match r.dispatch.find_cq(&topic, qid) {
                Some(cq) if cq.max_offset_in_queue() >= len => {}
                Some(cq) => {
                    tracing::warn!(%topic, qid, have = cq.max_offset_in_queue(), want = len, "consume queue shorter than at shutdown: rebuilding its tail");
                    report.short_queues += 1;
                    damaged.push(cq);
                }
                None => {
                    tracing::warn!(%topic, qid, want = len, "consume queue missing since shutdown: rebuilding it");
                    report.short_queues += 1;
                    short_missing = true;
                }
            }
        }
    }
    cq_manifest::remove(r.root);
    r.dispatch.remove_empty_cqs();
    Ok((cq_max_end, short_missing, damaged))
}

/// Re-dispatch every record from `from` to the end of the log. Returns how many.
fn replay(r: &Recover<'_>, from: i64) -> Result<u64, StoreError> {
    let mut err = None;
    let mut n = 0u64;
    let end = r.write.log().scan(from, false, |phy, v| {
        if err.is_none() {
            match r.dispatch.dispatch(r.t, &DispatchRequest::from_view(phy, v), None) {
                // A record whose queue offset cannot be its queue's (a damaged field outside
                // the CRC): its bytes stay in the log, it gets no consume-queue unit.
                Err(e) if super::consume_queue::FarQueueOffset::is(&e) => {
                    tracing::error!(phy, error = %e, "record not dispatched on recovery");
                }
                Err(e) => err = Some(e),
                Ok(_) => {}
            }
            n += 1;
        }
    });
    if let Some(e) = err {
        return Err(StoreError::Io { context: "replay dispatch".into(), source: e });
    }
    tracing::info!(from, to = end.valid_end, records = n, "replayed dispatch");
    Ok(n)
}
