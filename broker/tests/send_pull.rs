//! Send (V1, V2, batch) and pull (tag filter, long polling) through real sockets.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use mq_common::message::{decode_offset_msg_id, encode_batch, encode_properties, BatchItem};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::*;
use mq_common::protocol::RemotingCommand;

#[tokio::test]
async fn send_v1_v2_batch_then_pull_with_tag_filter() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("TopicA", 2).await;

    let r = b.call(send_v2(&send_header("TopicA", 0, "tagA", "k0"), b"m0")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let hdr: SendMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!((hdr.queue_id, hdr.queue_offset), (0, 0));
    assert_eq!(r.ext("MSG_REGION"), Some("DefaultRegion"));
    let (host, _off) = decode_offset_msg_id(&hdr.msg_id).unwrap();
    assert_eq!(host.to_string(), b.addr);

    let r = b.call(send_v1(&send_header("TopicA", 0, "tagB", "k1"), b"m1")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(r.decode_header::<SendMessageResponseHeader>().unwrap().queue_offset, 1);

    let items: Vec<BatchItem> = (2..5)
        .map(|i| BatchItem {
            flag: 0,
            body: Bytes::from(format!("m{i}")),
            properties: encode_properties([("TAGS", "tagA"), ("KEYS", format!("k{i}").as_str())]),
        })
        .collect();
    let mut h = send_header("TopicA", 0, "", "");
    h.properties = Some(String::new());
    h.batch = Some(true);
    let req = RemotingCommand::request_with_header(
        rq::SEND_BATCH_MESSAGE,
        &SendMessageRequestHeaderV2::from(&h),
    )
    .with_body(encode_batch(&items));
    let r = b.call(req).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let hdr: SendMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(hdr.queue_offset, 2);
    assert_eq!(hdr.msg_id.split(',').count(), 3);

    // All five.
    let r = b.call(pull_req("G1", "TopicA", 0, 0, Some("*"), None)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let msgs = decode_msgs(&r.body);
    assert_eq!(
        msgs.iter().map(|m| String::from_utf8_lossy(&m.body).to_string()).collect::<Vec<_>>(),
        ["m0", "m1", "m2", "m3", "m4"]
    );
    assert_eq!(msgs[1].property("CLUSTER"), Some("DefaultCluster"));
    let ph: PullMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!((ph.next_begin_offset, ph.min_offset, ph.max_offset), (5, 0, 5));

    // Tag filter on tagsCode.
    let r = b.call(pull_req("G1", "TopicA", 0, 0, Some("tagB"), None)).await;
    assert_eq!(r.code, response::SUCCESS);
    let msgs = decode_msgs(&r.body);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].tags(), Some("tagB"));

    // Caught up: PULL_NOT_FOUND with all four header fields.
    let r = b.call(pull_req("G1", "TopicA", 0, 5, Some("*"), None)).await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    let ph: PullMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(ph.next_begin_offset, 5);
    // Past the end: OFFSET_MOVED to max.
    let r = b.call(pull_req("G1", "TopicA", 0, 50, Some("*"), None)).await;
    assert_eq!(r.code, response::PULL_OFFSET_MOVED);
    assert_eq!(r.decode_header::<PullMessageResponseHeader>().unwrap().next_begin_offset, 5);
    // Empty queue 1 at offset 0: NOT_FOUND.
    let r = b.call(pull_req("G1", "TopicA", 1, 0, Some("*"), None)).await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);

    // Offsets.
    let q = QueueRequestHeader { topic: "TopicA".into(), queue_id: 0, committed: None };
    let r = b.call(RemotingCommand::request_with_header(rq::GET_MAX_OFFSET, &q)).await;
    assert_eq!(r.decode_header::<OffsetResponseHeader>().unwrap().offset, 5);
    let r = b.call(RemotingCommand::request_with_header(rq::GET_MIN_OFFSET, &q)).await;
    assert_eq!(r.decode_header::<OffsetResponseHeader>().unwrap().offset, 0);
    let r = b.call(RemotingCommand::request_with_header(rq::GET_EARLIEST_MSG_STORETIME, &q)).await;
    assert!(r.decode_header::<EarliestMsgStoretimeResponseHeader>().unwrap().timestamp > 0);
    let s = SearchOffsetRequestHeader {
        topic: "TopicA".into(),
        queue_id: 0,
        timestamp: 0,
        boundary_type: None,
    };
    let r = b.call(RemotingCommand::request_with_header(rq::SEARCH_OFFSET_BY_TIMESTAMP, &s)).await;
    assert_eq!(r.decode_header::<OffsetResponseHeader>().unwrap().offset, 0);

    // Query by key and view by id.
    let qh = QueryMessageRequestHeader {
        topic: "TopicA".into(),
        key: "k3".into(),
        max_num: 10,
        begin_timestamp: 0,
        end_timestamp: i64::MAX,
        unique_key_query: None,
    };
    let r = b.call(RemotingCommand::request_with_header(rq::QUERY_MESSAGE, &qh)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(decode_msgs(&r.body)[0].body.as_ref(), b"m3");
    let (_, off) = decode_offset_msg_id(hdr.msg_id.split(',').next().unwrap()).unwrap();
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::VIEW_MESSAGE_BY_ID,
            &ViewMessageRequestHeader { offset: off, topic: None },
        ))
        .await;
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(decode_msgs(&r.body)[0].body.as_ref(), b"m2");
    b.shutdown().await;
}

