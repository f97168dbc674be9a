//! Put groups (`MessageStore::put_group`: a connection's pipelined sends stored under one lock
//! hold with one commit-log write per file): per-queue offsets, readable records, file ends,
//! a refused set among stored ones. Run in both commit-log write modes
//! (`STORE_TEST_COMMIT_LOG_WRITE`, see `scripts/test-all.sh`).

use std::collections::HashMap;

use mq_broker::store::*;
use mq_common::message::RecordView;
use mq_store_tests::{msg, small_config};

fn open(dir: &std::path::Path) -> std::sync::Arc<MessageStore> {
    let store = MessageStore::open(small_config(dir, FlushDiskType::Async)).unwrap();
    store.start().unwrap();
    store
}

/// The record at (topic, queue, offset) has key `key` and lies at `phy`.
fn assert_readable(store: &MessageStore, topic: &str, q: i32, off: i64, key: &str, phy: i64) {
    let r = store.get_message("g", topic, q, off, 1, 1 << 20, None);
    assert_eq!(r.msg_count, 1, "{topic}/{q}@{off}: {:?}", r.status);
    let v = RecordView::parse(&r.messages[0], true).expect("valid record");
    assert_eq!(v.property("KEYS"), Some(key), "{topic}/{q}@{off}");
    assert_eq!(v.physical_offset, phy);
    assert_eq!(v.queue_offset, off);
}

/// Checks every stored answer: readable at its queue offset, and per queue the offsets of a
/// group continue where the queue was, without a gap.
fn check_group(store: &MessageStore, keys: &[(String, String, i32)], puts: Vec<Put>) {
    let mut next: HashMap<(String, i32), i64> = HashMap::new();
    for ((key, topic, q), put) in keys.iter().zip(puts) {
        let r = put.result;
        if !r.status.is_stored() {
            continue;
        }
        assert_eq!((&r.topic, r.queue_id), (topic, *q));
        let want = next.entry((topic.clone(), *q)).or_insert_with(|| r.queue_offset);
        assert_eq!(r.queue_offset, *want, "consecutive offsets in {topic}/{q}");
        *want += 1;
        assert_eq!(r.msg_ids.len(), 1);
        assert_readable(store, topic, *q, r.queue_offset, key, r.wrote_offset);
    }
}

#[test]
fn a_group_across_queues_gets_consecutive_offsets_per_queue() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // Queue 0 of GroupA already holds two messages: the group continues after them.
    for i in 0..2 {
        let r = store.put_message(msg("GroupA", 0, "t", &format!("pre{i}"), vec![1u8; 50]));
        assert_eq!(r.result.queue_offset, i);
    }
    let mut keys = Vec::new();
    let mut sets = Vec::new();
    for i in 0..60 {
        let (topic, q) = if i % 3 == 0 { ("GroupB", 1) } else { ("GroupA", i % 2) };
        let key = format!("g{i}");
        sets.push(PutSet::One(msg(topic, q, "t", &key, vec![i as u8; 100 + i as usize])));
        keys.push((key, topic.to_owned(), q));
    }
    let puts = store.put_group(sets);
    assert_eq!(puts.len(), 60);
    assert!(puts.iter().all(|p| p.result.status == PutMessageStatus::PutOk));
    // Appended in order, back to back (the group fits in the active 64 KiB file).
    for w in puts.windows(2) {
        let a = &w[0].result;
        assert_eq!(a.wrote_offset + a.wrote_bytes as i64, w[1].result.wrote_offset);
    }
    assert_eq!(puts[2].result.queue_offset, 2, "after the two earlier puts of GroupA/0");
    check_group(&store, &keys, puts);
    assert_eq!(store.get_max_offset_in_queue("GroupA", 0), 2 + 20);
    assert_eq!(store.get_max_offset_in_queue("GroupA", 1), 20);
    assert_eq!(store.get_max_offset_in_queue("GroupB", 1), 20);
    // A put after the group continues each queue.
    let r = store.put_message(msg("GroupB", 1, "t", "after", vec![2u8; 10])).result;
    assert_eq!(r.queue_offset, 20);
}

