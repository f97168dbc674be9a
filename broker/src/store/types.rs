//! Result and status types of the store API.

use bytes::Bytes;

use super::durability::{DurabilityError, DurabilityTicket};

/// Outcome of a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMessageStatus {
    /// Stored (and, for a durable wait, flushed).
    PutOk,
    /// Stored but not flushed within `syncFlushTimeout` (FLUSH_DISK_TIMEOUT, still stored).
    FlushDiskTimeout,
    /// Body too large, topic too long, bad batch ... (MESSAGE_ILLEGAL).
    MessageIllegal,
    /// Properties longer than 32767 bytes (MESSAGE_ILLEGAL).
    PropertiesSizeExceeded,
    /// Shut down, or writes refused above `diskMaxUsedSpaceRatio` (SERVICE_NOT_AVAILABLE).
    ServiceNotAvailable,
    /// No space left on the store's disk: nothing was written (SERVICE_NOT_AVAILABLE, with
    /// Java's "disk is full" remark). Writes resume by themselves once space is back.
    DiskFull,
    /// An fsync failed earlier: the store refuses writes (SERVICE_NOT_AVAILABLE / SYSTEM_ERROR
    /// with a remark saying so).
    Poisoned,
    /// SYNC_MASTER: stored, but no slave is connected or the best one is too far behind
    /// (SLAVE_NOT_AVAILABLE, 11).
    SlaveNotAvailable,
    /// SYNC_MASTER: stored, but no slave acknowledged it within `slaveTimeout`
    /// (FLUSH_SLAVE_TIMEOUT, 12).
    FlushSlaveTimeout,
    /// Page cache busy (SYSTEM_ERROR `[PC_SYNCHRONIZED]`); reserved, not produced today.
    OsPageCacheBusy,
    /// I/O error while appending (SYSTEM_ERROR).
    UnknownError,
}

impl PutMessageStatus {
    /// Whether the message is in the log (PUT_OK, or one of the statuses that say a
    /// durability or replica wait failed for a stored message).
    pub fn is_stored(self) -> bool {
        matches!(
            self,
            PutMessageStatus::PutOk
                | PutMessageStatus::FlushDiskTimeout
                | PutMessageStatus::SlaveNotAvailable
                | PutMessageStatus::FlushSlaveTimeout
        )
    }
}

/// Result of `put_message` / `put_messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutMessageResult {
    /// status
    pub status: PutMessageStatus,
    /// commit-log offset of the (first) record
    pub wrote_offset: i64,
    /// bytes written (all records of a batch)
    pub wrote_bytes: i32,
    /// offsetMsgId of the (first) record; for a batch, all ids joined with `,`
    pub msg_id: String,
    /// offsetMsgId of every record (one for a single message)
    pub msg_ids: Vec<String>,
    /// logical queue offset of the (first) message
    pub queue_offset: i64,
    /// number of messages written
    pub msg_num: i32,
    /// store timestamp
    pub store_timestamp: i64,
    /// topic actually written (SCHEDULE_TOPIC_XXXX for delayed messages)
    pub topic: String,
    /// queue actually written
    pub queue_id: i32,
    /// human-readable reason for a failure
    pub remark: String,
    /// the sender waits for the store (`WAIT` is not false): durability and, on a
    /// SYNC_MASTER, a slave's copy come before the answer
    pub wait_store: bool,
}

impl PutMessageResult {
    /// A failure result.
    pub fn failed(status: PutMessageStatus, remark: impl Into<String>) -> Self {
        PutMessageResult {
            status,
            wrote_offset: -1,
            wrote_bytes: 0,
            msg_id: String::new(),
            msg_ids: Vec::new(),
            queue_offset: -1,
            msg_num: 0,
            store_timestamp: 0,
            topic: String::new(),
            queue_id: -1,
            remark: remark.into(),
            wait_store: false,
        }
    }

    /// Offset just past the written bytes: what must be durable before acknowledging.
    pub fn end_offset(&self) -> i64 {
        self.wrote_offset + self.wrote_bytes as i64
    }

    /// Fold the outcome of the durable wait into the status: a flush timeout is
    /// FLUSH_DISK_TIMEOUT (still stored), a failed fsync or a truncation loses the message.
    pub fn with_durability(mut self, outcome: Result<(), DurabilityError>) -> Self {
        if self.status != PutMessageStatus::PutOk {
            return self;
        }
        match outcome {
            Ok(()) => {}
            Err(DurabilityError::FlushTimeout) => self.status = PutMessageStatus::FlushDiskTimeout,
            Err(DurabilityError::Poisoned) => {
                self.status = PutMessageStatus::Poisoned;
                self.remark = "fsync failed; message not durable".into();
            }
            Err(e @ (DurabilityError::ShutDown | DurabilityError::Truncated)) => {
                self.status = PutMessageStatus::ServiceNotAvailable;
                self.remark = e.to_string();
            }
        }
        self
    }
}

/// What a put returns: its result now, and the ticket that says whether (and lets the caller
/// wait until) it is durable. Answer the sender only through [`Put::durable`] or
/// [`Put::on_durable`] (or after awaiting the ticket yourself).
#[must_use = "a put may be acknowledged only once its durability ticket is awaited or forwarded"]
pub struct Put {
    /// The result as of the append (PUT_OK even when the ticket is still pending).
    pub result: PutMessageResult,
    /// Pending under SYNC_FLUSH when the sender waits for the store.
    pub ticket: DurabilityTicket,
}

impl Put {
    /// The result once durable (or why not).
    pub async fn durable(self) -> PutMessageResult {
        let outcome = self.ticket.wait().await;
        self.result.with_durability(outcome)
    }

