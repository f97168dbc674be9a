//! Helpers shared by the store tests and the crash-writer child binary.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use mq_broker::store::{FlushDiskType, StoreConfig};
use mq_common::message::property::{self, KEYS, TAGS, UNIQ_KEY};
use mq_common::message::MessageExtBrokerInner;

/// A small-file config rooted at `root`: 64 KiB commit-log files, 20-unit consume-queue files,
/// tiny index files, short flush intervals.
pub fn small_config(root: &Path, flush: FlushDiskType) -> StoreConfig {
    let mut c = StoreConfig::with_root(root);
    c.mapped_file_size_commit_log = 64 * 1024;
    c.mapped_file_size_consume_queue = 20 * 20;
    c.max_hash_slot_num = 64;
    c.max_index_num = 400;
    c.flush_disk_type = flush;
    c.flush_interval_commit_log = 20;
    c.flush_interval_consume_queue = 50;
    c.warm_mapped_file_enable = true;
    c.commit_log_pwrite_enable = pwrite_mode().unwrap_or(c.commit_log_pwrite_enable);
    // Generous: the machine running the tests may be loaded; a timeout is not what we test.
    c.sync_flush_timeout = 30_000;
    c
}

/// The commit-log write mode the store tests run in: `STORE_TEST_COMMIT_LOG_WRITE=pwrite` or
/// `mmap` (`scripts/test-all.sh` runs the suite once in each), else the store's default.
/// Children (the crash writer) inherit it with the environment.
pub fn pwrite_mode() -> Option<bool> {
    match std::env::var("STORE_TEST_COMMIT_LOG_WRITE").ok()?.as_str() {
        "pwrite" => Some(true),
        "mmap" => Some(false),
        other => panic!("STORE_TEST_COMMIT_LOG_WRITE={other}: expected pwrite or mmap"),
    }
}

/// Broker store host used by tests.
pub fn store_host() -> SocketAddr {
    "127.0.0.1:10911".parse().expect("addr")
}

/// A message with tag, one key and a UNIQ_KEY.
pub fn msg(
    topic: &str,
    queue_id: i32,
    tag: &str,
    key: &str,
    body: impl Into<Bytes>,
) -> MessageExtBrokerInner {
    MessageExtBrokerInner {
        topic: topic.into(),
        queue_id,
        born_timestamp: 1,
        born_host: "10.0.0.1:5555".parse().expect("addr"),
        store_host: store_host(),
        body: body.into(),
        properties: property::encode_properties([
            (TAGS, tag),
            (KEYS, key),
            (UNIQ_KEY, &format!("U-{key}")),
        ]),
        ..Default::default()
    }
}