#[test]
fn a_group_crossing_file_ends_continues_in_the_next_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let file = 64 * 1024;
    let mut keys = Vec::new();
    let mut sets = Vec::new();
    // ~3000-byte records, 100 of them: about 4.6 files of 64 KiB.
    for i in 0..100 {
        let key = format!("f{i}");
        sets.push(PutSet::One(msg("GroupF", i % 2, "t", &key, vec![7u8; 2900 + i as usize])));
        keys.push((key, "GroupF".to_owned(), i % 2));
    }
    let puts = store.put_group(sets);
    assert!(puts.iter().all(|p| p.result.status == PutMessageStatus::PutOk));
    let files: std::collections::BTreeSet<i64> =
        puts.iter().map(|p| p.result.wrote_offset / file).collect();
    assert!(files.len() >= 4, "the group spans files: {files:?}");
    for p in &puts {
        let r = &p.result;
        assert_eq!(
            r.wrote_offset / file,
            (r.wrote_offset + r.wrote_bytes as i64 - 1) / file,
            "no record straddles a file"
        );
    }
    check_group(&store, &keys, puts);
    // The log reads back whole after a restart (blank markers where the files end).
    store.shutdown().unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.get_max_offset_in_queue("GroupF", 0), 50);
    assert_readable(&store, "GroupF", 1, 49, "f99", {
        let r = store.get_message("g", "GroupF", 1, 49, 1, 1 << 20, None);
        RecordView::parse(&r.messages[0], true).unwrap().physical_offset
    });
}

#[test]
fn a_refused_set_does_not_fail_the_others_of_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let max = store.live_config().max_message_size();
    let mut keys = Vec::new();
    let mut sets = Vec::new();
    for i in 0..12 {
        let key = format!("r{i}");
        let body = if i == 4 { vec![0u8; max + 1] } else { vec![3u8; 200] };
        let mut m = msg("GroupR", 0, "t", &key, body);
        if i == 8 {
            m.properties.push_str(&"x".repeat(40_000)); // properties over 32767 bytes
        }
        sets.push(PutSet::One(m));
        keys.push((key, "GroupR".to_owned(), 0));
    }
    // A batch of another queue between them: one answer for its three messages.
    let batch: Vec<_> =
        (0..3).map(|k| msg("GroupR", 1, "t", &format!("b{k}"), vec![5u8; 90])).collect();
    sets.insert(6, PutSet::Batch(batch));
    keys.insert(6, ("b0".to_owned(), "GroupR".to_owned(), 1));
    let puts = store.put_group(sets);
    assert_eq!(puts.len(), 13);
    let statuses: Vec<_> = puts.iter().map(|p| p.result.status).collect();
    assert_eq!(statuses[4], PutMessageStatus::MessageIllegal);
    assert_eq!(statuses[9], PutMessageStatus::PropertiesSizeExceeded);
    assert_eq!(statuses.iter().filter(|s| **s == PutMessageStatus::PutOk).count(), 11);
    let b = &puts[6].result;
    assert_eq!((b.msg_num, b.msg_ids.len(), b.queue_offset), (3, 3, 0));
    assert_eq!(b.msg_id, b.msg_ids.join(","));
    // Queue 0 holds the 10 stored messages at offsets 0..10, no gap where the refused were.
    let batch_put = &puts[6];
    assert_readable(&store, "GroupR", 1, 2, "b2", {
        let r = store.get_message("g", "GroupR", 1, 2, 1, 1 << 20, None);
        let v = RecordView::parse(&r.messages[0], true).unwrap();
        assert!(v.physical_offset > batch_put.result.wrote_offset);
        v.physical_offset
    });
    let (mut k2, mut p2) = (Vec::new(), Vec::new());
    for (k, p) in keys.into_iter().zip(puts) {
        if k.2 == 0 {
            k2.push(k);
            p2.push(p);
        }
    }
    check_group(&store, &k2, p2);
    assert_eq!(store.get_max_offset_in_queue("GroupR", 0), 10);
    assert_eq!(store.get_max_offset_in_queue("GroupR", 1), 3);
}

/// `MessageStore::put_joined` (the gRPC port's group commit): puts made by many tasks at
/// once are all stored, each answered with its own result, gapless per queue.
#[test]
fn joined_puts_from_many_tasks_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let keys: Vec<(String, String, i32)> =
        (0..300).map(|i| (format!("j{i}"), "Joined".to_string(), i % 3)).collect();
    let puts = rt.block_on(async {
        let tasks: Vec<_> = keys
            .iter()
            .map(|(key, topic, q)| {
                let (store, m) = (store.clone(), msg(topic, *q, "t", key, vec![7u8; 200]));
                tokio::spawn(async move { store.put_joined(PutSet::One(m)).await })
            })
            .collect();
        let mut puts = Vec::new();
        for t in tasks {
            puts.push(t.await.unwrap());
        }
        puts
    });
    assert!(puts.iter().all(|p| p.result.status == PutMessageStatus::PutOk));
    let mut offsets: HashMap<i32, Vec<i64>> = HashMap::new();
    for ((key, topic, q), p) in keys.iter().zip(&puts) {
        assert_eq!(p.result.queue_id, *q);
        assert_readable(&store, topic, *q, p.result.queue_offset, key, p.result.wrote_offset);
        offsets.entry(*q).or_default().push(p.result.queue_offset);
    }
    for (q, mut o) in offsets {
        o.sort_unstable();
        assert_eq!(o, (0..100).collect::<Vec<i64>>(), "queue {q}: every offset once");
    }
}

