//! [`MessageStore`]: the facade over the store's parts (see `docs/store.md`): open and
//! recover, put, read, replicate, run the background services, shut down.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use mq_common::message::MessageExtBrokerInner;
use parking_lot::Mutex;

use super::checkpoint::{CheckpointFile, Checkpointer};
use super::clean::{self, CleanReport, Retention};
use super::commit_log::CommitLog;
use super::config::StoreConfig;
use super::dispatch::{ArrivalListener, Dispatcher};
use super::durability::{Flusher, Waker};
use super::error::{IoContext, StoreError};
use super::hooks::StoreHooks;
use super::live_config::LiveStoreConfig;
use super::mapped_file::WriteVia;
use super::put_group::PutSet;
use super::put_join::PutJoin;
use super::read::ReadSide;
use super::recovery::{self, Recover, RecoveryReport};
use super::replication::{Replica, ReplicaAppend, ReplicationError};
use super::sys;
use super::types::*;
use super::write::{PutEnv, WriteSide};

// The store's lifecycle (background services, checkpoints, shutdown): the facade's own code,
// kept in a file of its own.
#[path = "lifecycle.rs"]
mod lifecycle;

/// The background threads and their stop flag.
#[derive(Default)]
struct Services {
    threads: Mutex<Vec<JoinHandle<()>>>,
    shutdown: AtomicBool,
    started: AtomicBool,
    housekeeping: Arc<Waker>,
}

/// The message store. See the module docs of [`crate::store`].
pub struct MessageStore {
    cfg: StoreConfig,
    /// The settings UPDATE_BROKER_CONFIG changes at runtime (see `live_config.rs`).
    live: LiveStoreConfig,
    root: PathBuf,
    hooks: StoreHooks,
    write: WriteSide,
    /// puts of concurrent tasks waiting to be stored as one group (`put_join.rs`)
    pub(super) join: PutJoin,
    dispatch: Dispatcher,
    flusher: Flusher,
    checkpoint: Checkpointer,
    retention: Retention,
    replica: Replica,
    recovery: RecoveryReport,
    services: Services,
    _lock_file: File,
}

fn lock_dir(root: &Path) -> Result<File, StoreError> {
    let p = root.join("lock");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .ctx(|| format!("open {}", p.display()))?;
    if !sys::try_lock_exclusive(&f) {
        return Err(StoreError::Locked(root.to_path_buf()));
    }
    Ok(f)
}

fn validate(cfg: &StoreConfig) -> Result<(), StoreError> {
    let cl = cfg.mapped_file_size_commit_log;
    if !(4096..=i32::MAX as u64).contains(&cl) {
        return Err(StoreError::Config(format!(
            "mappedFileSizeCommitLog {cl} out of range [4096, 2^31)"
        )));
    }
    Ok(())
}

impl MessageStore {
    /// Open the store at `cfg.store_path_root_dir`: take the `lock`, load files, recover
    /// (normal if there is no `abort` file, abnormal otherwise) and create `abort`.
    /// Call [`MessageStore::start`] to run the background services.
    pub fn open(cfg: StoreConfig) -> Result<Arc<MessageStore>, StoreError> {
        Self::open_with(cfg, StoreHooks::default())
    }