    /// Call `f` with the result once durable (or why not): at once when nothing is pending,
    /// else on the flusher thread after the fsync that covers it. `f` must not block.
    pub fn on_durable(self, f: impl FnOnce(PutMessageResult) + Send + 'static) {
        let Put { result, ticket } = self;
        if !ticket.is_pending() {
            return f(result); // nothing to wait for: no callback box
        }
        ticket.on_durable(Box::new(move |outcome| f(result.with_durability(outcome))));
    }
}

/// Outcome of `get_message` (§2.4 table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMessageStatus {
    /// ≥ 1 message returned.
    Found,
    /// Units were scanned but none matched the filter.
    NoMatchedMessage,
    /// Units point into deleted commit-log files.
    MessageWasRemoving,
    /// The consume-queue file for the offset is missing.
    OffsetFoundNull,
    /// offset > max offset.
    OffsetOverflowBadly,
    /// offset == max offset (nothing new yet; long-poll).
    OffsetOverflowOne,
    /// offset < min offset.
    OffsetTooSmall,
    /// No consume queue for topic/queue.
    NoMatchedLogicQueue,
    /// Queue exists but is empty.
    NoMessageInQueue,
}

/// Result of `get_message`.
#[derive(Debug, Clone)]
pub struct GetMessageResult {
    /// status
    pub status: GetMessageStatus,
    /// where the consumer should continue
    pub next_begin_offset: i64,
    /// queue min offset
    pub min_offset: i64,
    /// queue max offset
    pub max_offset: i64,
    /// raw records, zero-copy slices of the commit-log mapping
    pub messages: Vec<bytes::Bytes>,
    /// logical offsets of `messages`
    pub queue_offsets: Vec<i64>,
    /// number of messages
    pub msg_count: usize,
    /// total bytes of `messages`
    pub total_bytes: usize,
}

impl GetMessageResult {
    pub(crate) fn empty(status: GetMessageStatus, next: i64, min: i64, max: i64) -> Self {
        GetMessageResult {
            status,
            next_begin_offset: next,
            min_offset: min,
            max_offset: max,
            messages: Vec::new(),
            queue_offsets: Vec::new(),
            msg_count: 0,
            total_bytes: 0,
        }
    }

    /// All records concatenated (the PULL response body). Copies once.
    pub fn concat(&self) -> Bytes {
        let mut v = Vec::with_capacity(self.total_bytes);
        for m in &self.messages {
            v.extend_from_slice(m);
        }
        Bytes::from(v)
    }
}

/// Result of `query_message`.
#[derive(Debug, Clone, Default)]
pub struct QueryMessageResult {
    /// raw records found (hash collisions possible: callers check the key)
    pub messages: Vec<Bytes>,
    /// commit-log offsets of `messages`
    pub phy_offsets: Vec<i64>,
    /// end timestamp of the newest index file
    pub index_last_update_timestamp: i64,
    /// end offset of the newest index file
    pub index_last_update_phyoffset: i64,
}

/// Per-queue statistics (GET_TOPIC_STATS_INFO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// queue id
    pub queue_id: i32,
    /// min logical offset
    pub min_offset: i64,
    /// max logical offset
    pub max_offset: i64,
    /// store time of the newest message (0 if empty)
    pub last_update_timestamp: i64,
}

/// Store-wide figures (GET_BROKER_RUNTIME_INFO).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreRuntimeInfo {
    /// commit-log min offset
    pub commit_log_min_offset: i64,
    /// commit-log max offset
    pub commit_log_max_offset: i64,
    /// flushed offset
    pub commit_log_flushed_offset: i64,
    /// bytes not yet dispatched to consume queues (0: dispatch is inline)
    pub dispatch_behind_bytes: i64,
    /// used fraction of the commit-log partition (0..1)
    pub commit_log_disk_ratio: f64,
    /// messages put since start
    pub put_message_times_total: u64,
    /// bytes put since start
    pub put_message_size_total: u64,
    /// failed puts since start
    pub put_message_failed_times: u64,
    /// slowest put (append + dispatch) since start, microseconds
    pub put_message_max_latency_us: u64,
    /// whether an fsync failure poisoned the store
    pub poisoned: bool,
    /// number of consume queues
    pub consume_queue_count: usize,
    /// number of index files
    pub index_file_count: usize,
}

/// What a read keeps: first by the consume-queue unit's tagsCode (cheap), then, for the units
/// that pass, by the stored record itself (SQL92 property filters). A closure over the
/// tagsCode is a filter that keeps every record it lets through.
pub trait ReadFilter {
    /// Consume-queue stage.
    fn by_tags_code(&self, tags_code: i64) -> bool;
    /// Commit-log stage (the whole stored record); only called for units that passed
    /// [`by_tags_code`](Self::by_tags_code).
    fn by_record(&self, record: &[u8]) -> bool {
        let _ = record;
        true
    }
}

impl<F: Fn(i64) -> bool> ReadFilter for F {
    fn by_tags_code(&self, tags_code: i64) -> bool {
        self(tags_code)
    }
}

/// A subscription's filter as the store applies it: tag codes on the consume queue, SQL92 on
/// the record's properties (pull and POP read through it alike).
impl ReadFilter for mq_common::filter::MessageFilter {
    #[inline]
    fn by_tags_code(&self, tags_code: i64) -> bool {
        self.matches_tags_code(tags_code)
    }

    #[inline]
    fn by_record(&self, record: &[u8]) -> bool {
        !self.needs_record() || self.matches_record(record)
    }
}
