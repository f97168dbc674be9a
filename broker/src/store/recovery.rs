//! Startup recovery (§4.6).
//!
//! * Normal (no `abort` file) with a clean-shutdown record in the checkpoint: trust it: set the
//!   write position, no scan (fast start regardless of log size).
//! * Normal without that record (e.g. a store written by Java): scan the last 3 files with full
//!   validation.
//! * Abnormal: scan with CRC from the newest file whose first record is older than the
//!   checkpoint's min(physic, logics, index) − 3 s, stop at the first invalid record, truncate
//!   the torn tail, and replay dispatch from that file (idempotent).
//!
//! Consume queues are then truncated to the valid log end, and dispatch is replayed from the
//! furthest point every queue is known to cover (Java's rule), or earlier for queues that lost
//! files, so derived data always catches up with the log.

use mq_common::message::RecordView;

use super::dispatch::DispatchRequest;
use super::error::{IoContext, StoreError};
use super::store::MessageStore;

impl MessageStore {
    pub(crate) fn recover(
        &self,
        abnormal: bool,
        damaged: Vec<std::sync::Arc<super::consume_queue::ConsumeQueue>>,
    ) -> Result<(), StoreError> {
        let cl = &self.commit_log;
        let files = cl.queue().files();
        let ckpt = self.checkpoint.lock().value;
        let check_crc = self.config().check_crc_on_recover;
        let mut replay_from: Option<i64> = None;
        let log_end;
        if files.is_empty() {
            log_end = 0;
        } else {
            let last = files.last().unwrap_or(&files[0]);
            // Trust the clean-shutdown end only if the last record it names is intact and ends
            // exactly there (one CRC check instead of a scan).
            let clean = ckpt.clean_shutdown_offset.filter(|&o| {
                if o < files[0].from_offset() || o > last.from_offset() + last.size() as i64 {
                    return false;
                }
                let lr = ckpt.clean_last_record_offset;
                if lr < 0 {
                    return o == files[0].from_offset() || o == 0;
                }
                cl.queue().find(lr).is_some_and(|f| {
                    let pos = (lr - f.from_offset()) as usize;
                    f.slice(pos, f.size() - pos)
                        .and_then(|b| RecordView::parse(b, true).ok())
                        .is_some_and(|v| v.physical_offset == lr && lr + v.total_size as i64 == o)
                })
            });
            match (abnormal, clean) {
                (false, Some(off)) => {
                    cl.queue()
                        .truncate_from_with(off, false)
                        .ctx(|| "set commit-log end".into())?;
                    log_end = off;
                    self.last_record_offset.store(
                        ckpt.clean_last_record_offset,
                        std::sync::atomic::Ordering::Release,
                    );
                }
                _ => {
                    let start_idx = if abnormal {
                        let min_ts = ckpt.min_timestamp(self.config().message_index_enable) - 3000;
                        files
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
                            .unwrap_or(0)
                    } else {
                        files.len().saturating_sub(3)
                    };
                    let from = files[start_idx].from_offset();
                    let mut last_rec = -1;
                    let end = cl.scan(from, check_crc, |phy, _| last_rec = phy).valid_end;
                    self.last_record_offset
                        .store(last_rec, std::sync::atomic::Ordering::Release);
                    tracing::info!(abnormal, from, end, "commit-log scan done");
                    cl.queue()
                        .truncate_from(end)
                        .ctx(|| "truncate commit log".into())?;
                    log_end = end;
                    if abnormal {
                        replay_from = Some(from);
                    }
                }
            }
        }
        // Consume queues: find their valid ends, drop units beyond the log.
        let mut cq_max_end = -1i64;
        for cq in self.all_cqs() {
            cq.recover()
                .ctx(|| format!("recover consume queue {}/{}", cq.topic(), cq.queue_id()))?;
            cq.truncate_beyond(log_end)
                .ctx(|| "truncate consume queue".into())?;
            cq_max_end = cq_max_end.max(cq.last_phy_end());
        }
        self.remove_empty_cqs();
        let cl_min = cl.min_offset();
        let mut from = replay_from.unwrap_or(if cq_max_end < 0 { cl_min } else { cq_max_end });
        for cq in &damaged {
            let e = cq.last_phy_end();
            from = from.min(if e < 0 { cl_min } else { e });
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
                return Err(StoreError::Io {
                    context: "replay dispatch".into(),
                    source: e,
                });
            }
            tracing::info!(from, to = log_end, records = n, "replayed dispatch");
        }
        for cq in self.all_cqs() {
            cq.correct_min_offset(cl_min);
        }
        cl.set_flushed_offset(log_end);
        Ok(())
    }
}