#[tokio::test]
async fn long_poll_wakes_on_arrival_and_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("LP", 1).await;

    // Timeout: a suspended pull on an empty queue answers NOT_FOUND after the hold time.
    let r = b.call(pull_req("G", "LP", 0, 0, Some("*"), Some(300))).await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);

    // Wake-up: park a pull with a long hold, then send.
    let client = b.client.clone();
    let addr = b.addr.clone();
    // Held for up to 120 s: only the arrival can answer it within the 60 s we wait.
    let pending = tokio::spawn(async move {
        client
            .invoke(
                &addr,
                pull_req("G", "LP", 0, 0, Some("*"), Some(120_000)),
                Duration::from_secs(150),
            )
            .await
    });
    wait_until("pull parked", T, || async {
        (b.ctl.broker().pull_hold.parked() == 1).then_some(())
    })
    .await;
    let r = b.call(send_v2(&send_header("LP", 0, "t", "k"), b"hello")).await;
    assert_eq!(r.code, 0);
    let r = tokio::time::timeout(Duration::from_secs(60), pending)
        .await
        .expect("woken by the arrival, not the hold time")
        .unwrap()
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(decode_msgs(&r.body)[0].body.as_ref(), b"hello");

    // A parked pull filtered on tag X is not woken by tag Y.
    let client = b.client.clone();
    let addr = b.addr.clone();
    let pending = tokio::spawn(async move {
        client.invoke(&addr, pull_req("G", "LP", 0, 1, Some("X"), Some(1500)), T).await
    });
    wait_until("pull parked", T, || async {
        (b.ctl.broker().pull_hold.parked() == 1).then_some(())
    })
    .await;
    b.call(send_v2(&send_header("LP", 0, "Y", "k"), b"y")).await;
    let r = pending.await.unwrap().unwrap();
    assert!(
        r.code == response::PULL_NOT_FOUND || r.code == response::PULL_RETRY_IMMEDIATELY,
        "code {}",
        r.code
    );
    b.shutdown().await;
}

#[tokio::test]
async fn sync_flush_sends_are_acknowledged_after_the_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.apply("flushDiskType", "SYNC_FLUSH").unwrap();
    let b = start(cfg).await;
    b.create_topic("Sync", 1).await;
    // Several in flight on one connection: answered through the spawned durable wait.
    let mut pending = Vec::new();
    for i in 0..20 {
        let client = b.client.clone();
        let addr = b.addr.clone();
        pending.push(tokio::spawn(async move {
            client
                .invoke(
                    &addr,
                    send_v2(&send_header("Sync", 0, "t", &format!("s{i}")), b"durable"),
                    T,
                )
                .await
        }));
    }
    let mut offsets = Vec::new();
    for p in pending {
        let r = p.await.unwrap().unwrap();
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        offsets.push(r.decode_header::<SendMessageResponseHeader>().unwrap().queue_offset);
    }
    offsets.sort();
    assert_eq!(offsets, (0..20).collect::<Vec<i64>>());
    // WAIT=false is acknowledged without waiting, and still stored.
    let mut h = send_header("Sync", 0, "t", "nowait");
    h.properties = Some(encode_properties([("TAGS", "t"), ("WAIT", "false")]));
    assert_eq!(b.call(send_v2(&h, b"x")).await.code, response::SUCCESS);
    b.shutdown().await;
}

#[tokio::test]
async fn tag_filtered_pull_and_key_query_on_a_fresh_store() {
    // (Ran on the removed in-memory store; now on the persistent store in a temp dir.)
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.apply("storeType", "file").unwrap();
    let err = cfg.apply("storeType", "memory").unwrap_err();
    assert!(err.contains("'memory'") && err.contains("only 'file'"), "{err}");
    let b = start(cfg).await;
    b.create_topic("Mem", 1).await;
    for i in 0..3 {
        assert_eq!(
            b.call(send_v2(
                &send_header("Mem", 0, if i == 1 { "b" } else { "a" }, &format!("m{i}")),
                b"x"
            ))
            .await
            .code,
            0
        );
    }
    let r = b.call(pull_req("GM", "Mem", 0, 0, Some("a"), None)).await;
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(decode_msgs(&r.body).len(), 2);
    let qh = QueryMessageRequestHeader {
        topic: "Mem".into(),
        key: "m1".into(),
        max_num: 10,
        begin_timestamp: 0,
        end_timestamp: i64::MAX,
        unique_key_query: None,
    };
    let r = b.call(RemotingCommand::request_with_header(rq::QUERY_MESSAGE, &qh)).await;
    assert_eq!(r.code, response::SUCCESS);
    b.shutdown().await;
}
