//! End-to-end behaviour of the store API: put, get, query, delay, transactions, restart.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mq_broker::store::*;
use mq_common::message::property::{DELAY, REAL_QID, REAL_TOPIC};
use mq_common::message::sysflag::{TRANSACTION_PREPARED_TYPE, TRANSACTION_ROLLBACK_TYPE};
use mq_common::message::{decode_all, java_hash, MessageExt, RecordView};
use mq_common::protocol::body::system_topics::SCHEDULE_TOPIC;
use mq_store_tests::{msg, small_config};

#[test]
fn put_get_query_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path(), FlushDiskType::Async);
    let store = MessageStore::open(cfg.clone()).unwrap();
    store.start().unwrap();
    let arrivals = Arc::new(AtomicUsize::new(0));
    let a2 = arrivals.clone();
    store.set_arrival_listener(Arc::new(move |_t, _q, _o, _tag| {
        a2.fetch_add(1, Ordering::Relaxed);
    }));
    let body = Bytes::from(vec![b'x'; 1000]);
    let mut offsets = Vec::new();
    for i in 0..300 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        let r = store.put_message(msg("TopicA", i % 3, tag, &format!("k{i}"), body.clone()));
        assert_eq!(r.status, PutMessageStatus::PutOk, "{r:?}");
        assert_eq!(r.queue_offset, (i / 3) as i64);
        assert_eq!(r.msg_id.len(), 32);
        offsets.push(r.wrote_offset);
        // Visible immediately through CQ and index.
        let q = store.query_message("TopicA", &format!("k{i}"), 10, 0, i64::MAX);
        assert_eq!(q.phy_offsets, vec![r.wrote_offset]);
    }
    assert_eq!(arrivals.load(Ordering::Relaxed), 300);
    assert!(store.runtime_info().commit_log_max_offset > 5 * 64 * 1024);
    assert_eq!(store.get_max_offset_in_queue("TopicA", 0), 100);

    let r = store.get_message("g", "TopicA", 0, 0, 32, 256 * 1024, None);
    assert_eq!(r.status, GetMessageStatus::Found);
    assert_eq!(r.msg_count, 20); // one CQ file holds 20 units; reads stop at its end
    let msgs = decode_all(&r.concat(), true).unwrap();
    assert_eq!(msgs[5].queue_offset, 5);
    assert_eq!(msgs[5].keys(), vec!["k15"]);
    assert_eq!(r.next_begin_offset, 20);
    // Tag filter on tagsCode.
    let even = java_hash("even") as i64;
    let f = move |t: i64| t == even;
    let r = store.get_message("g", "TopicA", 1, 0, 32, 256 * 1024, Some(&f));
    assert!(r
        .messages
        .iter()
        .all(|m| MessageExt::decode(m, true).unwrap().0.tags() == Some("even")));
    assert_eq!(r.msg_count, 10);
    // Byte limit.
    let r = store.get_message("g", "TopicA", 2, 0, 32, 3000, None);
    assert_eq!(r.msg_count, 2);
    assert_eq!(r.next_begin_offset, 2);
    // Status table.
    assert_eq!(
        store.get_message("g", "Nope", 0, 5, 32, 1 << 20, None).status,
        GetMessageStatus::NoMatchedLogicQueue
    );
    let r = store.get_message("g", "TopicA", 0, 100, 32, 1 << 20, None);
    assert_eq!((r.status, r.next_begin_offset), (GetMessageStatus::OffsetOverflowOne, 100));
    let r = store.get_message("g", "TopicA", 0, 150, 32, 1 << 20, None);
    assert_eq!((r.status, r.next_begin_offset), (GetMessageStatus::OffsetOverflowBadly, 100));
    // By id / offset.
    let rec = store.look_message_by_offset(offsets[7]).unwrap();
    assert_eq!(RecordView::parse(&rec, true).unwrap().property("KEYS"), Some("k7"));
    assert!(store.look_message_by_offset(offsets[7] + 1).is_none());
    // UNIQ_KEY query.
    assert_eq!(store.query_message("TopicA", "U-k9", 5, 0, i64::MAX).phy_offsets, vec![offsets[9]]);
    // Time.
    let t = store.get_message_store_timestamp("TopicA", 0, 10).unwrap();
    let o = store.get_offset_in_queue_by_time("TopicA", 0, t);
    assert_eq!(store.get_message_store_timestamp("TopicA", 0, o), Some(t));
    assert_eq!(store.get_offset_in_queue_by_time("TopicA", 0, 0), 0);
    assert_eq!(store.get_offset_in_queue_by_time("TopicA", 0, i64::MAX), 99);
    assert!(store.get_earliest_message_time("TopicA", 0).unwrap() <= t);
    let stats = store.queue_stats("TopicA");
    assert_eq!(stats.len(), 3);
    assert_eq!(stats[0].max_offset, 100);
    store.shutdown().unwrap();
    drop(store);
    assert!(!dir.path().join("abort").exists());

    // Clean restart: everything back, appends continue.
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!(store.get_max_offset_in_queue("TopicA", 0), 100);
    let r = store.put_message(msg("TopicA", 0, "t", "after", body.clone()));
    assert_eq!(r.queue_offset, 100);
    assert_eq!(
        store.query_message("TopicA", "k299", 5, 0, i64::MAX).phy_offsets,
        vec![offsets[299]]
    );
    let r = store.get_message("g", "TopicA", 0, 99, 32, 1 << 20, None);
    assert_eq!(r.msg_count, 1); // file boundary at 100
    let r = store.get_message("g", "TopicA", 0, 100, 32, 1 << 20, None);
    assert_eq!(decode_all(&r.concat(), true).unwrap()[0].keys(), vec!["after"]);
    store.shutdown().unwrap();
}

