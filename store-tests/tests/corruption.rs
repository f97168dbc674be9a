//! Corruption tests: damage files on disk, reopen, and check that recovery keeps the valid prefix
//! and rebuilds what is derived (consume queues, index).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use mq_broker::store::*;
use mq_common::message::RecordView;
use mq_store_tests::{msg, small_config};

const N: usize = 200;

/// Write N messages over 3 queues and shut down cleanly. Returns (phy, size) per message.
fn fill(dir: &Path) -> Vec<(i64, i32)> {
    let store = MessageStore::open(small_config(dir, FlushDiskType::Async)).unwrap();
    let mut v = Vec::new();
    for i in 0..N {
        let r = store
            .put_message(msg(
                "TopicC",
                (i % 3) as i32,
                "t",
                &format!("k{i}"),
                vec![i as u8; 700 + i],
            ))
            .result;
        assert_eq!(r.status, PutMessageStatus::PutOk);
        v.push((r.wrote_offset, r.wrote_bytes));
    }
    store.shutdown().unwrap();
    v
}

fn commit_log_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir.join("commitlog")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn file_of(dir: &Path, phy: i64) -> (PathBuf, u64) {
    let f = 64 * 1024;
    (dir.join("commitlog").join(offset_to_file_name(phy / f * f)), (phy % f) as u64)
}

fn mark_crashed(dir: &Path) {
    std::fs::write(dir.join("abort"), b"").unwrap();
}

/// Every message before `keep` is readable by queue and key; none after it.
fn check_prefix(store: &MessageStore, recs: &[(i64, i32)], keep: usize) {
    let mut per_queue = [0i64; 3];
    for (i, (phy, _)) in recs.iter().enumerate().take(keep) {
        let q = (i % 3) as i32;
        let r = store.get_message("g", "TopicC", q, per_queue[q as usize], 1, 1 << 20, None);
        assert_eq!(r.msg_count, 1, "message {i} missing from its queue");
        let v = RecordView::parse(&r.messages[0], true).unwrap();
        assert_eq!(v.property("KEYS"), Some(format!("k{i}").as_str()));
        per_queue[q as usize] += 1;
        let found = store.query_message("TopicC", &format!("k{i}"), 8, 0, i64::MAX);
        assert!(found.phy_offsets.contains(phy), "message {i} missing from the index");
    }
    for q in 0..3 {
        assert_eq!(
            store.get_max_offset_in_queue("TopicC", q),
            per_queue[q as usize],
            "queue {q} length"
        );
    }
    for i in keep..recs.len() {
        let found = store.query_message("TopicC", &format!("k{i}"), 8, 0, i64::MAX);
        assert!(
            found.messages.iter().all(|m| RecordView::parse(m, true).unwrap().property("KEYS")
                != Some(format!("k{i}").as_str())),
            "message {i} should be gone"
        );
    }
    assert_eq!(
        store.get_max_phy_offset(),
        recs[..keep].last().map(|(p, s)| p + *s as i64).unwrap_or(0)
    );
}

fn reopen_and_append(dir: &Path) -> std::sync::Arc<MessageStore> {
    let store = MessageStore::open(small_config(dir, FlushDiskType::Async)).unwrap();
    let r = store.put_message(msg("TopicC", 0, "t", "fresh", vec![1u8; 10])).result;
    assert_eq!(r.status, PutMessageStatus::PutOk);
    assert_eq!(
        store.query_message("TopicC", "fresh", 4, 0, i64::MAX).phy_offsets,
        vec![r.wrote_offset]
    );
    store
}

/// A file cut short (mid-record) is refused, as Java refuses a file whose size is not
/// `mappedFileSizeCommitLog`, with a message naming it; nothing is changed. Once it has its size
/// back (here: zeros after the cut), recovery keeps every record before the cut.
#[test]
fn truncated_last_file_mid_record_abnormal_and_normal() {
    for crashed in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let recs = fill(dir.path());
        let (phy, size) = recs[N - 1];
        let (path, pos) = file_of(dir.path(), phy);
        let cut = pos + size as u64 / 2;
        OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
        if crashed {
            mark_crashed(dir.path());
        }
        let e = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).err().unwrap();
        let msg = e.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains(&format!("{cut} bytes")),
            "{msg}"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), cut, "the refused file is untouched");
        OpenOptions::new().write(true).open(&path).unwrap().set_len(64 * 1024).unwrap();
        let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
        check_prefix(&store, &recs, N - 1);
        store.shutdown().unwrap();
        drop(store);
        reopen_and_append(dir.path()).shutdown().unwrap();
    }
}

