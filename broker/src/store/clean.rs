//! Retention (§4.7): delete expired commit-log files at `deleteWhen` hours, when disk usage
//! exceeds `diskMaxUsedSpaceRatio`, or on a manual trigger; never the active file. Then delete
//! consume-queue and index files wholly below the new commit-log minimum. Also decides when the
//! disk is too full to accept writes (`DISK_FULL_RATIO`).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use super::commit_log::CommitLog;
use super::dispatch::Dispatcher;
use super::hooks::StoreHooks;
use super::live_config::LiveStoreConfig;

/// What one retention run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanReport {
    /// whether the deletion conditions held
    pub triggered: bool,
    /// disk usage seen
    pub disk_ratio: f64,
    /// commit-log files deleted
    pub commit_log_files: usize,
    /// consume-queue files deleted
    pub consume_queue_files: usize,
    /// index files deleted
    pub index_files: usize,
}

/// Above this usage, expired or not, files go (when `cleanFileForciblyEnable`).
const FORCE_RATIO: f64 = 0.85;
/// Above this usage writes are refused.
const DISK_FULL_RATIO: f64 = 0.90;
/// Max commit-log files deleted per run.
const MAX_DELETE_PER_RUN: usize = 10;

/// Retention state.
#[derive(Default)]
pub struct Retention {
    /// Runs left that delete expired files regardless of the hour (TRIGGER_DELETE_FILES).
    manual: AtomicI32,
    /// Disk usage above `DISK_FULL_RATIO` at the last look: writes are refused.
    disk_full: AtomicBool,
    /// When refusing, the usage is looked at again at most once a second (ms since the epoch
    /// of the last look), so writes resume soon after space returns, not a clean run later.
    last_full_check: std::sync::atomic::AtomicI64,
    last_run: Mutex<Option<Instant>>,
}

/// What a retention run works on.
pub struct Parts<'a> {
    /// the commit log
    pub log: &'a CommitLog,
    /// consume queues and index
    pub dispatch: &'a Dispatcher,
    /// `fileReservedTime`, `deleteWhen`, ... as they are now
    pub live: &'a LiveStoreConfig,
    /// clock and disk probe
    pub hooks: &'a StoreHooks,
    /// `cleanResourceInterval`, ms
    pub interval_ms: u64,
}

impl Retention {
    /// Ask the next retention runs to delete expired files now (TRIGGER_DELETE_FILES).
    pub fn trigger(&self) {
        self.manual.store(20, Ordering::Release);
    }

    /// Whether writes are refused for lack of disk space. Cheap while there is space (one
    /// atomic load); while full, re-measures at most once a second.
    pub fn disk_full(&self, log: &CommitLog, hooks: &StoreHooks) -> bool {
        if !self.disk_full.load(Ordering::Acquire) {
            return false;
        }
        let now = hooks.clock.now_ms();
        let last = self.last_full_check.load(Ordering::Acquire);
        if now - last >= 1000
            && self
                .last_full_check
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let ratio = (hooks.disk_usage)(log.queue().dir());
            self.note_usage(ratio);
        }
        self.disk_full.load(Ordering::Acquire)
    }

    fn note_usage(&self, ratio: f64) {
        let full = ratio > DISK_FULL_RATIO;
        if self.disk_full.swap(full, Ordering::AcqRel) != full {
            tracing::warn!(ratio, full, "disk usage crossed the write limit (90%)");
        }
    }

    /// Run if `cleanResourceInterval` passed since the last run, or a manual trigger is due.
    pub fn maybe_run(&self, p: &Parts<'_>) {
        let due = {
            let mut last = self.last_run.lock();
            let due = last.is_none_or(|t| t.elapsed().as_millis() as u64 >= p.interval_ms);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due || self.manual.load(Ordering::Acquire) > 0 {
            let r = self.run(p);
            if r.commit_log_files + r.consume_queue_files + r.index_files > 0 {
                tracing::info!(?r, "retention run");
            }
        }
    }

    /// Run retention once, now.
    pub fn run(&self, p: &Parts<'_>) -> CleanReport {
        let now = p.hooks.clock.now_ms();
        let hour = p.hooks.clock.local_hour();
        let ratio = (p.hooks.disk_usage)(p.log.queue().dir());
        self.note_usage(ratio);
        // Read per run: UPDATE_BROKER_CONFIG may change these (live_config.rs).
        let live = p.live;
        let time_ok = live
            .delete_when()
            .split(';')
            .filter_map(|h| h.trim().parse::<u32>().ok())
            .any(|h| h == hour);
        let space_full = ratio > live.disk_max_used_space_ratio() as f64 / 100.0;
        let manual = self
            .manual
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| (v > 0).then(|| v - 1))
            .is_ok();
        let mut r = CleanReport {
            triggered: time_ok || space_full || manual,
            disk_ratio: ratio,
            ..Default::default()
        };
        if r.triggered {
            let force = live.clean_file_forcibly_enable() && ratio > FORCE_RATIO;
            let reserved_ms = live.file_reserved_time() as i64 * 3_600_000;
            r.commit_log_files = p.log.queue().delete_leading(MAX_DELETE_PER_RUN, |f| {
                force || f.last_modified_ms() + reserved_ms <= now
            });
        }
        let min = p.log.min_offset();
        for cq in p.dispatch.all_cqs() {
            r.consume_queue_files += cq.delete_expired(min);
        }
        r.index_files = p.dispatch.index().delete_expired(min);
        r
    }
}