#[test]
fn delay_and_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Async)).unwrap();
    let mut m = msg("TopicD", 2, "t", "d1", &b"hi"[..]);
    m.set_property(DELAY, "30"); // capped to 18
    let r = store.put_message(m);
    assert_eq!((r.topic.as_str(), r.queue_id), (SCHEDULE_TOPIC, 17));
    let g = store.get_message("g", SCHEDULE_TOPIC, 17, 0, 1, 1 << 20, None);
    assert_eq!(g.msg_count, 1);
    let v = RecordView::parse(&g.messages[0], true).unwrap();
    assert_eq!(v.property(REAL_TOPIC), Some("TopicD"));
    assert_eq!(v.property(REAL_QID), Some("2"));
    assert_eq!(v.property(DELAY), Some("18"));
    // tagsCode = deliver time.
    let seen = std::cell::Cell::new(0i64);
    let f = |t: i64| {
        seen.set(t);
        true
    };
    store.get_message("g", SCHEDULE_TOPIC, 17, 0, 1, 1 << 20, Some(&f));
    assert_eq!(seen.get(), v.store_timestamp + 2 * 3600 * 1000);

    let mut p = msg("TopicT", 0, "t", "tx", &b"half"[..]);
    p.sys_flag = TRANSACTION_PREPARED_TYPE;
    let r = store.put_message(p);
    assert_eq!(r.queue_offset, 0);
    assert_eq!(store.get_max_offset_in_queue("TopicT", 0), 0);
    assert!(store.look_message_by_offset(r.wrote_offset).is_some());
    let mut rb = msg("TopicT", 0, "t", "rb", &b"rb"[..]);
    rb.sys_flag = TRANSACTION_ROLLBACK_TYPE;
    store.put_message(rb);
    assert!(store.query_message("TopicT", "rb", 5, 0, i64::MAX).messages.is_empty());
    assert_eq!(store.query_message("TopicT", "tx", 5, 0, i64::MAX).messages.len(), 1);
    store.put_message(msg("TopicT", 0, "t", "n", &b"n"[..]));
    assert_eq!(store.get_max_offset_in_queue("TopicT", 0), 1);
    store.shutdown().unwrap();
}

