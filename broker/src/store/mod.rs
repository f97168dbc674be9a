//! The broker's message store: a RocketMQ-compatible store directory (spec §3–4).
//!
//! ```text
//! <storePathRootDir>/commitlog/<20-digit offset>         §3.1 records, blank EOF markers
//!                   /consumequeue/<topic>/<qid>/<20-digit> 20-byte units
//!                   /index/<yyyyMMddHHmmssSSS>            hash index of keys and UNIQ_KEY
//!                   /checkpoint  /abort  /lock
//! ```
//!
//! Design in one paragraph: a single put lock serialises the append (the record is encoded
//! straight into the mapped commit-log file) and its dispatch (consume-queue unit + index
//! entries), so a message is readable and queryable as soon as `put_message` returns and queue
//! offsets are consecutive in commit-log order. Durability is separate: an ASYNC flusher msyncs on
//! an interval; under SYNC_FLUSH senders await `wait_durable(end)` and one flusher thread
//! group-commits (one msync releases every waiter it covers). A failed msync poisons the store.
//! Recovery is normal (trust the clean-shutdown checkpoint, no scan) or abnormal (scan with CRC
//! from the checkpoint's consistent point — or, without one, from a file chosen by timestamps —
//! truncate the torn tail, replay dispatch idempotently).
//! Retention deletes expired commit-log files (never the active one), then consume-queue and
//! index files below the new minimum.

mod checkpoint;
mod clean;
mod commit_log;
mod config;
mod consume_queue;
mod cq_manifest;
mod dispatch;
mod error;
mod flush;
mod index;
mod live_config;
mod mapped_file;
mod mapped_file_queue;
mod readahead;
mod recovery;
#[allow(clippy::module_inception)]
mod store;
mod types;

pub use checkpoint::{Checkpoint, CheckpointFile};
pub use clean::CleanReport;
pub use config::{
    parse_delay_levels, DelayLevels, FlushDiskType, StoreConfig, DEFAULT_DELAY_LEVELS,
};
pub use consume_queue::{ConsumeQueue, CqUnit, CQ_UNIT};
pub use dispatch::Arrival;
pub use error::StoreError;
pub use flush::{DurabilityError, DurableCallback};
pub use index::{index_key_hash, IndexFile};
pub use live_config::LiveStoreConfig;
pub use mapped_file::{offset_to_file_name, MappedFile};
pub use recovery::{RecoveryMode, RecoveryReport};
pub use store::{
    disk_space, disk_usage_ratio, ArrivalListener, MessageStore, StoreClock, StoreHooks,
    SystemClock,
};
pub use types::*;