#[test]
fn flipped_tail_bytes_stop_recovery_at_the_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let recs = fill(dir.path());
    let bad = N - 5;
    let (phy, _) = recs[bad];
    let (path, pos) = file_of(dir.path(), phy);
    let mut data = std::fs::read(&path).unwrap();
    data[pos as usize + 100] ^= 0xFF; // inside the body: CRC mismatch
    std::fs::write(&path, &data).unwrap();
    mark_crashed(dir.path());
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    check_prefix(&store, &recs, bad);
    store.shutdown().unwrap();
    drop(store);
    reopen_and_append(dir.path()).shutdown().unwrap();
}

#[test]
fn garbage_after_the_tail_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let recs = fill(dir.path());
    let (phy, size) = recs[N - 1];
    let (path, pos) = file_of(dir.path(), phy + size as i64);
    let mut data = std::fs::read(&path).unwrap();
    for (i, b) in data[pos as usize..pos as usize + 64].iter_mut().enumerate() {
        *b = (i * 37 + 11) as u8;
    }
    std::fs::write(&path, &data).unwrap();
    mark_crashed(dir.path());
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    check_prefix(&store, &recs, N);
    store.shutdown().unwrap();
}

#[test]
fn deleted_consume_queue_files_are_rebuilt() {
    // A middle file (leaves a hole), the last file or the whole queue, after a clean stop or a
    // crash. After a clean stop no scan runs; the shutdown's consume-queue manifest reveals the
    // short queue.
    for (which, crashed) in
        [("middle", false), ("last", false), ("all", false), ("last", true), ("all", true)]
    {
        let dir = tempfile::tempdir().unwrap();
        let recs = fill(dir.path());
        let qdir = dir.path().join("consumequeue/TopicC/1");
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&qdir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        assert!(files.len() >= 3);
        match which {
            "middle" => std::fs::remove_file(&files[1]).unwrap(),
            "last" => std::fs::remove_file(files.last().unwrap()).unwrap(),
            _ => std::fs::remove_dir_all(&qdir).unwrap(),
        }
        if crashed {
            mark_crashed(dir.path());
        }
        let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
        check_prefix(&store, &recs, N);
        store.shutdown().unwrap();
    }
}

#[test]
fn zeroed_consume_queue_tail_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let recs = fill(dir.path());
    let qdir = dir.path().join("consumequeue/TopicC/2");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&qdir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let last = files.last().unwrap();
    let mut d = std::fs::read(last).unwrap();
    d[20..].fill(0);
    std::fs::write(last, &d).unwrap();
    mark_crashed(dir.path());
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    check_prefix(&store, &recs, N);
    store.shutdown().unwrap();
}

#[test]
fn damaged_checkpoint_and_empty_files_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let recs = fill(dir.path());
    std::fs::write(dir.path().join("checkpoint"), b"garbage").unwrap();
    // A stray empty commit-log file after the last one is refused (another size), and
    // left alone; junk names are ignored.
    let last = commit_log_files(dir.path()).last().unwrap().clone();
    let next: i64 = last.file_name().unwrap().to_str().unwrap().parse::<i64>().unwrap() + 64 * 1024;
    let stray = dir.path().join("commitlog").join(offset_to_file_name(next));
    std::fs::write(&stray, b"").unwrap();
    std::fs::write(dir.path().join("commitlog/README"), b"x").unwrap();
    std::fs::create_dir_all(dir.path().join("consumequeue/TopicC/notanumber")).unwrap();
    let e = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).err().unwrap();
    assert!(e.to_string().contains("is 0 bytes"), "{e}");
    assert!(stray.exists());
    std::fs::remove_file(&stray).unwrap();
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    check_prefix(&store, &recs, N);
    store.shutdown().unwrap();
}

/// QUEUEOFFSET is not under the body CRC: a damaged one must not make recovery fill the queue
/// with blank units up to it (a flipped high bit would fill the disk). The record keeps its
/// bytes in the log but gets no consume-queue unit; everything else recovers.
#[test]
fn a_damaged_queue_offset_is_not_dispatched_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let recs = fill(dir.path());
    // The last message (199) is queue 1's 67th (offset 66); say it is 1,066 instead.
    let (path, pos) = file_of(dir.path(), recs[N - 1].0);
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &1066i64.to_be_bytes(), pos + 20).unwrap();
    drop(f);
    // Make recovery dispatch it again: its queue's last file is gone, the store crashed.
    let qdir = dir.path().join("consumequeue/TopicC/1");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&qdir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    std::fs::remove_file(files.last().unwrap()).unwrap();
    mark_crashed(dir.path());
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    assert_eq!(store.get_max_offset_in_queue("TopicC", 1), 66, "no blank units up to 1,066");
    assert_eq!(store.get_max_offset_in_queue("TopicC", 0), 67);
    assert_eq!(store.get_max_offset_in_queue("TopicC", 2), 66);
    let last = recs[N - 1];
    assert_eq!(store.get_max_phy_offset(), last.0 + last.1 as i64, "the log keeps the record");
    drop(store);
    reopen_and_append(dir.path()).shutdown().unwrap();
}
