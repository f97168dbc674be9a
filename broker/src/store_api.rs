//! The store as the broker sees it: a small trait over the message store contract
//! (`put`, `get`, offsets, lookups, arrival hook), so processors are written once and run on
//! the persistent store (`crate::store`) or on the in-memory [`crate::mem_store::MemStore`]
//! (used by unit tests and as a fallback).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use mq_common::message::MessageExtBrokerInner;

/// Outcome of an append (spec §2.3 step 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStatus {
    /// Stored.
    PutOk,
    /// Stored, but the SYNC_FLUSH wait timed out.
    FlushDiskTimeout,
    /// Stored, the slave did not confirm in time.
    FlushSlaveTimeout,
    /// Stored, no slave available.
    SlaveNotAvailable,
    /// Store shut down, disk full, read-only role.
    ServiceNotAvailable,
    /// Could not create a new commit-log file.
    CreateMappedFileFailed,
    /// Message too big / topic too long.
    MessageIllegal,
    /// Properties string longer than 32767 bytes.
    PropertiesSizeExceeded,
    /// Page cache busy.
    OsPageCacheBusy,
    /// Anything else.
    UnknownError,
}

impl PutStatus {
    /// True when the message is in the commit log (the three "stored but" statuses included).
    pub fn is_stored(self) -> bool {
        matches!(self, PutStatus::PutOk | PutStatus::FlushDiskTimeout | PutStatus::FlushSlaveTimeout | PutStatus::SlaveNotAvailable)
    }
}

/// A future resolving when a SYNC_FLUSH append is durable (its final status).
pub type DurableWait = Pin<Box<dyn Future<Output = PutStatus> + Send>>;

/// Result of `put` / `put_batch`.
pub struct PutResult {
    /// Status at append time.
    pub status: PutStatus,
    /// Commit-log offset of the (first) record.
    pub wrote_offset: i64,
    /// Consume-queue offset of the (first) record.
    pub queue_offset: i64,
    /// offsetMsgId(s) of the record(s) written, comma-joined for a batch.
    pub msg_id: String,
    /// Why it failed (empty on success).
    pub remark: String,
    /// Store timestamp assigned.
    pub store_timestamp: i64,
    /// Present when the caller must wait for durability before answering (SYNC_FLUSH + WAIT).
    pub durable: Option<DurableWait>,
}

impl PutResult {
    /// A failed put with no offsets.
    pub fn failed(status: PutStatus) -> Self {
        PutResult { status, wrote_offset: -1, queue_offset: -1, msg_id: String::new(), remark: String::new(), store_timestamp: 0, durable: None }
    }
}

/// Outcome of a consume-queue read (spec §2.4 table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    /// At least one message matched.
    Found,
    /// Entries read, none matched the filter.
    NoMatchedMessage,
    /// Entry points to a deleted commit-log area.
    MessageWasRemoving,
    /// Consume-queue file for the offset missing.
    OffsetFoundNull,
    /// offset > maxOffset.
    OffsetOverflowBadly,
    /// offset == maxOffset.
    OffsetOverflowOne,
    /// offset < minOffset.
    OffsetTooSmall,
    /// No consume queue for topic/queue.
    NoMatchedLogicQueue,
    /// Queue empty.
    NoMessageInQueue,
}

/// Result of `get`.
#[derive(Debug, Clone)]
pub struct GetResult {
    /// Status.
    pub status: GetStatus,
    /// Where the consumer continues.
    pub next_begin_offset: i64,
    /// Queue min offset.
    pub min_offset: i64,
    /// Queue max offset (next offset to be written).
    pub max_offset: i64,
    /// Raw stored records, in queue order.
    pub messages: Vec<Bytes>,
}

impl GetResult {
    /// Sum of record sizes.
    pub fn total_bytes(&self) -> usize {
        self.messages.iter().map(Bytes::len).sum()
    }
}

/// Called after a record is dispatched to a consume queue: (topic, queueId, logical offset,
/// tagsCode). Drives long-polling wake-ups. Must be cheap and must not block.
pub type ArrivalListener = Arc<dyn Fn(&str, i32, i64, i64) + Send + Sync>;

/// A filter on consume-queue tagsCode.
pub type TagsFilter<'a> = &'a (dyn Fn(i64) -> bool + Sync);

/// The message store operations the broker needs.
pub trait MsgStore: Send + Sync + 'static {
    /// Append one message on the caller's task. The store rewrites DELAY messages to
    /// SCHEDULE_TOPIC_XXXX (REAL_TOPIC/REAL_QID saved, tagsCode = delivery time).
    fn put(&self, msg: MessageExtBrokerInner) -> PutResult;
    /// Append a batch (consecutive queue offsets, one file).
    fn put_batch(&self, msgs: Vec<MessageExtBrokerInner>) -> PutResult;
    /// Read up to `max_nums` messages / `max_bytes` from a queue.
    #[allow(clippy::too_many_arguments)]
    fn get(&self, group: &str, topic: &str, queue_id: i32, offset: i64, max_nums: i32, max_bytes: i32, filter: Option<TagsFilter<'_>>) -> GetResult;
    /// Next offset to be written in the queue (0 if unknown).
    fn max_offset(&self, topic: &str, queue_id: i32) -> i64;
    /// Min offset in the queue (0 if unknown).
    fn min_offset(&self, topic: &str, queue_id: i32) -> i64;
    /// Offset of the message stored nearest to `timestamp`.
    fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp: i64) -> i64;
    /// Store timestamp of the earliest message in the queue (0 if none).
    fn earliest_time(&self, topic: &str, queue_id: i32) -> i64;
    /// Store timestamp of the message at a logical offset (0 if none).
    fn store_time(&self, topic: &str, queue_id: i32, offset: i64) -> i64;
    /// The record at a commit-log offset.
    fn look_by_offset(&self, phys: i64) -> Option<Bytes>;
    /// Records whose KEYS/UNIQ_KEY contain `key`, stored between `begin` and `end` (ms).
    fn query(&self, topic: &str, key: &str, max_num: usize, begin: i64, end: i64) -> Vec<Bytes>;
    /// Drop topics' consume queues.
    fn delete_topics(&self, topics: &[String]);
    /// Register the arrival hook.
    fn set_arrival_listener(&self, listener: ArrivalListener);
    /// (min, max) commit-log offsets.
    fn commit_log_range(&self) -> (i64, i64);
    /// Extra runtime info (Java key names) for GET_BROKER_RUNTIME_INFO.
    fn runtime_info(&self) -> Vec<(String, String)>;
    /// Delay level table in ms (index 0 = level 1).
    fn delay_levels_ms(&self) -> Vec<i64>;
    /// Delete expired commit-log files now instead of waiting for `deleteWhen`
    /// (TRIGGER_DELETE_FILES). Default: nothing to delete.
    fn trigger_delete_files(&self) {}
    /// Flush and close (idempotent).
    fn shutdown(&self);
}
