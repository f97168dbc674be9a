//! [`MessageStore`]: open/recover, put path, read path, background services, shutdown.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mq_common::message::property::{DELAY, REAL_QID, REAL_TOPIC, WAIT};
use mq_common::message::sysflag::{self, TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE};
use mq_common::message::{crc32_masked, encode_offset_msg_id, encode_record_into, EncodeError};
use mq_common::message::{MessageExtBrokerInner, RecordView};
use mq_common::protocol::body::system_topics::SCHEDULE_TOPIC;
use parking_lot::{Mutex, RwLock};

use super::checkpoint::CheckpointFile;
use super::commit_log::{CommitLog, END_FILE_MIN_BLANK_LENGTH};
use super::config::{FlushDiskType, StoreConfig};
use super::consume_queue::{ConsumeQueue, CQ_UNIT};
use super::dispatch::{Arrival, DispatchRequest};
use super::error::{IoContext, StoreError};
use super::flush::{DurabilityError, FlushControl, Waker};
use super::index::IndexService;
use super::mapped_file::MappedFile;
use super::types::*;

/// Called after a message's consume-queue unit is written:
/// `(topic, queue_id, logical offset, tagsCode)`. Runs on the putting thread, outside the put
/// lock; keep it cheap (e.g. wake a long-poll `Notify`).
pub type ArrivalListener = Arc<dyn Fn(&str, i32, i64, i64) + Send + Sync>;

/// Source of time for store timestamps and retention (injectable for tests).
pub trait StoreClock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Current local hour (0..24), for `deleteWhen`.
    fn local_hour(&self) -> u32;
}

/// The system clock.
pub struct SystemClock;

impl StoreClock for SystemClock {
    fn now_ms(&self) -> i64 {
        mq_common::protocol::now_millis()
    }
    fn local_hour(&self) -> u32 {
        use chrono::Timelike;
        chrono::Local::now().hour()
    }
}

/// Used fraction (0..1) of the filesystem holding `path`, via statvfs.
pub fn disk_usage_ratio(path: &Path) -> f64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0.0;
    };
    // SAFETY: statvfs writes into the zeroed struct; c is a valid NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 || s.f_blocks == 0 {
        return 0.0;
    }
    (s.f_blocks - s.f_bfree) as f64 / s.f_blocks as f64
}

/// Total and available bytes of the file system holding `path` (Java's
/// `commitLogDirCapacity`), or `None` if it cannot be read.
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct; c is a valid NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let frsize = s.f_frsize as u64;
    Some((s.f_blocks as u64 * frsize, s.f_bavail as u64 * frsize))
}

/// Injectable environment: clock and disk-usage probe.
#[derive(Clone)]
pub struct StoreHooks {
    /// clock
    pub clock: Arc<dyn StoreClock>,
    /// disk usage ratio of a path (0..1)
    pub disk_usage: Arc<dyn Fn(&Path) -> f64 + Send + Sync>,
}

impl Default for StoreHooks {
    fn default() -> Self {
        StoreHooks { clock: Arc::new(SystemClock), disk_usage: Arc::new(disk_usage_ratio) }
    }
}

#[derive(Default)]
struct Stats {
    put_total: AtomicU64,
    put_bytes: AtomicU64,
    put_failed: AtomicU64,
    max_latency_us: AtomicU64,
}

/// FNV-1a: the consume-queue table is looked up on every put with short topic keys; SipHash's
/// DoS resistance buys nothing here (topics are validated by the broker) and costs ~5% of a put.
#[derive(Default, Clone, Copy)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvBuild = std::hash::BuildHasherDefault<Fnv>;
type CqTable = HashMap<String, HashMap<i32, Arc<ConsumeQueue>, FnvBuild>, FnvBuild>;

/// The message store. See the module docs of [`crate::store`].
pub struct MessageStore {
    cfg: StoreConfig,
    /// The settings UPDATE_BROKER_CONFIG changes at runtime (see `live_config.rs`).
    pub(crate) live: super::live_config::LiveStoreConfig,
    root: PathBuf,
    pub(crate) hooks: StoreHooks,
    pub(crate) commit_log: CommitLog,
    cq_root: PathBuf,
    cqs: RwLock<CqTable>,
    index: IndexService,
    pub(crate) checkpoint: Mutex<CheckpointFile>,
    /// The single-appender lock: commit-log append + consume-queue + index dispatch happen
    /// under it, so units are written in commit-log order and queue offsets are consecutive.
    put_lock: Mutex<()>,
    pub(crate) flush: FlushControl,
    shutdown: AtomicBool,
    started: AtomicBool,
    listener: RwLock<Option<ArrivalListener>>,
    stats: Stats,
    /// Store time of the newest appended record (checkpoint physic timestamp source).
    pub(crate) last_put_ts: AtomicI64,
    /// Offset of the newest record (recorded at clean shutdown, verified at the next start).
    pub(crate) last_record_offset: AtomicI64,
    /// Candidate consistent point `(log end, last record)` captured by the previous checkpoint
    /// round, whose consume-queue/index data that round already flushed; it becomes the
    /// checkpoint's consistent point once the commit log is flushed past it.
    pending_consistent: Mutex<Option<(i64, i64)>>,
    /// What the recovery at open did.
    pub(crate) recovery_report: Mutex<super::recovery::RecoveryReport>,
    delay_levels: Vec<i64>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) housekeeping_waker: Arc<Waker>,
    prealloc_waker: Arc<Waker>,
    pub(crate) manual_delete: AtomicI32,
    pub(crate) disk_full: AtomicBool,
    pub(crate) inject_flush_failure: AtomicBool,
    _lock_file: File,
}

