//! CONSUMER_SEND_MSG_BACK: retry through %RETRY%<group> with a delay, then the DLQ.

mod common;

use std::time::Duration;

use common::*;
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::*;
use mq_common::protocol::RemotingCommand;

#[tokio::test]
async fn send_back_retries_then_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("Work", 1).await;
    b.call(send_v2(&send_header("Work", 0, "t", "w1"), b"job")).await;
    let r = b.call(pull_req("GR", "Work", 0, 0, Some("*"), None)).await;
    let orig = decode_msgs(&r.body).remove(0);

    // First failure: retry with delay level 1 (1 s in the test config), max 1 reconsume.
    let back = |offset: i64| ConsumerSendMsgBackRequestHeader {
        offset,
        group: "GR".into(),
        delay_level: 1,
        origin_msg_id: Some(orig.offset_msg_id.clone()),
        origin_topic: Some("Work".into()),
        unit_mode: Some(false),
        max_reconsume_times: Some(1),
    };
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::CONSUMER_SEND_MSG_BACK,
            &back(orig.commit_log_offset),
        ))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let retry = wait_until("retry copy delivered", Duration::from_secs(15), || async {
        let r = b.call(pull_req("GR", "%RETRY%GR", 0, 0, Some("*"), Some(1000))).await;
        (r.code == response::SUCCESS).then(|| decode_msgs(&r.body).remove(0))
    })
    .await;
    assert_eq!(retry.body.as_ref(), b"job");
    assert_eq!(retry.reconsume_times, 1);
    assert_eq!(retry.property("RETRY_TOPIC"), Some("Work"));
    assert_eq!(retry.property("ORIGIN_MESSAGE_ID"), Some(orig.offset_msg_id.as_str()));

    // Second failure: reconsumeTimes 1 >= max 1 → %DLQ%GR, no delay.
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::CONSUMER_SEND_MSG_BACK,
            &back(retry.commit_log_offset),
        ))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b.call(pull_req("GR", "%DLQ%GR", 0, 0, Some("*"), None)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let dlq = decode_msgs(&r.body).remove(0);
    assert_eq!(dlq.body.as_ref(), b"job");
    assert_eq!(dlq.property("ORIGIN_MESSAGE_ID"), Some(orig.offset_msg_id.as_str()));

    // A producer-side resend to %RETRY% past the budget is rerouted to the DLQ as well.
    let mut h = send_header("%RETRY%GR", 0, "t", "w2");
    h.reconsume_times = Some(5);
    h.max_reconsume_times = Some(2);
    let r = b.call(send_v1(&h, b"again")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::GET_MAX_OFFSET,
            &QueueRequestHeader { topic: "%DLQ%GR".into(), queue_id: 0, committed: None },
        ))
        .await;
    assert_eq!(r.decode_header::<OffsetResponseHeader>().unwrap().offset, 2);

    // Unknown offset → SYSTEM_ERROR with a remark.
    let r = b
        .call(RemotingCommand::request_with_header(rq::CONSUMER_SEND_MSG_BACK, &back(1 << 40)))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    b.shutdown().await;
}