#[test]
fn batch_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path(), FlushDiskType::Async);
    cfg.max_message_size = 2000;
    let store = MessageStore::open(cfg).unwrap();
    let batch: Vec<_> =
        (0..32).map(|i| msg("TopicB", 1, "t", &format!("b{i}"), vec![1u8; 1024])).collect();
    for round in 0..5 {
        let r = store.put_messages(batch.clone());
        assert_eq!(r.status, PutMessageStatus::PutOk);
        assert_eq!(r.msg_num, 32);
        assert_eq!(r.queue_offset, round * 32);
        assert_eq!(r.msg_ids.len(), 32);
        assert_eq!(r.msg_id.split(',').count(), 32);
        // Whole batch in one file.
        assert_eq!(r.wrote_offset / 65536, (r.end_offset() - 1) / 65536);
    }
    let q = store.query_message("TopicB", "b31", 100, 0, i64::MAX);
    assert_eq!(q.messages.len(), 5);
    let r = store.put_message(msg("TopicB", 0, "t", "big", vec![0u8; 2001]));
    assert_eq!(r.status, PutMessageStatus::MessageIllegal);
    let mut m = msg("TopicB", 0, "t", "p", &b"x"[..]);
    m.properties = "K\u{1}".to_string() + &"v".repeat(40000) + "\u{2}";
    assert_eq!(store.put_message(m).status, PutMessageStatus::PropertiesSizeExceeded);
    let huge: Vec<_> =
        (0..70).map(|i| msg("TopicB", 1, "t", &format!("h{i}"), vec![1u8; 1000])).collect();
    assert_eq!(store.put_messages(huge).status, PutMessageStatus::MessageIllegal);
    let mut mixed = batch.clone();
    mixed[3].queue_id = 2;
    assert_eq!(store.put_messages(mixed).status, PutMessageStatus::MessageIllegal);
    assert!(matches!(
        MessageStore::open(small_config(dir.path(), FlushDiskType::Async)),
        Err(StoreError::Locked(_))
    ));
    store.delete_topics(&["TopicB"]);
    assert_eq!(store.get_max_offset_in_queue("TopicB", 1), 0);
    assert!(!dir.path().join("consumequeue/TopicB").exists());
    store.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_flush_group_commit_and_poison() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Sync)).unwrap();
    store.start().unwrap();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let r = s
                    .put_message_durable(msg(
                        "TopicS",
                        t % 4,
                        "t",
                        &format!("{t}-{i}"),
                        vec![7u8; 200],
                    ))
                    .await;
                assert_eq!(r.status, PutMessageStatus::PutOk);
                assert!(s.runtime_info().commit_log_flushed_offset >= r.end_offset());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    store.inject_flush_failure();
    let r = store.put_message_durable(msg("TopicS", 0, "t", "x", &b"x"[..])).await;
    assert_eq!(r.status, PutMessageStatus::Poisoned, "{r:?}");
    let r = store.put_message(msg("TopicS", 0, "t", "y", &b"y"[..]));
    assert_eq!(r.status, PutMessageStatus::Poisoned);
    assert!(r.remark.contains("poisoned"));
    assert!(store.is_poisoned());
    assert!(matches!(store.shutdown(), Err(StoreError::Poisoned)));
    assert!(dir.path().join("abort").exists());
}

/// The callback form of the durable wait: every callback runs once, after the flush that covers
/// its record; after a failed fsync pending and new callbacks get `Poisoned`; at shutdown,
/// unsatisfied ones get `ShutDown`.
#[test]
fn sync_flush_callbacks_complete_after_the_covering_flush() {
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path(), FlushDiskType::Sync)).unwrap();
    store.start().unwrap();
    let (tx, rx) = mpsc::channel();
    let n = 200;
    for i in 0..n {
        let r = store.put_message(msg("TopicCb", i % 4, "t", &format!("c{i}"), vec![3u8; 300]));
        assert_eq!(r.status, PutMessageStatus::PutOk);
        assert!(r.needs_durable_wait);
        let (tx, s, end) = (tx.clone(), store.clone(), r.end_offset());
        store.on_durable(
            end,
            Box::new(move |res| {
                let flushed = s.runtime_info().commit_log_flushed_offset;
                tx.send((res, flushed >= end)).unwrap();
            }),
        );
    }
    for _ in 0..n {
        let (res, covered) = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        assert_eq!(res, Ok(()));
        assert!(covered, "a callback ran before the flush covering its record");
    }
    assert!(rx.try_recv().is_err(), "each callback runs once");
    store.inject_flush_failure();
    let r = store.put_message(msg("TopicCb", 0, "t", "p", &b"p"[..]));
    let tx2 = tx.clone();
    store.on_durable(r.end_offset(), Box::new(move |res| tx2.send((res, false)).unwrap()));
    let (res, _) = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    assert_eq!(res, Err(DurabilityError::Poisoned));
    // Registered after poisoning: answered at once.
    store.on_durable(i64::MAX, Box::new(move |res| tx.send((res, false)).unwrap()));
    assert_eq!(rx.try_recv().unwrap().0, Err(DurabilityError::Poisoned));
    assert!(store.shutdown().is_err());
}
