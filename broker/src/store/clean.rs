//! Retention (§4.7): delete expired commit-log files at `deleteWhen` hours, when disk usage
//! exceeds `diskMaxUsedSpaceRatio`, or on a manual trigger; never the active file. Then delete
//! consume-queue and index files wholly below the new commit-log minimum.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::store::MessageStore;

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

impl MessageStore {
    /// Ask the next retention runs to delete expired files now (TRIGGER_DELETE_FILES).
    pub fn trigger_delete_files(&self) {
        self.manual_delete.store(20, Ordering::Release);
        self.housekeeping_waker.wake();
    }

    pub(crate) fn maybe_clean(&self) {
        thread_local!(static LAST: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) });
        let due = LAST.with(|l| {
            let due = l.get().is_none_or(|t| {
                t.elapsed().as_millis() as u64 >= self.config().clean_resource_interval
            });
            if due {
                l.set(Some(Instant::now()));
            }
            due
        });
        if due || self.manual_delete.load(Ordering::Acquire) > 0 {
            let r = self.clean_expired_files();
            if r.commit_log_files + r.consume_queue_files + r.index_files > 0 {
                tracing::info!(?r, "retention run");
            }
        }
    }

    /// Run retention once, now (also called by the housekeeping thread every
    /// `cleanResourceInterval`).
    pub fn clean_expired_files(&self) -> CleanReport {
        let cfg = self.config();
        let now = self.hooks.clock.now_ms();
        let hour = self.hooks.clock.local_hour();
        let ratio = (self.hooks.disk_usage)(&cfg.commit_log_dir());
        self.disk_full.store(ratio > DISK_FULL_RATIO, Ordering::Release);
        // Read per run: UPDATE_BROKER_CONFIG may change these (live_config.rs).
        let live = &self.live;
        let time_ok = live
            .delete_when()
            .split(';')
            .filter_map(|h| h.trim().parse::<u32>().ok())
            .any(|h| h == hour);
        let space_full = ratio > live.disk_max_used_space_ratio() as f64 / 100.0;
        let manual = self
            .manual_delete
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
            r.commit_log_files = self.commit_log.queue().delete_leading(MAX_DELETE_PER_RUN, |f| {
                force || f.last_modified_ms() + reserved_ms <= now
            });
        }
        let min = self.commit_log.min_offset();
        for cq in self.all_cqs() {
            r.consume_queue_files += cq.delete_expired(min);
        }
        r.index_files = self.index_service().delete_expired(min);
        r
    }
}
