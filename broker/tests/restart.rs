//! Persistence across a broker restart (same store dir): topics, consumer offsets, messages,
//! and delayed messages that fall due while the broker is down or after it restarts.

mod common;

use std::time::Duration;

use common::*;
use mq_common::message::property::DELAY;
use mq_common::message::{encode_properties, property::TAGS};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::*;
use mq_common::protocol::RemotingCommand;

#[tokio::test]
async fn topics_offsets_and_messages_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("Persist", 2).await;
    for i in 0..10 {
        let r = b
            .call(send_v2(
                &send_header("Persist", i % 2, "t", &format!("k{i}")),
                format!("p{i}").as_bytes(),
            ))
            .await;
        assert_eq!(r.code, 0, "{:?}", r.remark);
    }
    let u = UpdateConsumerOffsetRequestHeader {
        consumer_group: "GP".into(),
        topic: "Persist".into(),
        queue_id: 1,
        commit_offset: 3,
    };
    assert_eq!(
        b.call(RemotingCommand::request_with_header(rq::UPDATE_CONSUMER_OFFSET, &u)).await.code,
        0
    );
    b.shutdown().await;

    let b = start(test_config(dir.path())).await;
    let r = b.call(RemotingCommand::request(rq::GET_ALL_TOPIC_CONFIG)).await;
    assert!(String::from_utf8_lossy(&r.body).contains("\"Persist\""));
    let q = QueryConsumerOffsetRequestHeader {
        consumer_group: "GP".into(),
        topic: "Persist".into(),
        queue_id: 1,
        set_zero_if_not_found: None,
    };
    let r = b.call(RemotingCommand::request_with_header(rq::QUERY_CONSUMER_OFFSET, &q)).await;
    assert_eq!(r.code, 0);
    assert_eq!(r.decode_header::<OffsetResponseHeader>().unwrap().offset, 3);
    let r = b.call(pull_req("GX", "Persist", 0, 0, Some("*"), None)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let bodies: Vec<String> =
        decode_msgs(&r.body).iter().map(|m| String::from_utf8_lossy(&m.body).to_string()).collect();
    assert_eq!(bodies, ["p0", "p2", "p4", "p6", "p8"]);
    // New sends continue the queue offsets.
    let r = b.call(send_v2(&send_header("Persist", 0, "t", "k"), b"after")).await;
    assert_eq!(r.decode_header::<SendMessageResponseHeader>().unwrap().queue_offset, 5);
    // consumerOffset.json is Java's format.
    let text = std::fs::read_to_string(dir.path().join("config/consumerOffset.json")).unwrap();
    assert!(text.contains("Persist@GP"), "{text}");
    b.shutdown().await;
}

#[tokio::test]
async fn delayed_message_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("Delayed", 1).await;
    let mut h = send_header("Delayed", 0, "t", "d1");
    h.properties = Some(encode_properties([(TAGS, "t"), (DELAY, "2")]));
    let r = b.call(send_v2(&h, b"late")).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    // Not there yet.
    let r = b.call(pull_req("GD", "Delayed", 0, 0, Some("*"), None)).await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    b.shutdown().await;

    let b = start(test_config(dir.path())).await;
    let msg = wait_until("delayed message delivered", Duration::from_secs(15), || async {
        let r = b.call(pull_req("GD", "Delayed", 0, 0, Some("*"), Some(1000))).await;
        (r.code == response::SUCCESS).then(|| decode_msgs(&r.body).remove(0))
    })
    .await;
    assert_eq!(msg.body.as_ref(), b"late");
    assert_eq!(msg.topic, "Delayed");
    assert!(msg.store_timestamp - msg.born_timestamp >= 1500, "delivered too early");
    // Exactly once: nothing more in the queue, and the level's offset moved past it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = b.call(pull_req("GD", "Delayed", 0, 1, Some("*"), None)).await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    let r = b.call(RemotingCommand::request(rq::GET_ALL_DELAY_OFFSET)).await;
    assert!(
        String::from_utf8_lossy(&r.body).contains("\"2\":1"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    b.shutdown().await;
}