    /// [`MessageStore::open`] with an injected clock / disk probe.
    pub fn open_with(cfg: StoreConfig, hooks: StoreHooks) -> Result<Arc<MessageStore>, StoreError> {
        validate(&cfg)?;
        let root = cfg.store_path_root_dir.clone();
        std::fs::create_dir_all(&root).ctx(|| format!("create {}", root.display()))?;
        let lock = lock_dir(&root)?;
        // Only the mapping mode's pre-fault pays the readahead window (pwrite never faults).
        if !cfg.commit_log_pwrite_enable && cfg.warm_mapped_file_enable {
            super::readahead::warn_if_large(&root);
        }
        let abnormal = root.join("abort").exists();
        let ckpt =
            CheckpointFile::open(&root.join("checkpoint")).ctx(|| "open checkpoint".into())?;
        let cl_dir = cfg.commit_log_dir();
        let via = if cfg.commit_log_pwrite_enable { WriteVia::Pwrite } else { WriteVia::Mapping };
        let write = WriteSide::new(CommitLog::new(
            cl_dir.clone(),
            cfg.mapped_file_size_commit_log as usize,
            via,
        ));
        let dispatch = Dispatcher::new(&cfg);
        let t0 = Instant::now();
        let recovery = {
            let t = write.lock();
            let loaded = write
                .log()
                .queue()
                .load()
                .ctx(|| format!("load commit log {}", cl_dir.display()))?;
            if let Some(first) = loaded.after_gap.first() {
                return Err(StoreError::Config(format!(
                    "the commit log has a hole before {}: a file is missing; the files after \
                     it are not used (nothing was changed); restore the missing file or move \
                     the later ones away",
                    first.display()
                )));
            }
            let damaged = dispatch.load(&t)?;
            let (check_crc, index_enable) = (cfg.check_crc_on_recover, cfg.message_index_enable);
            let r = Recover {
                t: &t,
                write: &write,
                dispatch: &dispatch,
                root: &root,
                ckpt: ckpt.value,
                check_crc,
                index_enable,
                abnormal,
                damaged,
            };
            recovery::recover(r)?
        };
        let log = write.log();
        tracing::info!(
            abnormal,
            elapsed_ms = t0.elapsed().as_millis() as u64,
            min = log.min_offset(),
            max = log.max_offset(),
            "store recovered"
        );
        let flusher = Flusher::new(&cfg);
        flusher.ctl.publish(log.max_offset());
        let checkpoint = Checkpointer::new(ckpt);
        checkpoint.set_clean(None).ctx(|| "write checkpoint".into())?;
        let abort = root.join("abort");
        File::create(&abort)
            .and_then(|f| f.sync_all())
            .ctx(|| format!("create {}", abort.display()))?;
        Ok(Arc::new(MessageStore {
            live: LiveStoreConfig::new(&cfg),
            root,
            hooks,
            write,
            join: PutJoin::default(),
            dispatch,
            flusher,
            checkpoint,
            retention: Retention::default(),
            replica: Replica::default(),
            recovery,
            services: Services::default(),
            _lock_file: lock,
            cfg,
        }))
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// Root directory.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    /// What recovery did when this store was opened.
    pub fn recovery_report(&self) -> RecoveryReport {
        self.recovery
    }

    /// The live settings (see `live_config.rs`).
    pub fn live_config(&self) -> &LiveStoreConfig {
        &self.live
    }

    /// Apply a key declared `live` in [`StoreConfig`]'s key table now. `Ok(false)`: not a live
    /// store key (nothing changed); `Err`: invalid value, naming the key.
    pub fn update_live(&self, key: &str, value: &str) -> Result<bool, String> {
        self.live.update(&self.cfg, key, value)
    }

    /// Register the arrival listener (long polling).
    pub fn set_arrival_listener(&self, l: ArrivalListener) {
        self.dispatch.set_arrival_listener(l);
    }

    // ------------------------------------------------------------------ put path

    fn refuse_reason(&self) -> Option<PutMessageResult> {
        let (status, remark) = if self.flusher.ctl.is_poisoned() {
            (PutMessageStatus::Poisoned, "store poisoned: an fsync failed, refusing writes")
        } else if self.services.shutdown.load(Ordering::Acquire) {
            (PutMessageStatus::ServiceNotAvailable, "store shut down")
        } else if self.retention.disk_full(self.write.log(), &self.hooks) {
            (PutMessageStatus::DiskFull, "disk usage above 90%")
        } else {
            return None;
        };
        Some(PutMessageResult::failed(status, remark))
    }

    /// Why a put is refused: a store fed by replication (a SLAVE, Java's
    /// SERVICE_NOT_AVAILABLE), or any reason a write is refused.
    fn refuse_put(&self) -> Option<PutMessageResult> {
        if self.replica.is_follower() {
            let r = PutMessageResult::failed(
                PutMessageStatus::ServiceNotAvailable,
                "messages are put to the slave",
            );
            return Some(r);
        }
        self.refuse_reason()
    }

    fn env(&self) -> PutEnv<'_> {
        PutEnv {
            dispatch: &self.dispatch,
            flusher: &self.flusher,
            clock: &*self.hooks.clock,
            max_body: self.live.max_message_size(),
        }
    }

