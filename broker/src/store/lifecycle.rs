//! The [`MessageStore`]'s lifecycle: the background services (flusher, housekeeping with
//! checkpoints and retention, pre-allocator), explicit checkpoints, and shutdown.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::super::checkpoint::Round;
use super::super::cq_manifest;
use super::super::durability::Waker;
use super::super::error::{IoContext, StoreError};
use super::super::put_lock::WriteToken;
use super::super::sys;
use super::MessageStore;

impl MessageStore {
    // ------------------------------------------------------------------ checkpoints

    /// Flush consume queues and index files and record a checkpoint for `candidate`, the
    /// consistent point read under the put lock (see `checkpoint::Checkpointer`).
    fn checkpoint_round(&self, candidate: (i64, i64)) -> std::io::Result<()> {
        for cq in self.dispatch.all_cqs() {
            cq.flush()?;
        }
        self.dispatch.index().flush()?;
        self.checkpoint.record(&Round {
            candidate,
            log_flushed: self.write.log().flushed_offset(),
            physic_ts: self.flusher.flushed_store_ts.load(Ordering::Acquire),
            logics_ts: self.write.last_put_ts(),
        })
    }

    fn candidate(&self, _t: &WriteToken<'_>) -> (i64, i64) {
        (self.write.log().max_offset(), self.write.last_record_offset())
    }

    /// The housekeeping round: checkpoint (consistent point read under the put lock), then
    /// retention. Shutdown holds the put lock while it joins this thread: never block on it
    /// without watching the shutdown flag (shutdown checkpoints by itself).
    fn housekeeping_round(&self) -> bool {
        let candidate = loop {
            if let Some(t) = self.write.try_lock_for(Duration::from_millis(5)) {
                break self.candidate(&t);
            }
            if self.services.shutdown.load(Ordering::Acquire) {
                return true;
            }
        };
        if let Err(e) = self.checkpoint_round(candidate) {
            tracing::error!(%e, "consume-queue/index flush failed");
        }
        self.retention.maybe_run(&self.retention_parts());
        true
    }

    /// Flush the commit log, consume queues and index and write the checkpoint now, as the
    /// periodic housekeeping does (its consistent point then covers everything appended so far).
    pub fn checkpoint_now(&self) -> Result<(), StoreError> {
        if !self.flusher.flush_now(self.write.log(), self.write.last_put_ts()) {
            return Err(StoreError::Poisoned);
        }
        let candidate = self.candidate(&self.write.lock());
        self.checkpoint_round(candidate).ctx(|| "checkpoint".into())
    }

    // ------------------------------------------------------------------ services

    /// Start the background services: commit-log flusher, housekeeping (consume-queue/index
    /// flush, checkpoint, retention) and the next-file pre-allocator. They hold only a weak
    /// reference and stop on [`MessageStore::shutdown`] / [`MessageStore::halt`].
    pub fn start(self: &Arc<Self>) -> Result<(), StoreError> {
        if self.services.started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let spawn = |name: &str,
                     round: fn(&MessageStore) -> bool,
                     period: fn(&MessageStore) -> Duration,
                     waker: Arc<Waker>| {
            let weak: Weak<MessageStore> = Arc::downgrade(self);
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || loop {
                    let p = {
                        let Some(s) = weak.upgrade() else { return };
                        if s.services.shutdown.load(Ordering::Acquire) || !round(&s) {
                            return;
                        }
                        period(&s)
                    };
                    // Wait without holding a strong reference, so dropping the store stops us.
                    waker.wait(p);
                })
                .ctx(|| format!("spawn {name}"))
        };
        let mut threads = self.services.threads.lock();
        threads.push(spawn(
            "store-flush",
            |s| s.flusher.round(s.write.log(), s.write.last_put_ts()),
            |s| s.flusher.period(),
            self.flusher.ctl.waker.clone(),
        )?);
        threads.push(spawn(
            "store-housekeeping",
            Self::housekeeping_round,
            |s| Duration::from_millis(s.cfg.flush_interval_consume_queue.max(1)),
            self.services.housekeeping.clone(),
        )?);
        threads.push(spawn(
            "store-prealloc",
            Self::prealloc_round,
            |_| Duration::from_millis(200),
            self.write.prealloc_waker().clone(),
        )?);
        Ok(())
    }

    fn prealloc_round(&self) -> bool {
        thread_local!(static NICED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        if !NICED.with(|n| n.replace(true)) {
            sys::lower_this_thread_priority();
        }
        if let Err(e) = self.write.log().prepare_ahead(self.cfg.warm_mapped_file_enable) {
            // Once a minute at most: on a full disk this fails every round until space returns.
            thread_local!(static LAST: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) });
            let due = LAST.with(|l| {
                let due = l.get().is_none_or(|t| t.elapsed() > Duration::from_secs(60));
                if due {
                    l.set(Some(Instant::now()));
                }
                due
            });
            if due {
                tracing::warn!(%e, "pre-allocating the next commit-log file failed");
            }
        }
        true
    }

    fn stop_threads(&self) {
        self.services.shutdown.store(true, Ordering::Release);
        self.flusher.ctl.waker.wake();
        self.services.housekeeping.wake();
        self.write.prealloc_waker().wake();
        let threads: Vec<JoinHandle<()>> = self.services.threads.lock().drain(..).collect();
        for t in threads {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }

    /// Clean shutdown: stop services, flush everything, write the checkpoint with the commit-log
    /// end (fast next start) and remove `abort`. If the store is poisoned the `abort` file stays,
    /// so the next start recovers abnormally.
    pub fn shutdown(&self) -> Result<(), StoreError> {
        let t = self.write.lock();
        self.stop_threads();
        self.flusher.ctl.mark_shut_down();
        let log = self.write.log();
        if let Some(p) = log.take_prepared() {
            if p.from_offset() >= log.next_file_offset() {
                let _ = p.destroy();
            }
        }
        if self.flusher.ctl.is_poisoned() || !self.flusher.flush_now(log, self.write.last_put_ts())
        {
            return Err(StoreError::Poisoned);
        }
        let (end, last) = self.candidate(&t);
        let queues = self
            .dispatch
            .all_cqs()
            .iter()
            .map(|cq| (cq.topic().to_owned(), cq.queue_id(), cq.max_offset_in_queue()))
            .collect::<Vec<_>>();
        // We hold the put lock and nothing can be appended: (end, last) is consistent once the
        // flushes succeed.
        self.checkpoint_round((end, last)).ctx(|| "flush consume queues / index".into())?;
        cq_manifest::write(&self.root, end, queues)
            .ctx(|| "write consume-queue manifest".into())?;
        self.checkpoint.set_clean(Some((end, last))).ctx(|| "write checkpoint".into())?;
        let abort = self.root.join("abort");
        if abort.exists() {
            std::fs::remove_file(&abort).ctx(|| "remove abort".into())?;
        }
        tracing::info!(max = end, "store shut down cleanly");
        Ok(())
    }

    /// Stop background services without flushing or cleaning up, like a crash that keeps the
    /// page cache (SIGKILL). For tests; the next open recovers abnormally.
    #[doc(hidden)]
    pub fn halt(&self) {
        self.stop_threads();
        self.flusher.ctl.mark_shut_down();
    }
}
