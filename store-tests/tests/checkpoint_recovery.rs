//! Crash recovery starts from the checkpoint's consistent point: records below it are neither
//! CRC-scanned nor re-dispatched. Without a usable point (checkpoint missing, or not matching
//! the log) recovery falls back to scanning from a file chosen by timestamps (here: all of it).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use mq_broker::store::*;
use mq_common::message::RecordView;
use mq_store_tests::{msg, small_config};

const FILE: i64 = 64 * 1024;

/// Put `n` messages (keys k0..) over 3 queues; returns (phy, size) per message.
fn put(store: &MessageStore, from: usize, n: usize) -> Vec<(i64, i32)> {
    (from..from + n)
        .map(|i| {
            let r = store
                .put_message(msg(
                    "TopicK",
                    (i % 3) as i32,
                    "t",
                    &format!("k{i}"),
                    vec![i as u8; 700],
                ))
                .result;
            assert_eq!(r.status, PutMessageStatus::PutOk);
            (r.wrote_offset, r.wrote_bytes)
        })
        .collect()
}

/// 300 messages, a checkpoint, 20 more, then a crash (no clean shutdown, `abort` stays).
/// Returns the records and the consistent point (end of message 299).
fn crashed_store(dir: &Path) -> (Vec<(i64, i32)>, i64) {
    let store = MessageStore::open(small_config(dir, FlushDiskType::Async)).unwrap();
    let mut recs = put(&store, 0, 300);
    store.checkpoint_now().unwrap();
    let point = recs[299].0 + recs[299].1 as i64;
    recs.extend(put(&store, 300, 20));
    store.halt();
    drop(store);
    assert!(dir.join("abort").exists());
    (recs, point)
}

/// Flip a body byte of record `i` (its CRC no longer matches).
fn corrupt(dir: &Path, recs: &[(i64, i32)], i: usize) {
    let (phy, size) = recs[i];
    let path = dir.join("commitlog").join(offset_to_file_name(phy / FILE * FILE));
    let mut data = std::fs::read(&path).unwrap();
    assert!(size > 400);
    data[(phy % FILE) as usize + 200] ^= 0xFF; // inside the 700-byte body: CRC mismatch
    std::fs::write(&path, &data).unwrap();
}

/// Messages `0..keep` are readable through their queue and their key, and the log ends there.
fn check(store: &MessageStore, recs: &[(i64, i32)], keep: usize) {
    let mut next = [0i64; 3];
    for (i, (phy, _)) in recs.iter().enumerate().take(keep) {
        let q = i % 3;
        let r = store.get_message("g", "TopicK", q as i32, next[q], 1, 1 << 20, None);
        assert_eq!(r.msg_count, 1, "message {i} missing from its queue");
        let v = RecordView::parse(&r.messages[0], false).unwrap();
        assert_eq!(v.physical_offset, *phy);
        assert_eq!(v.property("KEYS"), Some(format!("k{i}").as_str()));
        next[q] += 1;
        let found = store.query_message("TopicK", &format!("k{i}"), 4, 0, i64::MAX);
        assert!(found.phy_offsets.contains(phy), "message {i} missing from the index");
    }
    for (q, n) in next.iter().enumerate() {
        assert_eq!(store.get_max_offset_in_queue("TopicK", q as i32), *n);
    }
    let (p, s) = recs[keep - 1];
    assert_eq!(store.get_max_phy_offset(), p + s as i64);
}

#[test]
fn crash_recovery_scans_only_past_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, point) = crashed_store(dir.path());
    assert!(recs[5].0 < FILE && point > 2 * FILE, "the damage is in an old file");
    // Damage an old, checkpointed record: a full CRC scan would stop (and truncate) there.
    corrupt(dir.path(), &recs, 5);
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    let rep = store.recovery_report();
    assert!(rep.abnormal);
    assert_eq!(rep.mode, RecoveryMode::FromCheckpoint);
    assert_eq!(rep.scan_from, Some(point));
    let tail: u64 = recs[300..].iter().map(|r| r.1 as u64).sum();
    assert_eq!(rep.scanned_bytes, tail, "only the 20 records after the point are scanned");
    assert_eq!(rep.replay_from, Some(point));
    assert_eq!(rep.replayed_records, 20);
    check(&store, &recs, recs.len());
    // Appending continues after the last record, and a clean restart needs no scan.
    put(&store, 320, 1);
    store.shutdown().unwrap();
    drop(store);
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    assert_eq!(store.recovery_report().mode, RecoveryMode::Clean);
    assert_eq!(store.recovery_report().scan_from, None);
    store.shutdown().unwrap();
}

#[test]
fn torn_tail_past_the_checkpoint_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, point) = crashed_store(dir.path());
    corrupt(dir.path(), &recs, 310);
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    let rep = store.recovery_report();
    assert_eq!(rep.mode, RecoveryMode::FromCheckpoint);
    assert_eq!(rep.scan_from, Some(point));
    check(&store, &recs, 310);
    store.shutdown().unwrap();
}

#[test]
fn missing_checkpoint_falls_back_to_a_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (recs, _) = crashed_store(dir.path());
    corrupt(dir.path(), &recs, 5);
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    let rep = store.recovery_report();
    assert_eq!(rep.mode, RecoveryMode::FromTimestamp);
    assert_eq!(rep.scan_from, Some(0));
    // The full scan found the damaged record and truncated the log before it.
    check(&store, &recs, 5);
    store.shutdown().unwrap();
}

#[test]
fn stale_checkpoint_beyond_the_log_falls_back_to_a_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    let recs = put(&store, 0, 300);
    store.checkpoint_now().unwrap();
    store.halt();
    drop(store);
    // The log lost its end after the checkpoint was written (zeros from the middle of record
    // 290 on; files keep their size, a shorter one is refused at open): the record the
    // checkpoint names no longer ends at its point.
    let (phy, size) = recs[290];
    let path = dir.path().join("commitlog").join(offset_to_file_name(phy / FILE * FILE));
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    let cut = (phy % FILE) as u64 + size as u64 / 2;
    f.write_all_at(&vec![0u8; (FILE as u64 - cut) as usize], cut).unwrap();
    drop(f);
    for later in std::fs::read_dir(dir.path().join("commitlog")).unwrap() {
        let p = later.unwrap().path();
        if p.file_name().unwrap().to_str().unwrap() > path.file_name().unwrap().to_str().unwrap() {
            std::fs::remove_file(p).unwrap();
        }
    }
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    let rep = store.recovery_report();
    assert_eq!(rep.mode, RecoveryMode::FromTimestamp);
    assert_eq!(rep.scan_from, Some(0));
    check(&store, &recs, 290);
    store.shutdown().unwrap();
}