/// A leader cancelled while it yields (its request was dropped) still stores the puts queued
/// behind it, its own included: no follower waits forever, nothing queued is lost.
#[test]
fn a_cancelled_leader_stores_the_queue_it_leads() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut cx = Context::from_waker(Waker::noop());
    let mut leader =
        Box::pin(store.put_joined(PutSet::One(msg("Lead", 0, "t", "l", vec![1u8; 10]))));
    assert!(leader.as_mut().poll(&mut cx).is_pending(), "the leader yields first");
    let mut followers: Vec<_> = (0..5)
        .map(|i| {
            Box::pin(store.put_joined(PutSet::One(msg(
                "Lead",
                0,
                "t",
                &format!("f{i}"),
                vec![2u8; 10],
            ))))
        })
        .collect();
    for f in &mut followers {
        assert!(f.as_mut().poll(&mut cx).is_pending(), "a follower waits for the leader");
    }
    drop(leader);
    for (i, f) in followers.iter_mut().enumerate() {
        let Poll::Ready(p) = f.as_mut().poll(&mut cx) else { panic!("follower {i} stranded") };
        assert_eq!(p.result.status, PutMessageStatus::PutOk);
        assert_readable(
            &store,
            "Lead",
            0,
            p.result.queue_offset,
            &format!("f{i}"),
            p.result.wrote_offset,
        );
    }
    // The cancelled leader's own message was stored too (at offset 0): at-least-once.
    let r = store.get_message("g", "Lead", 0, 0, 1, 1 << 20, None);
    let v = RecordView::parse(&r.messages[0], true).expect("valid record");
    assert_eq!(v.property("KEYS"), Some("l"));
    // And the join is free again: the next put leads and completes.
    let next = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(store.put_joined(PutSet::One(msg("Lead", 0, "t", "n", vec![3u8; 10]))));
    assert_eq!(next.result.queue_offset, 6);
}

/// A leader cancelled after it handed its group to the join writer (its request was dropped
/// while the group was being written): the writer answers that group's followers itself, and
/// every message of the group is stored.
#[test]
fn a_leader_cancelled_while_its_group_is_written_still_gets_the_group_answered() {
    use std::future::Future;
    use std::task::{Context, Waker};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut cx = Context::from_waker(Waker::noop());
    let mut leader =
        Box::pin(store.put_joined(PutSet::One(msg("Gone", 0, "t", "l", vec![1u8; 10]))));
    assert!(leader.as_mut().poll(&mut cx).is_pending(), "the leader yields first");
    let followers: Vec<_> = (0..5)
        .map(|i| {
            let mut f = Box::pin(store.put_joined(PutSet::One(msg(
                "Gone",
                0,
                "t",
                &format!("f{i}"),
                vec![2u8; 10],
            ))));
            assert!(f.as_mut().poll(&mut cx).is_pending(), "a follower waits for the leader");
            f
        })
        .collect();
    // The leader takes the queue and hands it to the writer; cancelled right after (if the
    // writer was quicker than this poll, the leader answered the group itself: also fine).
    let _ = leader.as_mut().poll(&mut cx);
    drop(leader);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (i, f) in followers.into_iter().enumerate() {
        let p = rt
            .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), f).await })
            .unwrap_or_else(|_| panic!("follower {i} stranded"));
        assert_eq!(p.result.status, PutMessageStatus::PutOk);
        assert_readable(
            &store,
            "Gone",
            0,
            p.result.queue_offset,
            &format!("f{i}"),
            p.result.wrote_offset,
        );
    }
    let r = store.get_message("g", "Gone", 0, 0, 1, 1 << 20, None);
    let v = RecordView::parse(&r.messages[0], true).expect("valid record");
    assert_eq!(v.property("KEYS"), Some("l"), "the cancelled leader's own message is stored");
    // The join is free again.
    let next = rt.block_on(store.put_joined(PutSet::One(msg("Gone", 0, "t", "n", vec![3u8; 10]))));
    assert_eq!(next.result.queue_offset, 6);
}
