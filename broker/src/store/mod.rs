//! The broker's message store: a RocketMQ-compatible store directory (spec §3–4).
//!
//! ```text
//! <storePathRootDir>/commitlog/<20-digit offset>         §3.1 records, blank EOF markers
//!                   /consumequeue/<topic>/<qid>/<20-digit> 20-byte units
//!                   /index/<yyyyMMddHHmmssSSS>            hash index of keys and UNIQ_KEY
//!                   /checkpoint  /abort  /lock  /cq_manifest
//! ```
//!
//! [`MessageStore`] is a facade over parts with one responsibility each (`docs/store.md` has
//! the table of who owns which file and lock):
//! * **write side** (`write.rs`, `put_group.rs`, `put_lock.rs`, `commit_log.rs`,
//!   `message_check.rs`): the put lock, the only maker of the write token every mapped-file
//!   write requires; the put path appends records (one put, or a group of a connection's
//!   pipelined puts with one write) and dispatches them under that lock, so a message is
//!   readable as soon as its put returns and queue offsets are consecutive in commit-log order;
//! * **durability** (`durability.rs`): the flusher (ASYNC interval / SYNC group commit), fsync
//!   poisoning, and the `#[must_use]` ticket every put returns;
//! * **dispatch** (`dispatch.rs`, `consume_queue.rs`, `index.rs`): consume queues and index;
//! * **read side** (`read.rs`): pulls, lookups, queries, limited to the confirmed offset;
//! * **recovery** (`recovery.rs`): a free function run once at open;
//! * **replication** (`replication.rs`): raw reads and appends, truncation, confirmed offset;
//! * checkpoint (`checkpoint.rs`), retention (`clean.rs`), live settings (`live_config.rs`).

mod checkpoint;
mod clean;
mod commit_log;
mod config;
mod consume_queue;
mod cq_manifest;
mod dispatch;
mod durability;
mod error;
mod hooks;
mod index;
mod live_config;
mod mapped_file;
mod mapped_file_queue;
mod message_check;
mod put_group;
mod put_join;
mod put_lock;
mod read;
mod readahead;
mod recovery;
mod replication;
#[allow(clippy::module_inception)]
mod store;
mod sys;
mod types;
mod write;

pub use checkpoint::{Checkpoint, CheckpointFile};
pub use clean::CleanReport;
pub use config::{
    parse_delay_levels, DelayLevels, FlushDiskType, StoreConfig, DEFAULT_DELAY_LEVELS,
};
pub use consume_queue::{ConsumeQueue, CqUnit, CQ_UNIT};
pub use dispatch::{Arrival, ArrivalListener};
pub use durability::{DurabilityError, DurabilityTicket, DurableCallback};
pub use error::StoreError;
pub use hooks::{StoreClock, StoreHooks, SystemClock};
pub use index::{index_key_hash, IndexFile};
pub use live_config::LiveStoreConfig;
pub use mapped_file::{offset_to_file_name, MappedFile};
pub use put_group::PutSet;
pub use recovery::{RecoveryMode, RecoveryReport};
pub use replication::{ReplicaAppend, ReplicationError};
pub use store::MessageStore;
pub use sys::{disk_space, disk_usage_ratio};
pub use types::*;