    /// Append one message: encoded straight into the mapped commit log, its consume-queue unit
    /// and index entries written, readable on return. The returned [`Put`] carries the result
    /// and the durability ticket the caller must await or forward before acknowledging.
    pub fn put_message(&self, msg: MessageExtBrokerInner) -> Put {
        if let Some(r) = self.refuse_put() {
            self.write.stats.failed.fetch_add(1, Ordering::Relaxed);
            return Put::failed(r);
        }
        self.write.put(&self.env(), msg)
    }

    /// Append a batch (SEND_BATCH): one topic and queue, plain and undelayed messages, all in
    /// one file with consecutive queue offsets; the result carries every offsetMsgId.
    pub fn put_messages(&self, msgs: Vec<MessageExtBrokerInner>) -> Put {
        if let Some(r) = self.refuse_put() {
            self.write.stats.failed.fetch_add(1, Ordering::Relaxed);
            return Put::failed(r);
        }
        self.write.put_batch(&self.env(), msgs)
    }

    /// Append several puts under one put-lock hold, with one commit-log write per file they
    /// land in (one `pwrite` in pwrite mode): a connection's pipelined sends. Returns one
    /// [`Put`] per set, in order; each is stored or refused on its own, as
    /// [`MessageStore::put_message`] / [`MessageStore::put_messages`] would, and consecutive
    /// messages of one queue get consecutive queue offsets.
    pub fn put_group(&self, sets: Vec<PutSet>) -> Vec<Put> {
        if let Some(r) = self.refuse_put() {
            self.write.stats.failed.fetch_add(sets.len() as u64, Ordering::Relaxed);
            return sets.iter().map(|_| Put::failed(r.clone())).collect();
        }
        self.write.put_group(&self.env(), sets)
    }

    /// Store `set` together with the puts other tasks make at the same moment: one put group
    /// for all of them (group commit, see `put_join.rs`). The answer is what
    /// [`MessageStore::put_group`] gives this set. For front ends that run each request in a
    /// task of its own (gRPC).
    pub async fn put_joined(self: &Arc<Self>, set: PutSet) -> Put {
        self.join.put(self, set).await
    }

    // ------------------------------------------------------------------ read path

