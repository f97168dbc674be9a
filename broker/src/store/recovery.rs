//! Startup recovery (§4.6).
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

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use mq_common::message::RecordView;

use super::checkpoint::Checkpoint;
use super::consume_queue::ConsumeQueue;
use super::cq_manifest;
use super::dispatch::DispatchRequest;
use super::error::{IoContext, StoreError};
use super::store::MessageStore;

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

impl MessageStore {
    /// Whether the record at `last` is intact (CRC) and ends exactly at `end`. `last < 0` means
    /// "no record": then `end` must be the start of the log.
    fn record_ends_at(&self, last: i64, end: i64) -> bool {
        let q = self.commit_log.queue();
        if last < 0 {
            return end == q.min_offset() || end == 0;
        }
        q.find(last).is_some_and(|f| {
            let pos = (last - f.from_offset()) as usize;
            pos < f.size()
                && f.slice(pos, f.size() - pos)
                    .and_then(|b| RecordView::parse(b, true).ok())
                    .is_some_and(|v| v.physical_offset == last && last + v.total_size as i64 == end)
        })
    }

    /// Commit-log end to trust after a clean shutdown, if the checkpoint's record matches.
    fn verified_clean_end(&self, ckpt: &Checkpoint) -> Option<i64> {
        let files = self.commit_log.queue().files();
        let (first, last) = (files.first()?, files.last()?);
        ckpt.clean_shutdown_offset.filter(|&o| {
            o >= first.from_offset()
                && o <= last.from_offset() + last.size() as i64
                && self.record_ends_at(ckpt.clean_last_record_offset, o)
        })
    }

    /// The checkpoint's consistent point, if it lies inside the log and the record before it is
    /// intact and ends there. A point below the first file (retention deleted it) is useless:
    /// the records from the first file on were written after it, so it is not used either.
    fn verified_consistent_point(&self, ckpt: &Checkpoint) -> Option<i64> {
        let (off, last) = ckpt.consistent?;
        let files = self.commit_log.queue().files();
        let (first, end_file) = (files.first()?, files.last()?);
        let in_log =
            off >= first.from_offset() && off <= end_file.from_offset() + end_file.size() as i64;
        (in_log && self.record_ends_at(last, off)).then_some(off)
    }

    pub(crate) fn recover(
        &self,
        abnormal: bool,
        mut damaged: Vec<Arc<ConsumeQueue>>,
    ) -> Result<(), StoreError> {
        let t0 = Instant::now();
        let cl = &self.commit_log;
        let files = cl.queue().files();
        let ckpt = self.checkpoint.lock().value;
        let check_crc = self.config().check_crc_on_recover;
        let mut report = RecoveryReport { abnormal, ..Default::default() };
        let mut replay_from: Option<i64> = None;
        let clean = self.verified_clean_end(&ckpt);
        // `abort` present although the checkpoint holds a clean-shutdown record: the markers
        // contradict each other (a crash between writing the checkpoint and removing `abort`, or
        // files copied around by hand). Trust neither the clean record nor the consistent point.
        let contradictory = abnormal && ckpt.clean_shutdown_offset.is_some();
        let log_end = if files.is_empty() {
            0
        } else if let (false, Some(off)) = (abnormal, clean) {
            cl.queue().truncate_from_with(off, false).ctx(|| "set commit-log end".into())?;
            self.last_record_offset.store(ckpt.clean_last_record_offset, Ordering::Release);
            report.mode = RecoveryMode::Clean;
            off
        } else {
            let point = (abnormal && !contradictory)
                .then(|| self.verified_consistent_point(&ckpt))
                .flatten();
            let (from, mode) = match point {
                Some(p) => (p, RecoveryMode::FromCheckpoint),
                None if abnormal => {
                    let min_ts = ckpt.min_timestamp(self.config().message_index_enable) - 3000;
                    let idx = files
                        .iter()
                        .enumerate()
                        .rev()
                        .find(|(_, f)| {
                            f.slice(0, f.size())
                                .and_then(|b| RecordView::parse(b, false).ok())
                                .is_some_and(|v| {
                                    v.store_timestamp != 0 && v.store_timestamp <= min_ts
                                })
                        })
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    (files[idx].from_offset(), RecoveryMode::FromTimestamp)
                }
                None => {
                    (files[files.len().saturating_sub(3)].from_offset(), RecoveryMode::LastFiles)
                }
            };
            // Starting mid-log, the record before `from` is the last one known good.
            let mut last_rec = match mode {
                RecoveryMode::FromCheckpoint => ckpt.consistent.map(|c| c.1).unwrap_or(-1),
                _ => -1,
            };
            let mut scanned = 0u64;
            let end = cl
                .scan(from, check_crc, |phy, v| {
                    last_rec = phy;
                    scanned += v.total_size as u64;
                })
                .valid_end;
            self.last_record_offset.store(last_rec, Ordering::Release);
            tracing::info!(abnormal, ?mode, from, end, "commit-log scan done");
            cl.queue().truncate_from(end).ctx(|| "truncate commit log".into())?;
            report.mode = mode;
            report.scan_from = Some(from);
            report.scanned_bytes = scanned;
            if abnormal {
                replay_from = Some(from);
            }
            end
        };
        report.log_end = log_end;
        // Consume queues: find their valid ends, drop units beyond the log.
        let mut cq_max_end = -1i64;
        for cq in self.all_cqs() {
            cq.recover()
                .ctx(|| format!("recover consume queue {}/{}", cq.topic(), cq.queue_id()))?;
            cq.truncate_beyond(log_end).ctx(|| "truncate consume queue".into())?;
            cq_max_end = cq_max_end.max(cq.last_phy_end());
        }
        // After a verified clean shutdown, every queue must be as long as the manifest written
        // then says; a shorter one lost files (e.g. its last file was deleted), which neither a
        // hole nor the max-end rule above reveals.
        let mut short_missing = false;
        if report.mode == RecoveryMode::Clean {
            for (topic, qid, len) in cq_manifest::read(self.root_dir(), log_end) {
                match self.find_cq(&topic, qid) {
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
        cq_manifest::remove(self.root_dir());
        self.remove_empty_cqs();
        let cl_min = cl.min_offset();
        let mut from = replay_from.unwrap_or(if cq_max_end < 0 { cl_min } else { cq_max_end });
        for cq in &damaged {
            let e = cq.last_phy_end();
            from = from.min(if e < 0 { cl_min } else { e });
        }
        if short_missing {
            from = cl_min;
        }
        let from = from.clamp(cl_min, log_end);
        self.index_service().forget_beyond(log_end);
        if from < log_end {
            let mut err = None;
            let mut n = 0u64;
            cl.scan(from, false, |phy, v| {
                if err.is_none() {
                    if let Err(e) = self.dispatch(&DispatchRequest::from_view(phy, v)) {
                        err = Some(e);
                    }
                    n += 1;
                }
            });
            if let Some(e) = err {
                return Err(StoreError::Io { context: "replay dispatch".into(), source: e });
            }
            tracing::info!(from, to = log_end, records = n, "replayed dispatch");
            report.replay_from = Some(from);
            report.replayed_records = n;
        }
        for cq in self.all_cqs() {
            cq.correct_min_offset(cl_min);
        }
        cl.set_flushed_offset(log_end);
        tracing::info!(?report, elapsed_ms = t0.elapsed().as_millis() as u64, "recovery report");
        *self.recovery_report.lock() = report;
        Ok(())
    }
}