fn lock_dir(root: &Path) -> Result<File, StoreError> {
    use std::os::unix::io::AsRawFd;
    let p = root.join("lock");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .ctx(|| format!("open {}", p.display()))?;
    // SAFETY: flock on a valid fd.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(StoreError::Locked(root.to_path_buf()));
    }
    Ok(f)
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
        if cfg.mapped_file_size_commit_log < 4096
            || cfg.mapped_file_size_commit_log > i32::MAX as u64
        {
            return Err(StoreError::Config(format!(
                "mappedFileSizeCommitLog {} out of range [4096, 2^31)",
                cfg.mapped_file_size_commit_log
            )));
        }
        let root = cfg.store_path_root_dir.clone();
        std::fs::create_dir_all(&root).ctx(|| format!("create {}", root.display()))?;
        let lock = lock_dir(&root)?;
        super::readahead::warn_if_large(&root);
        let abnormal = root.join("abort").exists();
        let checkpoint =
            CheckpointFile::open(&root.join("checkpoint")).ctx(|| "open checkpoint".into())?;
        let cl_dir = cfg.commit_log_dir();
        let commit_log = CommitLog::new(cl_dir.clone(), cfg.mapped_file_size_commit_log as usize);
        let report =
            commit_log.queue().load().ctx(|| format!("load commit log {}", cl_dir.display()))?;
        if !report.dropped_after_gap.is_empty() {
            tracing::error!(files = ?report.dropped_after_gap, "commit log has a hole; files after it were renamed *.orphan");
        }
        let index = IndexService::new(root.join("index"), cfg.max_hash_slot_num, cfg.max_index_num);
        if cfg.message_index_enable {
            index.load().ctx(|| "load index files".into())?;
        }
        let delay_levels = cfg.delay_levels_ms();
        let store = MessageStore {
            cq_root: root.join("consumequeue"),
            root: root.clone(),
            hooks,
            commit_log,
            cqs: RwLock::new(HashMap::default()),
            index,
            checkpoint: Mutex::new(checkpoint),
            put_lock: Mutex::new(()),
            flush: FlushControl::new(0),
            shutdown: AtomicBool::new(false),
            started: AtomicBool::new(false),
            listener: RwLock::new(None),
            stats: Stats::default(),
            last_put_ts: AtomicI64::new(0),
            last_record_offset: AtomicI64::new(-1),
            pending_consistent: Mutex::new(None),
            recovery_report: Mutex::default(),
            delay_levels,
            threads: Mutex::new(Vec::new()),
            housekeeping_waker: Arc::default(),
            prealloc_waker: Arc::default(),
            manual_delete: AtomicI32::new(0),
            disk_full: AtomicBool::new(false),
            inject_flush_failure: AtomicBool::new(false),
            _lock_file: lock,
            live: super::live_config::LiveStoreConfig::new(&cfg),
            cfg,
        };
        let damaged = store.load_consume_queues()?;
        let t0 = Instant::now();
        store.recover(abnormal, damaged)?;
        tracing::info!(
            abnormal,
            elapsed_ms = t0.elapsed().as_millis() as u64,
            min = store.commit_log.min_offset(),
            max = store.commit_log.max_offset(),
            "store recovered"
        );
        store.flush.publish(store.commit_log.max_offset());
        {
            let mut c = store.checkpoint.lock();
            c.value.clean_shutdown_offset = None;
            c.flush().ctx(|| "write checkpoint".into())?;
        }
        let abort = store.root.join("abort");
        File::create(&abort)
            .and_then(|f| f.sync_all())
            .ctx(|| format!("create {}", abort.display()))?;
        Ok(Arc::new(store))
    }

    /// Load every `consumequeue/<topic>/<queueId>/`; returns queues that lost files (a hole).
    fn load_consume_queues(&self) -> Result<Vec<Arc<ConsumeQueue>>, StoreError> {
        let mut damaged = Vec::new();
        let Ok(topics) = std::fs::read_dir(&self.cq_root) else {
            return Ok(damaged);
        };
        let mut table = self.cqs.write();
        for t in topics.flatten() {
            let Some(topic) = t.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(queues) = std::fs::read_dir(t.path()) else {
                continue;
            };
            for q in queues.flatten() {
                let Some(qid) = q.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                let cq = Arc::new(ConsumeQueue::new(
                    &self.cq_root,
                    &topic,
                    qid,
                    self.cfg.cq_file_size() as usize,
                ));
                let rep = cq.load().ctx(|| format!("load consume queue {topic}/{qid}"))?;
                if !rep.dropped_after_gap.is_empty() {
                    damaged.push(cq.clone());
                }
                table.entry(topic.clone()).or_default().insert(qid, cq);
            }
        }
        Ok(damaged)
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// Root directory.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    pub(crate) fn delay_levels(&self) -> &[i64] {
        &self.delay_levels
    }

    pub(crate) fn index_service(&self) -> &IndexService {
        &self.index
    }

    /// All consume queues.
    pub(crate) fn all_cqs(&self) -> Vec<Arc<ConsumeQueue>> {
        self.cqs.read().values().flat_map(|m| m.values().cloned()).collect()
    }

    pub(crate) fn remove_empty_cqs(&self) {
        let mut t = self.cqs.write();
        for m in t.values_mut() {
            m.retain(|_, cq| !cq.files().is_empty());
        }
        t.retain(|_, m| !m.is_empty());
    }

    /// The consume queue of (topic, queue), if any.
    pub fn find_cq(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.cqs.read().get(topic)?.get(&queue_id).cloned()
    }

    pub(crate) fn find_or_create_cq(&self, topic: &str, queue_id: i32) -> Arc<ConsumeQueue> {
        if let Some(cq) = self.find_cq(topic, queue_id) {
            return cq;
        }
        let mut t = self.cqs.write();
        t.entry(topic.to_owned())
            .or_default()
            .entry(queue_id)
            .or_insert_with(|| {
                Arc::new(ConsumeQueue::new(
                    &self.cq_root,
                    topic,
                    queue_id,
                    self.cfg.cq_file_size() as usize,
                ))
            })
            .clone()
    }

    /// The consume queue of (topic, queue) with a file ready for the next unit (see
    /// [`ConsumeQueue::prepare`]). Called outside the put lock.
    #[allow(clippy::result_large_err)]
    fn ready_cq(&self, topic: &str, queue_id: i32) -> Result<Arc<ConsumeQueue>, PutMessageResult> {
        let cq = self.find_or_create_cq(topic, queue_id);
        if let Err(e) = cq.prepare() {
            tracing::error!(%e, topic, queue_id, "creating a consume-queue file failed");
            return Err(PutMessageResult::failed(
                PutMessageStatus::UnknownError,
                format!("create consume-queue file for {topic}/{queue_id} failed: {e}"),
            ));
        }
        Ok(cq)
    }

    /// Register the arrival listener (long polling).
    pub fn set_arrival_listener(&self, l: ArrivalListener) {
        *self.listener.write() = Some(l);
    }

    fn notify_arrivals(&self, arrivals: &[Arrival]) {
        if arrivals.is_empty() {
            return;
        }
        let l = self.listener.read().clone();
        if let Some(l) = l {
            for a in arrivals {
                l(&a.topic, a.queue_id, a.queue_offset, a.tags_code);
            }
        }
    }

    // ------------------------------------------------------------------ put path

    fn refuse_reason(&self) -> Option<PutMessageResult> {
        if self.flush.is_poisoned() {
            return Some(PutMessageResult::failed(
                PutMessageStatus::Poisoned,
                "store poisoned: an fsync failed, refusing writes",
            ));
        }
        if self.shutdown.load(Ordering::Acquire) {
            return Some(PutMessageResult::failed(
                PutMessageStatus::ServiceNotAvailable,
                "store shut down",
            ));
        }
        if self.disk_full.load(Ordering::Acquire) {
            return Some(PutMessageResult::failed(
                PutMessageStatus::ServiceNotAvailable,
                "disk full",
            ));
        }
        None
    }

    #[allow(clippy::result_large_err)]
    fn check_message(&self, msg: &MessageExtBrokerInner) -> Result<usize, PutMessageResult> {
        let max_message_size = self.live.max_message_size();
        if msg.body.len() > max_message_size {
            return Err(PutMessageResult::failed(
                PutMessageStatus::MessageIllegal,
                format!(
                    "body of {} bytes exceeds maxMessageSize {}",
                    msg.body.len(),
                    max_message_size
                ),
            ));
        }
        let len = match msg.check_format() {
            Ok(l) => l,
            Err(EncodeError::PropertiesTooLong(n)) => {
                return Err(PutMessageResult::failed(
                    PutMessageStatus::PropertiesSizeExceeded,
                    format!("properties of {n} bytes exceed 32767"),
                ))
            }
            Err(e) => {
                return Err(PutMessageResult::failed(
                    PutMessageStatus::MessageIllegal,
                    e.to_string(),
                ))
            }
        };
        Ok(len)
    }

    /// Rewrite a delayed message to SCHEDULE_TOPIC_XXXX (§8.1), as Java's CommitLog does.
    fn apply_delay(&self, msg: &mut MessageExtBrokerInner) {
        let tran = sysflag::transaction_value(msg.sys_flag);
        if tran != TRANSACTION_NOT_TYPE && tran != TRANSACTION_COMMIT_TYPE {
            return;
        }
        let level = msg.delay_level();
        if level <= 0 || self.delay_levels.is_empty() {
            return;
        }
        let level = level.min(self.delay_levels.len() as i32);
        msg.set_property(DELAY, &level.to_string());
        let real_topic = std::mem::replace(&mut msg.topic, SCHEDULE_TOPIC.to_owned());
        let real_qid = msg.queue_id;
        msg.set_property(REAL_TOPIC, &real_topic);
        msg.set_property(REAL_QID, &real_qid.to_string());
        msg.queue_id = level - 1;
    }

    fn record_latency(&self, t0: Instant) {
        let us = t0.elapsed().as_micros() as u64;
        self.stats.max_latency_us.fetch_max(us, Ordering::Relaxed);
    }

    fn fail(&self, r: PutMessageResult) -> PutMessageResult {
        self.stats.put_failed.fetch_add(1, Ordering::Relaxed);
        r
    }

    /// Append one message. Synchronous and cheap on the caller's thread: encodes straight into
    /// the mapped file, writes the consume-queue unit and index entries, and returns. Visible to
    /// readers on return. Under SYNC_FLUSH with `WAIT != false`, `needs_durable_wait` is set and
    /// the caller must `wait_durable(result.end_offset())` before acknowledging (or use
    /// [`MessageStore::put_message_durable`]).
    // The large `Err` is the put result itself, returned once per put: boxing it buys nothing.
    #[allow(clippy::result_large_err)]
    pub fn put_message(&self, mut msg: MessageExtBrokerInner) -> PutMessageResult {
        if let Some(r) = self.refuse_reason() {
            return self.fail(r);
        }
        let [delay, wait] =
            mq_common::message::property::get_properties(&msg.properties, [DELAY, WAIT]);
        let wait = wait.is_none_or(|v| v != "false");
        if delay.is_some() {
            self.apply_delay(&mut msg);
        }
        let len = match self.check_message(&msg) {
            Ok(l) => l,
            Err(r) => return self.fail(r),
        };
        if len + END_FILE_MIN_BLANK_LENGTH > self.commit_log.file_size() {
            return self.fail(PutMessageResult::failed(
                PutMessageStatus::MessageIllegal,
                "record larger than a commit-log file",
            ));
        }
        let body_crc = crc32_masked(&msg.body);
        let dispatchable = sysflag::is_dispatchable(msg.sys_flag);
        // Look up the consume queue and create its file *before* the put lock: file creation
        // takes milliseconds and would stall every other sender (issue 7, 1024-queue topics).
        let cq = match dispatchable.then(|| self.ready_cq(&msg.topic, msg.queue_id)).transpose() {
            Ok(c) => c,
            Err(r) => return self.fail(r),
        };
        let t0 = Instant::now();
        let guard = self.put_lock.lock();
        let now = self.hooks.clock.now_ms();
        // The topic may have been deleted between the lookup and the lock (rare): look again.
        let cq = cq.map(|c| {
            if c.is_destroyed() {
                self.find_or_create_cq(&msg.topic, msg.queue_id)
            } else {
                c
            }
        });
        // PREPARED/ROLLBACK records get queue offset 0 and do not advance the queue.
        let queue_offset = cq.as_ref().map(|c| c.max_offset_in_queue()).unwrap_or(0);
        let appended = self.commit_log.append(len, |phy, dst| {
            let f = msg.record_fields(body_crc, queue_offset, phy, now);
            // Cannot fail: length was checked and dst is exactly `len` bytes.
            let _ = encode_record_into(dst, &f);
        });
        let (phy, rolled) = match appended {
            Ok(x) => x,
            Err(e) => {
                drop(guard);
                tracing::error!(%e, "commit-log append failed");
                return self
                    .fail(PutMessageResult::failed(PutMessageStatus::UnknownError, e.to_string()));
            }
        };
        self.last_put_ts.store(now, Ordering::Release);
        self.last_record_offset.store(phy, Ordering::Release);
        let d = DispatchRequest {
            topic: &msg.topic,
            queue_id: msg.queue_id,
            queue_offset,
            phy_offset: phy,
            size: len as i32,
            store_timestamp: now,
            sys_flag: msg.sys_flag,
            properties: &msg.properties,
        };
        let dispatched = self.dispatch_to(&d, cq.as_ref());
        drop(guard);
        self.record_latency(t0);
        if rolled {
            self.prealloc_waker.wake();
        }
        let arrival = match dispatched {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(%e, "dispatch to consume queue / index failed");
                return self.fail(PutMessageResult::failed(
                    PutMessageStatus::UnknownError,
                    format!("stored at {phy} but dispatch failed: {e}"),
                ));
            }
        };
        self.stats.put_total.fetch_add(1, Ordering::Relaxed);
        self.stats.put_bytes.fetch_add(len as u64, Ordering::Relaxed);
        if let Some(a) = arrival {
            self.notify_arrivals(std::slice::from_ref(&a));
        }
        let needs_durable_wait = self.sync_wait(wait, phy + len as i64);
        let id = encode_offset_msg_id(msg.store_host, phy);
        PutMessageResult {
            status: PutMessageStatus::PutOk,
            wrote_offset: phy,
            wrote_bytes: len as i32,
            msg_ids: vec![id.clone()],
            msg_id: id,
            queue_offset,
            msg_num: 1,
            store_timestamp: now,
            topic: msg.topic,
            queue_id: msg.queue_id,
            needs_durable_wait,
            remark: String::new(),
        }
    }

    /// SYNC_FLUSH bookkeeping after an append: with WAIT the caller waits; without it the flusher
    /// is just nudged.
    fn sync_wait(&self, wait: bool, end: i64) -> bool {
        if self.cfg.flush_disk_type != FlushDiskType::Sync {
            return false;
        }
        if !wait {
            self.flush.request(end);
        }
        wait
    }

    /// Append a batch (SEND_BATCH): all messages must share topic and queue, be plain
    /// (NOT_TYPE) and undelayed. The whole batch lands in one file with consecutive queue
    /// offsets; the result carries every offsetMsgId.
    pub fn put_messages(&self, msgs: Vec<MessageExtBrokerInner>) -> PutMessageResult {
        if let Some(r) = self.refuse_reason() {
            return self.fail(r);
        }
        let Some(first) = msgs.first() else {
            return self
                .fail(PutMessageResult::failed(PutMessageStatus::MessageIllegal, "empty batch"));
        };
        let (topic, qid, store_host) = (first.topic.clone(), first.queue_id, first.store_host);
        let mut lens = Vec::with_capacity(msgs.len());
        for m in &msgs {
            if m.topic != topic || m.queue_id != qid {
                return self.fail(PutMessageResult::failed(
                    PutMessageStatus::MessageIllegal,
                    "batch mixes topics or queues",
                ));
            }
            if sysflag::transaction_value(m.sys_flag) != TRANSACTION_NOT_TYPE || m.delay_level() > 0
            {
                return self.fail(PutMessageResult::failed(
                    PutMessageStatus::MessageIllegal,
                    "batch messages cannot be delayed or transactional",
                ));
            }
            match self.check_message(m) {
                Ok(l) => lens.push(l),
                Err(r) => return self.fail(r),
            }
        }
        let total: usize = lens.iter().sum();
        if total + END_FILE_MIN_BLANK_LENGTH > self.commit_log.file_size() {
            return self.fail(PutMessageResult::failed(
                PutMessageStatus::MessageIllegal,
                "batch larger than a commit-log file",
            ));
        }
        let crcs: Vec<i32> = msgs.iter().map(|m| crc32_masked(&m.body)).collect();
        let wait = msgs.iter().all(|m| m.wait_store_msg_ok());
        let cq = match self.ready_cq(&topic, qid) {
            Ok(c) => c,
            Err(r) => return self.fail(r),
        };
        let t0 = Instant::now();
        let guard = self.put_lock.lock();
        let now = self.hooks.clock.now_ms();
        let cq = if cq.is_destroyed() { self.find_or_create_cq(&topic, qid) } else { cq };
        let q0 = cq.max_offset_in_queue();
        let appended = self.commit_log.append(total, |phy, dst| {
            let mut at = 0usize;
            for (i, m) in msgs.iter().enumerate() {
                let f = m.record_fields(crcs[i], q0 + i as i64, phy + at as i64, now);
                let _ = encode_record_into(&mut dst[at..at + lens[i]], &f);
                at += lens[i];
            }
        });
        let (phy, rolled) = match appended {
            Ok(x) => x,
            Err(e) => {
                drop(guard);
                return self
                    .fail(PutMessageResult::failed(PutMessageStatus::UnknownError, e.to_string()));
            }
        };
        self.last_put_ts.store(now, Ordering::Release);
        self.last_record_offset
            .store(phy + (total - lens[lens.len() - 1]) as i64, Ordering::Release);
        let mut arrivals = Vec::with_capacity(msgs.len());
        let mut err = None;
        let mut at = 0i64;
        for (i, m) in msgs.iter().enumerate() {
            let d = DispatchRequest {
                topic: &topic,
                queue_id: qid,
                queue_offset: q0 + i as i64,
                phy_offset: phy + at,
                size: lens[i] as i32,
                store_timestamp: now,
                sys_flag: m.sys_flag,
                properties: &m.properties,
            };
            at += lens[i] as i64;
            match self.dispatch_to(&d, Some(&cq)) {
                Ok(Some(a)) => arrivals.push(a),
                Ok(None) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        drop(guard);
        self.record_latency(t0);
        if rolled {
            self.prealloc_waker.wake();
        }
        if let Some(e) = err {
            return self.fail(PutMessageResult::failed(
                PutMessageStatus::UnknownError,
                format!("dispatch failed: {e}"),
            ));
        }
        self.stats.put_total.fetch_add(msgs.len() as u64, Ordering::Relaxed);
        self.stats.put_bytes.fetch_add(total as u64, Ordering::Relaxed);
        self.notify_arrivals(&arrivals);
        let mut ids = Vec::with_capacity(msgs.len());
        let mut at = 0i64;
        for l in &lens {
            ids.push(encode_offset_msg_id(store_host, phy + at));
            at += *l as i64;
        }
        PutMessageResult {
            status: PutMessageStatus::PutOk,
            wrote_offset: phy,
            wrote_bytes: total as i32,
            msg_id: ids.join(","),
            msg_ids: ids,
            queue_offset: q0,
            msg_num: msgs.len() as i32,
            store_timestamp: now,
            topic,
            queue_id: qid,
            needs_durable_wait: self.sync_wait(wait, phy + total as i64),
            remark: String::new(),
        }
    }

    /// Wait until the commit log is durable up to `end_offset` (group commit). Many waiters
    /// share one fsync. Times out after `syncFlushTimeout`. Needs the flusher, i.e.
    /// [`MessageStore::start`] must have been called.
    pub async fn wait_durable(&self, end_offset: i64) -> Result<(), DurabilityError> {
        self.flush
            .wait_durable(end_offset, Duration::from_millis(self.cfg.sync_flush_timeout))
            .await
    }

    /// Call `cb` (once, without blocking) when the commit log is durable up to `end_offset`, or
    /// with the error (timeout after `syncFlushTimeout`, poisoned, shut down). The cheap form of
    /// [`MessageStore::wait_durable`] for many concurrent senders: no task or timer per wait; the
    /// flusher thread runs the callbacks right after the fsync that covers them.
    pub fn on_durable(&self, end_offset: i64, cb: super::flush::DurableCallback) {
        self.flush.on_durable(end_offset, Duration::from_millis(self.cfg.sync_flush_timeout), cb);
    }

    /// `put_message` plus, when required, the durable wait; maps a flush timeout to
    /// `FlushDiskTimeout` and a failed fsync to `Poisoned`.
    pub async fn put_message_durable(&self, msg: MessageExtBrokerInner) -> PutMessageResult {
        let r = self.put_message(msg);
        self.finish_durable(r).await
    }

    /// `put_messages` plus, when required, the durable wait.
    pub async fn put_messages_durable(&self, msgs: Vec<MessageExtBrokerInner>) -> PutMessageResult {
        let r = self.put_messages(msgs);
        self.finish_durable(r).await
    }

    async fn finish_durable(&self, mut r: PutMessageResult) -> PutMessageResult {
        if r.status == PutMessageStatus::PutOk && r.needs_durable_wait {
            match self.wait_durable(r.end_offset()).await {
                Ok(()) => {}
                Err(DurabilityError::FlushTimeout) => r.status = PutMessageStatus::FlushDiskTimeout,
                Err(DurabilityError::Poisoned) => {
                    r.status = PutMessageStatus::Poisoned;
                    r.remark = "fsync failed; message not durable".into();
                }
                Err(DurabilityError::ShutDown) => r.status = PutMessageStatus::ServiceNotAvailable,
            }
        }
        r
    }

    // ------------------------------------------------------------------ read path

    /// Read up to `max_msg_nums` messages / `max_total_bytes` bytes from (topic, queue) starting
    /// at logical `offset`, filtering on tagsCode and then on the record ([`ReadFilter`]; records
    /// filtered out count as scanned, not returned). Semantics of statuses and `next_begin_offset`
    /// follow the §2.4 table. Scans at most `max(16000, max_msg_nums*20)` bytes of units, within
    /// one consume-queue file. Records are zero-copy slices of the commit-log mapping.
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
        use GetMessageStatus::*;
        let Some(cq) = self.find_cq(topic, queue_id) else {
            return GetMessageResult::empty(NoMatchedLogicQueue, 0, 0, 0);
        };
        let (min, max) = (cq.min_offset_in_queue(), cq.max_offset_in_queue());
        if max == 0 {
            return GetMessageResult::empty(NoMessageInQueue, 0, min, max);
        }
        if offset < min {
            return GetMessageResult::empty(OffsetTooSmall, min, min, max);
        }
        if offset == max {
            return GetMessageResult::empty(OffsetOverflowOne, offset, min, max);
        }
        if offset > max {
            return GetMessageResult::empty(OffsetOverflowBadly, max, min, max);
        }
        let max_units = (16000usize.max(max_msg_nums.saturating_mul(20))) / CQ_UNIT;
        let Some(units) = cq.units_from(offset, max_units) else {
            return GetMessageResult::empty(OffsetFoundNull, cq.roll_next_file(offset), min, max);
        };
        let cl_min = self.commit_log.min_offset();
        let mut r = GetMessageResult::empty(NoMatchedMessage, offset, min, max);
        let mut scanned = 0i64;
        let mut filtered = 0usize;
        let mut removed = 0usize;
        for u in &units {
            if r.msg_count >= max_msg_nums
                || (r.msg_count > 0 && r.total_bytes + u.size.max(0) as usize > max_total_bytes)
            {
                break;
            }
            scanned += 1;
            if u.is_blank() {
                continue;
            }
            if u.phy_offset < cl_min {
                removed += 1;
                continue;
            }
            if let Some(f) = filter {
                if !f.by_tags_code(u.tags_code) {
                    filtered += 1;
                    continue;
                }
            }
            match self.commit_log.get_data(u.phy_offset, u.size as usize) {
                Some(b) if filter.is_some_and(|f| !f.by_record(&b)) => filtered += 1,
                Some(b) => {
                    r.total_bytes += b.len();
                    r.messages.push(b);
                    r.queue_offsets.push(offset + scanned - 1);
                    r.msg_count += 1;
                }
                None => removed += 1,
            }
        }
        r.next_begin_offset = offset + scanned;
        r.status = if r.msg_count > 0 {
            Found
        } else if filtered > 0 || removed == 0 {
            NoMatchedMessage
        } else {
            MessageWasRemoving
        };
        r
    }

    /// Max logical offset (next offset to be written) of a queue; 0 if unknown.
    pub fn get_max_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.find_cq(topic, queue_id).map(|c| c.max_offset_in_queue()).unwrap_or(0)
    }

    /// Min logical offset of a queue; 0 if unknown.
    pub fn get_min_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.find_cq(topic, queue_id).map(|c| c.min_offset_in_queue()).unwrap_or(0)
    }

    /// Commit-log offset of the message at a logical offset.
    pub fn get_commit_log_offset_in_queue(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Option<i64> {
        let u = self.find_cq(topic, queue_id)?.get_unit(offset)?;
        (!u.is_blank()).then_some(u.phy_offset)
    }

    /// Store timestamp of the message at logical `offset`, if present.
    pub fn get_message_store_timestamp(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Option<i64> {
        let u = self.find_cq(topic, queue_id)?.get_unit(offset)?;
        if u.is_blank() {
            return None;
        }
        self.commit_log.store_timestamp_at(u.phy_offset)
    }

    /// Store time of the oldest record in the commit log (Java's `earliestMessageTimeStamp`).
    pub fn get_earliest_message_time_any(&self) -> Option<i64> {
        self.commit_log.store_timestamp_at(self.commit_log.min_offset())
    }

    /// Store time of the oldest message still in the queue.
    pub fn get_earliest_message_time(&self, topic: &str, queue_id: i32) -> Option<i64> {
        let cq = self.find_cq(topic, queue_id)?;
        let (mut i, max) = (cq.min_offset_in_queue(), cq.max_offset_in_queue());
        while i < max {
            if let Some(t) = self.get_message_store_timestamp(topic, queue_id, i) {
                return Some(t);
            }
            i += 1;
        }
        None
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP (4.9 semantics): binary search on store timestamps; an exact
    /// match wins (the first one), else the neighbour closer in time; all older → the last
    /// message's offset, all newer → the first; 0 if the queue is empty or unknown.
    pub fn get_offset_in_queue_by_time(&self, topic: &str, queue_id: i32, ts: i64) -> i64 {
        let Some(cq) = self.find_cq(topic, queue_id) else {
            return 0;
        };
        let (min, max) = (cq.min_offset_in_queue(), cq.max_offset_in_queue());
        if max <= min {
            return 0;
        }
        let time_at = |i: i64| self.get_message_store_timestamp(topic, queue_id, i);
        // First index with time >= ts (unknown timestamps count as older).
        let (mut lo, mut hi) = (min, max);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match time_at(mid) {
                Some(t) if t >= ts => hi = mid,
                _ => lo = mid + 1,
            }
        }
        if lo == max {
            return max - 1;
        }
        let right = time_at(lo).unwrap_or(i64::MAX);
        if right == ts || lo == min {
            return lo;
        }
        match time_at(lo - 1) {
            Some(left) if ts - left <= right - ts => lo - 1,
            _ => lo,
        }
    }

    /// One raw record by commit-log offset (VIEW_MESSAGE_BY_ID).
    pub fn look_message_by_offset(&self, phy_offset: i64) -> Option<Bytes> {
        let b = self.commit_log.read_record(phy_offset)?;
        RecordView::parse(&b, false).ok()?;
        Some(b)
    }

    /// Query by key (or UNIQ_KEY) within `[begin_ts, end_ts]` through the index files.
    pub fn query_message(
        &self,
        topic: &str,
        key: &str,
        max_num: usize,
        begin_ts: i64,
        end_ts: i64,
    ) -> QueryMessageResult {
        let (offs, last_ts, last_phy) =
            self.index.query(topic, key, max_num.max(1), begin_ts, end_ts);
        let mut r = QueryMessageResult {
            index_last_update_timestamp: last_ts,
            index_last_update_phyoffset: last_phy,
            ..Default::default()
        };
        for o in offs {
            if let Some(b) = self.look_message_by_offset(o) {
                r.messages.push(b);
                r.phy_offsets.push(o);
            }
        }
        r
    }

    /// Commit-log bytes from `offset` to the end of its file (replication, HA).
    pub fn get_commit_log_data(&self, offset: i64) -> Option<Bytes> {
        self.commit_log.get_data_from(offset)
    }

    /// Commit-log min offset.
    pub fn get_min_phy_offset(&self) -> i64 {
        self.commit_log.min_offset()
    }

    /// Commit-log max offset.
    pub fn get_max_phy_offset(&self) -> i64 {
        self.commit_log.max_offset()
    }

    /// Remove the consume queues of `topics` (DELETE_TOPIC_IN_BROKER). Commit-log data stays
    /// until retention.
    pub fn delete_topics(&self, topics: &[&str]) {
        let _g = self.put_lock.lock();
        let mut t = self.cqs.write();
        for topic in topics {
            if let Some(m) = t.remove(*topic) {
                for cq in m.values() {
                    cq.destroy();
                }
                let _ = std::fs::remove_dir_all(self.cq_root.join(topic));
            }
        }
    }

    /// `(topic, queue ids)` of every consume queue.
    pub fn topic_queue_table(&self) -> HashMap<String, Vec<i32>> {
        self.cqs
            .read()
            .iter()
            .map(|(t, m)| {
                let mut q: Vec<i32> = m.keys().copied().collect();
                q.sort();
                (t.clone(), q)
            })
            .collect()
    }

    /// Per-queue min/max offsets and last update time (GET_TOPIC_STATS_INFO).
    pub fn queue_stats(&self, topic: &str) -> Vec<QueueStats> {
        let cqs: Vec<Arc<ConsumeQueue>> = match self.cqs.read().get(topic) {
            Some(m) => m.values().cloned().collect(),
            None => return Vec::new(),
        };
        let mut v: Vec<QueueStats> = cqs
            .iter()
            .map(|cq| {
                let max = cq.max_offset_in_queue();
                QueueStats {
                    queue_id: cq.queue_id(),
                    min_offset: cq.min_offset_in_queue(),
                    max_offset: max,
                    last_update_timestamp: self
                        .get_message_store_timestamp(topic, cq.queue_id(), max - 1)
                        .unwrap_or(0),
                }
            })
            .collect();
        v.sort_by_key(|s| s.queue_id);
        v
    }

    /// Figures for GET_BROKER_RUNTIME_INFO.
    pub fn runtime_info(&self) -> StoreRuntimeInfo {
        StoreRuntimeInfo {
            commit_log_min_offset: self.commit_log.min_offset(),
            commit_log_max_offset: self.commit_log.max_offset(),
            commit_log_flushed_offset: self.flush.progress().flushed,
            dispatch_behind_bytes: 0,
            commit_log_disk_ratio: (self.hooks.disk_usage)(&self.cfg.commit_log_dir()),
            put_message_times_total: self.stats.put_total.load(Ordering::Relaxed),
            put_message_size_total: self.stats.put_bytes.load(Ordering::Relaxed),
            put_message_failed_times: self.stats.put_failed.load(Ordering::Relaxed),
            put_message_max_latency_us: self.stats.max_latency_us.load(Ordering::Relaxed),
            poisoned: self.flush.is_poisoned(),
            consume_queue_count: self.all_cqs().len(),
            index_file_count: self.index.files().len(),
        }
    }

    /// Whether an fsync failure poisoned the store.
    pub fn is_poisoned(&self) -> bool {
        self.flush.is_poisoned()
    }

    /// Test hook: make the next commit-log flush fail as if fsync returned EIO.
    #[doc(hidden)]
    pub fn inject_flush_failure(&self) {
        self.inject_flush_failure.store(true, Ordering::Release);
        self.flush.waker.wake();
    }

    // ------------------------------------------------------------------ services

    /// Start the background services: commit-log flusher, housekeeping (consume-queue/index
    /// flush, checkpoint, retention) and the next-file pre-allocator. They hold only a weak
    /// reference and stop on [`MessageStore::shutdown`] / [`MessageStore::halt`].
    pub fn start(self: &Arc<Self>) -> Result<(), StoreError> {
        if self.started.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let spawn = |name: &str,
                     f: fn(&MessageStore) -> bool,
                     period: fn(&MessageStore) -> Duration,
                     waker: Arc<Waker>| {
            let weak: Weak<MessageStore> = Arc::downgrade(self);
            std::thread::Builder::new().name(name.to_owned()).spawn(move || loop {
                let p = {
                    let Some(s) = weak.upgrade() else { return };
                    if s.shutdown.load(Ordering::Acquire) || !f(&s) {
                        return;
                    }
                    period(&s)
                };
                // Wait without holding a strong reference, so dropping the store stops us.
                waker.wait(p);
            })
        };
        let mut threads = self.threads.lock();
        threads.push(
            spawn("store-flush", Self::flush_once, Self::flush_period, self.flush.waker.clone())
                .ctx(|| "spawn flusher".into())?,
        );
        threads.push(
            spawn(
                "store-housekeeping",
                Self::housekeeping_once,
                Self::housekeeping_period,
                self.housekeeping_waker.clone(),
            )
            .ctx(|| "spawn housekeeping".into())?,
        );
        threads.push(spawn("store-prealloc", |s| {
            // Background page warming must not steal CPU from appenders: lower this thread's
            // priority once (setpriority on a TID affects only that thread on Linux).
            thread_local!(static NICED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
            if !NICED.with(|n| n.replace(true)) {
                // SAFETY: plain syscalls on our own thread id.
                unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
            }
            Self::prealloc_once(s)
        }, |_| Duration::from_millis(200), self.prealloc_waker.clone()).ctx(|| "spawn pre-allocator".into())?);
        Ok(())
    }

    fn flush_period(&self) -> Duration {
        match self.cfg.flush_disk_type {
            FlushDiskType::Sync => Duration::from_millis(10),
            FlushDiskType::Async => {
                Duration::from_millis(self.cfg.flush_interval_commit_log.max(1))
            }
        }
    }

    fn housekeeping_period(&self) -> Duration {
        Duration::from_millis(self.cfg.flush_interval_consume_queue.max(1))
    }

    /// One round of the commit-log flusher. Returns false to stop the thread.
    fn flush_once(&self) -> bool {
        if self.flush.is_poisoned() {
            return false;
        }
        let max = self.commit_log.max_offset();
        let flushed = self.commit_log.flushed_offset();
        let requested = self.flush.requested.load(Ordering::Acquire);
        let need = match self.cfg.flush_disk_type {
            FlushDiskType::Sync => max > flushed,
            FlushDiskType::Async => {
                requested > flushed
                    || (max - flushed) as u64 >= self.cfg.flush_commit_log_least_pages * 4096
                    || max > flushed // interval elapsed: flush what is there (thorough flush)
            }
        };
        if need {
            self.do_flush();
        } else {
            // Expire overdue callback waiters (a stalled flush never reaches the branch above).
            self.flush.complete_callbacks();
        }
        true
    }

    /// Flush the commit log now; poison on failure.
    pub(crate) fn do_flush(&self) -> bool {
        let ts = self.last_put_ts.load(Ordering::Acquire);
        let res = if self.inject_flush_failure.swap(false, Ordering::AcqRel) {
            Err(std::io::Error::other("injected fsync failure"))
        } else {
            self.commit_log.flush()
        };
        match res {
            Ok(off) => {
                self.flush.publish(off);
                self.flush.complete_callbacks();
                if ts > 0 {
                    self.checkpoint.lock().value.physic_msg_timestamp = ts;
                }
                true
            }
            Err(e) => {
                tracing::error!(%e, "commit-log fsync failed: poisoning the store");
                self.flush.poison();
                false
            }
        }
    }

    /// Flush consume queues and index files and write the checkpoint.
    ///
    /// The consistent point: `(end, last)` is read under the put lock, so every record below
    /// `end` has been dispatched; the flushes below then make its consume-queue units and index
    /// entries durable. The point is published once the commit log is also flushed past it: now,
    /// or (ASYNC flush lags) at the next round, which is why the previous candidate is kept.
    pub(crate) fn flush_derived(&self) -> std::io::Result<()> {
        // Shutdown holds the put lock while it joins this thread: never block on the lock
        // without watching the shutdown flag (shutdown flushes and checkpoints by itself).
        let candidate = loop {
            if let Some(_g) = self.put_lock.try_lock_for(Duration::from_millis(5)) {
                break (
                    self.commit_log.max_offset(),
                    self.last_record_offset.load(Ordering::Acquire),
                );
            }
            if self.shutdown.load(Ordering::Acquire) {
                return Ok(());
            }
        };
        self.flush_derived_locked(candidate)
    }

    /// [`MessageStore::flush_derived`] with the candidate point already read under the put lock
    /// (shutdown holds the lock).
    fn flush_derived_locked(&self, candidate: (i64, i64)) -> std::io::Result<()> {
        let ts = self.last_put_ts.load(Ordering::Acquire);
        for cq in self.all_cqs() {
            cq.flush()?;
        }
        self.index.flush()?;
        let flushed = self.commit_log.flushed_offset();
        let mut pending = self.pending_consistent.lock();
        let mut c = self.checkpoint.lock();
        if ts > 0 {
            c.value.logics_msg_timestamp = ts;
            c.value.index_msg_timestamp = ts;
        }
        if flushed >= candidate.0 {
            c.value.consistent = Some(candidate);
        } else if let Some(p) = pending.filter(|p| flushed >= p.0) {
            c.value.consistent = Some(p);
        }
        *pending = Some(candidate);
        c.flush()
    }

    /// Flush the commit log, consume queues and index and write the checkpoint now, as the
    /// periodic housekeeping does (its consistent point then covers everything appended so far).
    pub fn checkpoint_now(&self) -> Result<(), StoreError> {
        if !self.do_flush() {
            return Err(StoreError::Poisoned);
        }
        self.flush_derived().ctx(|| "checkpoint".into())
    }

    /// What recovery did when this store was opened.
    pub fn recovery_report(&self) -> super::recovery::RecoveryReport {
        *self.recovery_report.lock()
    }

    fn housekeeping_once(&self) -> bool {
        if let Err(e) = self.flush_derived() {
            tracing::error!(%e, "consume-queue/index flush failed");
        }
        self.maybe_clean();
        true
    }

    /// How far ahead of the commit-log write position the pre-allocator keeps pages warm.
    const WARM_AHEAD: usize = 256 * 1024 * 1024;

    fn prealloc_once(&self) -> bool {
        let Some(last) = self.commit_log.queue().last() else {
            return true;
        };
        let warm = self.cfg.warm_mapped_file_enable;
        let ahead = Self::WARM_AHEAD;
        // Keep a window ahead of the writer warm in the active file (content-preserving, so safe
        // beside the appender).
        let wrote = last.wrote_position();
        if warm {
            last.warm_range(wrote, wrote.saturating_add(ahead));
        }
        // Prepare the next file once the writer is within the window of the end of this one.
        if wrote.saturating_add(ahead) < last.size() {
            return true;
        }
        let next = self.commit_log.next_file_offset();
        if self.commit_log.has_prepared(next) {
            return true;
        }
        match MappedFile::open(self.commit_log.queue().dir(), next, self.commit_log.file_size()) {
            Ok(f) => {
                if warm {
                    f.warm_range(0, ahead);
                }
                self.commit_log.offer_prepared(Arc::new(f));
            }
            Err(e) => tracing::warn!(%e, "pre-allocating the next commit-log file failed"),
        }
        true
    }

    fn stop_threads(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.flush.waker.wake();
        self.housekeeping_waker.wake();
        self.prealloc_waker.wake();
        let threads: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
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
        let _g = self.put_lock.lock();
        self.stop_threads();
        self.flush.mark_shut_down();
        if let Some(p) = self.commit_log.take_prepared() {
            if p.from_offset() >= self.commit_log.next_file_offset() {
                let _ = p.destroy();
            }
        }
        if self.flush.is_poisoned() {
            return Err(StoreError::Poisoned);
        }
        if !self.do_flush() {
            return Err(StoreError::Poisoned);
        }
        let end = self.commit_log.max_offset();
        let last = self.last_record_offset.load(Ordering::Acquire);
        let queues: Vec<(String, i32, i64)> = self
            .all_cqs()
            .iter()
            .map(|cq| (cq.topic().to_owned(), cq.queue_id(), cq.max_offset_in_queue()))
            .collect();
        // flush_derived takes the put lock for its consistent point; we hold it already and
        // nothing can be appended, so (end, last) is consistent once the flushes succeed.
        self.flush_derived_locked((end, last)).ctx(|| "flush consume queues / index".into())?;
        super::cq_manifest::write(&self.root, end, queues)
            .ctx(|| "write consume-queue manifest".into())?;
        {
            let mut c = self.checkpoint.lock();
            c.value.clean_shutdown_offset = Some(end);
            c.value.clean_last_record_offset = last;
            c.flush().ctx(|| "write checkpoint".into())?;
        }
        let abort = self.root.join("abort");
        if abort.exists() {
            std::fs::remove_file(&abort).ctx(|| "remove abort".into())?;
        }
        tracing::info!(max = self.commit_log.max_offset(), "store shut down cleanly");
        Ok(())
    }

    /// Stop background services without flushing or cleaning up, like a crash that keeps the
    /// page cache (SIGKILL). For tests; the next open recovers abnormally.
    #[doc(hidden)]
    pub fn halt(&self) {
        self.stop_threads();
        self.flush.mark_shut_down();
    }
}