    fn reader(&self) -> ReadSide<'_> {
        ReadSide {
            log: self.write.log(),
            dispatch: &self.dispatch,
            confirmed: self.replica.confirmed(),
        }
    }

    /// Read up to `max_msg_nums` messages / `max_total_bytes` bytes from (topic, queue) starting
    /// at logical `offset`, filtering on tagsCode and then on the record ([`ReadFilter`]);
    /// §2.4 statuses. See `read.rs`.
    #[allow(clippy::too_many_arguments)]
    pub fn get_message(
        &self,
        _group: &str,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msg_nums: usize,
        max_total_bytes: usize,
        filter: Option<&dyn ReadFilter>,
    ) -> GetMessageResult {
        self.reader().get_message(topic, queue_id, offset, (max_msg_nums, max_total_bytes), filter)
    }

    /// Max logical offset (next offset to be written) of a queue; 0 if unknown.
    pub fn get_max_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.dispatch.find_cq(topic, queue_id).map(|c| c.max_offset_in_queue()).unwrap_or(0)
    }

    /// Min logical offset of a queue; 0 if unknown.
    pub fn get_min_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.dispatch.find_cq(topic, queue_id).map(|c| c.min_offset_in_queue()).unwrap_or(0)
    }

    /// Store timestamp of the message at logical `offset`, if present.
    pub fn get_message_store_timestamp(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Option<i64> {
        self.reader().store_timestamp(&*self.dispatch.find_cq(topic, queue_id)?, offset)
    }

    /// Store time of the oldest record in the commit log (Java's `earliestMessageTimeStamp`).
    pub fn get_earliest_message_time_any(&self) -> Option<i64> {
        let log = self.write.log();
        log.store_timestamp_at(log.min_offset())
    }

    /// Store time of the oldest message still in the queue.
    pub fn get_earliest_message_time(&self, topic: &str, queue_id: i32) -> Option<i64> {
        self.reader().earliest_time(topic, queue_id)
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP (see `ReadSide::offset_by_time`).
    pub fn get_offset_in_queue_by_time(&self, topic: &str, queue_id: i32, ts: i64) -> i64 {
        self.reader().offset_by_time(topic, queue_id, ts)
    }

    /// One raw record by commit-log offset (VIEW_MESSAGE_BY_ID).
    pub fn look_message_by_offset(&self, phy_offset: i64) -> Option<Bytes> {
        self.reader().record_at(phy_offset)
    }

    /// Query by key (or UNIQ_KEY) within `[begin_ts, end_ts]` through the index files.
    pub fn query_message(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin_ts: i64,
        end_ts: i64,
    ) -> QueryMessageResult {
        self.reader().query(topic, key, max, (begin_ts, end_ts))
    }

    /// Per-queue min/max offsets and last update time (GET_TOPIC_STATS_INFO).
    pub fn queue_stats(&self, topic: &str) -> Vec<QueueStats> {
        self.reader().queue_stats(topic)
    }

    /// `(topic, queue ids)` of every consume queue.
    pub fn topic_queue_table(&self) -> HashMap<String, Vec<i32>> {
        self.dispatch.topic_queue_table()
    }

    /// Commit-log min offset.
    pub fn get_min_phy_offset(&self) -> i64 {
        self.write.log().min_offset()
    }

    /// Commit-log max offset (on a replica, past the bytes of a record that has only partly
    /// arrived: the end the master streams to).
    pub fn get_max_phy_offset(&self) -> i64 {
        self.replica.end_past(self.write.log().max_offset())
    }

    /// Remove the consume queues of `topics` (DELETE_TOPIC_IN_BROKER). Commit-log data stays
    /// until retention.
    pub fn delete_topics(&self, topics: &[&str]) {
        let t = self.write.lock();
        self.dispatch.delete_topics(&t, topics);
    }

    // ------------------------------------------------------------------ replication

    /// Up to `max` commit-log bytes from `offset`, never crossing a file (an HA frame's body);
    /// empty at the end of the log, `None` if `offset` is not stored.
    pub fn read_raw(&self, offset: i64, max: usize) -> Option<Bytes> {
        self.replica.overlay_pending(offset, max, self.write.log().read_raw(offset, max))
    }

    /// Append replicated bytes at exactly `offset` (see `replication.rs`).
    pub fn append_replicated(
        &self,
        offset: i64,
        data: &[u8],
    ) -> Result<ReplicaAppend, ReplicationError> {
        if let Some(r) = self.refuse_reason() {
            return Err(ReplicationError::Io(std::io::Error::other(r.remark)));
        }
        self.replica.append(&self.write, &self.dispatch, offset, data)
    }

    /// Cut the commit log, consume queues and index back to `offset`, a record boundary.
    pub fn truncate_to(&self, offset: i64) -> Result<(), ReplicationError> {
        let t = self.write.lock();
        self.replica.truncate(&t, &self.write, &self.dispatch, &self.flusher, offset)?;
        self.checkpoint.truncated(offset)?;
        Ok(())
    }

    /// A replica about to take puts (controller mode): cut the bytes of a record that has
    /// only partly arrived; returns the log's end.
    pub fn cut_partial_record(&self) -> Result<i64, ReplicationError> {
        let from = self.replica.pending_from();
        if from >= 0 {
            self.truncate_to(from)?;
        }
        Ok(self.get_max_phy_offset())
    }

    /// The largest record boundary (where a record, a file or a file's blank tail starts) at
    /// or below `offset`, within the log: where a diverged slave may be cut back to
    /// ([`MessageStore::truncate_to`] refuses anything else).
    pub fn record_boundary_at_or_below(&self, offset: i64) -> i64 {
        let log = self.write.log();
        let offset = offset.clamp(log.min_offset(), log.max_offset());
        if offset == log.max_offset() {
            return offset;
        }
        let file_start = (offset - offset % log.file_size() as i64).max(log.min_offset());
        let mut best = file_start;
        log.scan(file_start, false, |phy, _| {
            if phy <= offset {
                best = best.max(phy);
            }
        });
        best
    }

    /// Feed this store by replication only (a SLAVE: every put is refused with
    /// SERVICE_NOT_AVAILABLE), or by puts again (`false`, a promoted slave).
    pub fn set_follower(&self, on: bool) {
        self.replica.set_follower(on);
    }

    /// Whether puts are refused (a SLAVE, or a fenced controller-mode master).
    pub fn is_follower(&self) -> bool {
        self.replica.is_follower()
    }

    /// The offset consumers' reads are limited to (`i64::MAX`: unlimited).
    pub fn confirmed_offset(&self) -> i64 {
        self.replica.confirmed()
    }

    /// Limit consumers' reads to records ending at or below `offset` (what the replicas hold);
    /// `i64::MAX` lifts the limit.
    pub fn set_confirmed_offset(&self, offset: i64) {
        self.replica.set_confirmed(offset);
    }

    // ------------------------------------------------------------------ status and hooks

    /// Figures for GET_BROKER_RUNTIME_INFO.
    pub fn runtime_info(&self) -> StoreRuntimeInfo {
        let s = &self.write.stats;
        StoreRuntimeInfo {
            commit_log_min_offset: self.get_min_phy_offset(),
            commit_log_max_offset: self.get_max_phy_offset(),
            commit_log_flushed_offset: self.flusher.ctl.flushed(),
            dispatch_behind_bytes: 0,
            commit_log_disk_ratio: (self.hooks.disk_usage)(&self.cfg.commit_log_dir()),
            put_message_times_total: s.total.load(Ordering::Relaxed),
            put_message_size_total: s.bytes.load(Ordering::Relaxed),
            put_message_failed_times: s.failed.load(Ordering::Relaxed),
            put_message_max_latency_us: s.max_latency_us.load(Ordering::Relaxed),
            poisoned: self.flusher.ctl.is_poisoned(),
            consume_queue_count: self.dispatch.all_cqs().len(),
            index_file_count: self.dispatch.index().files().len(),
        }
    }

    /// Whether an fsync failure poisoned the store.
    pub fn is_poisoned(&self) -> bool {
        self.flusher.ctl.is_poisoned()
    }

    /// Test hook: make the next commit-log flush fail as if fsync returned EIO.
    #[doc(hidden)]
    pub fn inject_flush_failure(&self) {
        self.flusher.inject_failure();
    }

    /// Test hook: hold (`true`) or resume the flusher thread, to observe that answers wait for
    /// durability.
    #[doc(hidden)]
    pub fn pause_flush(&self, paused: bool) {
        self.flusher.pause(paused);
    }

    /// Ask the next retention runs to delete expired files now (TRIGGER_DELETE_FILES).
    pub fn trigger_delete_files(&self) {
        self.retention.trigger();
        self.services.housekeeping.wake();
    }

    fn retention_parts(&self) -> clean::Parts<'_> {
        clean::Parts {
            log: self.write.log(),
            dispatch: &self.dispatch,
            live: &self.live,
            hooks: &self.hooks,
            interval_ms: self.cfg.clean_resource_interval,
        }
    }

    /// Run retention once, now (the housekeeping thread does every `cleanResourceInterval`).
    pub fn clean_expired_files(&self) -> CleanReport {
        self.retention.run(&self.retention_parts())
    }
}
