//! Disk and file descriptors grow with data, not with the number of queues (issue 16, B4):
//! consume-queue and index files are sparse and backed in small steps, and no descriptor is
//! kept per mapped file. Before: 800 one-byte sends to 100 topics × 8 queues took 4.7 GB of
//! disk and 800 descriptors (6 MB and one descriptor per queue). Here 25 topics × 8 queues:
//! the cost per queue is what is checked (every queue file is flushed at shutdown, one
//! synchronous msync each, so fewer queues keep the test short).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use mq_broker::store::*;
use mq_store_tests::msg;

/// Bytes of disk actually allocated under `dir`.
fn allocated(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() { allocated(&e.path()) } else { m.blocks() * 512 };
    }
    total
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn two_hundred_queues_cost_kilobytes_and_no_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    // Default sizes: 6 MB consume-queue files, 420 MB index files; small commit-log files.
    let mut cfg = StoreConfig::with_root(dir.path());
    cfg.mapped_file_size_commit_log = 4 << 20;
    let store = MessageStore::open(cfg).unwrap();
    let fds_before = open_fds();
    for t in 0..25 {
        for q in 0..8 {
            let r =
                store.put_message(msg(&format!("T{t}"), q, "x", &format!("k{t}-{q}"), vec![1u8]));
            assert_eq!(r.result.status, PutMessageStatus::PutOk);
        }
    }
    assert_eq!(store.runtime_info().consume_queue_count, 200);
    let cq = allocated(&dir.path().join("consumequeue"));
    // One 16 KiB step per queue (the files are 6 MB each: 1.2 GB if preallocated).
    assert!(cq <= 200 * 32 * 1024, "consume queues take {cq} bytes of disk");
    let index = allocated(&dir.path().join("index"));
    assert!(index < 64 << 20, "the index takes {index} bytes (header + slots + one step)");
    let fds = open_fds();
    assert!(fds <= fds_before + 4, "{fds_before} descriptors before, {fds} after 200 queues");
    store.shutdown().unwrap();
    drop(store);
    // And they load back (sparse files keep their size).
    let store = MessageStore::open(StoreConfig {
        mapped_file_size_commit_log: 4 << 20,
        ..StoreConfig::with_root(dir.path())
    })
    .unwrap();
    assert_eq!(store.get_max_offset_in_queue("T24", 7), 1);
    store.shutdown().unwrap();
}
