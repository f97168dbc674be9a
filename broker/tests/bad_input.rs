//! Bad input gets a RocketMQ error code and a remark saying what was wrong; nothing is stored.

mod common;

use bytes::Bytes;
use common::*;
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::*;
use mq_common::protocol::RemotingCommand;

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.apply("maxMessageSize", "1024").unwrap();
    let b = start(cfg).await;
    b.create_topic("Good", 1).await;

    // Bad topic name.
    let r = b.call(send_v2(&send_header("bad topic!", 0, "t", "k"), b"x")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.as_deref().unwrap_or("").contains("bad topic!"), "{:?}", r.remark);

    // Oversized body.
    let r = b.call(send_v2(&send_header("Good", 0, "t", "k"), &vec![b'x'; 2048])).await;
    assert_eq!(r.code, response::MESSAGE_ILLEGAL);
    assert!(r.remark.as_deref().unwrap_or("").contains("maxMessageSize"), "{:?}", r.remark);

    // Missing header field (no topic "b").
    let mut req = send_v2(&send_header("Good", 0, "t", "k"), b"x");
    req.ext_fields.remove("b");
    let r = b.call(req).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(
        r.remark.as_deref().unwrap_or("").contains("'b'")
            || r.remark.as_deref().unwrap_or("").contains("topic"),
        "{:?}",
        r.remark
    );

    // Missing field on a pull: still the four response header fields.
    let mut req = pull_req("G", "Good", 0, 0, Some("*"), None);
    req.ext_fields.remove("consumerGroup");
    let r = b.call(req).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.as_deref().unwrap_or("").contains("consumerGroup"), "{:?}", r.remark);
    assert!(r.decode_header::<PullMessageResponseHeader>().is_ok());

    // Unknown request code.
    let r = b.call(RemotingCommand::request(9999)).await;
    assert_eq!(r.code, response::REQUEST_CODE_NOT_SUPPORTED);

    // Pull on a queue that does not exist.
    let r = b.call(pull_req("G", "Good", 7, 0, Some("*"), None)).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.as_deref().unwrap_or("").contains("queueId[7]"), "{:?}", r.remark);
    // ... on a topic that does not exist.
    let r = b.call(pull_req("G", "Missing", 0, 0, Some("*"), None)).await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST);

    // Send to a queue id out of range and to a system topic.
    let r = b.call(send_v2(&send_header("Good", 5, "t", "k"), b"x")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    let r = b.call(send_v2(&send_header("SCHEDULE_TOPIC_XXXX", 0, "t", "k"), b"x")).await;
    assert_eq!(r.code, response::NO_PERMISSION);

    // Garbage bodies.
    let r = b
        .call(RemotingCommand::request(rq::HEART_BEAT).with_body(Bytes::from_static(b"{not json")))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    let mut h = send_header("Good", 0, "", "");
    h.batch = Some(true);
    let r = b
        .call(
            RemotingCommand::request_with_header(
                rq::SEND_BATCH_MESSAGE,
                &SendMessageRequestHeaderV2::from(&h),
            )
            .with_body(Bytes::from_static(b"\x00\x00\x00\x50garbage")),
        )
        .await;
    assert_eq!(r.code, response::MESSAGE_ILLEGAL);

    // Nothing was stored.
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::GET_MAX_OFFSET,
            &QueueRequestHeader { topic: "Good".into(), queue_id: 0, committed: None },
        ))
        .await;
    assert_eq!(r.decode_header::<OffsetResponseHeader>().unwrap().offset, 0);
    b.shutdown().await;
}
