//! What rocketmq-client-cpp 1.x (PyPI `rocketmq`, the C core of Go/Python 1.x clients) sends,
//! captured from the wire, and what the broker must make of it. The full client runs in
//! `scripts/interop-cpp.sh`; these tests pin the two quirks that once broke it.

mod common;

use bytes::Bytes;
use common::*;
use mq_common::message::{encode_batch, encode_properties, BatchItem};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::RemotingCommand;

/// A packed batch sent as SEND_MESSAGE (code 10) with `"batch":"1"` is stored as its messages.
#[tokio::test]
async fn send_message_with_batch_flag_unpacks_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("CppBatch", 1).await;

    let items: Vec<BatchItem> = (0..3)
        .map(|i| BatchItem {
            flag: 0,
            body: Bytes::from(format!("b{i}")),
            properties: encode_properties([("TAGS", "TagA"), ("KEYS", format!("k{i}").as_str())]),
        })
        .collect();
    let mut h = send_header("CppBatch", 0, "", "");
    h.properties = Some("WAIT\u{1}true\u{2}".into());
    let req = send_v1(&h, &encode_batch(&items)).with_ext("batch", "1");
    let r = b.call(req).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);

    let r = b.call(pull_req("G", "CppBatch", 0, 0, Some("TagA"), None)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let bodies: Vec<String> =
        decode_msgs(&r.body).iter().map(|m| String::from_utf8_lossy(&m.body).to_string()).collect();
    assert_eq!(bodies, ["b0", "b1", "b2"]);
}

/// The C++ heartbeat: enum ordinals, `subVersion` as a string and `codeSet` = atoi(tag) = 0.
/// The consumer must be registered and its tag filter must use the real tag hash codes.
#[tokio::test]
async fn cpp_heartbeat_registers_and_filters_by_the_real_tag_codes() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("CppHb", 1).await;
    for (tag, body) in [("TagA", "a"), ("TagB", "b")] {
        let r = b.call(send_v2(&send_header("CppHb", 0, tag, "k"), body.as_bytes())).await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    }

    let hb = r#"{"clientID":"8557-127.0.0.1@DEFAULT","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"groupName":"CPP_CG","messageModel":1,"subscriptionDataSet":[{"codeSet":[0],"subString":"TagA","subVersion":"1795320563571","tagsSet":["TagA"],"topic":"CppHb"}]}]}"#;
    let r = b
        .call(RemotingCommand::request(rq::HEART_BEAT).with_body(Bytes::from_static(hb.as_bytes())))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);

    // No subscription in the pull: the broker uses the one from the heartbeat.
    let r = b.call(pull_req("CPP_CG", "CppHb", 0, 0, None, None)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let bodies: Vec<String> =
        decode_msgs(&r.body).iter().map(|m| String::from_utf8_lossy(&m.body).to_string()).collect();
    assert_eq!(bodies, ["a"]);
}

/// Heartbeat and pull header go through the same normaliser: a non-ASCII tag (whose
/// rocketmq-client-cpp code, a hash of UTF-8 bytes, differs from Java's UTF-16 hash) filters
/// the same both ways, and an expression naming no tag is refused, not matched against nothing.
#[tokio::test]
async fn heartbeat_and_pull_header_share_one_normalisation() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("NormT", 1).await;
    for (tag, body) in [("订单", "order"), ("支付", "pay")] {
        let r = b.call(send_v2(&send_header("NormT", 0, tag, "k"), body.as_bytes())).await;
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    }
    let bodies = |r: &RemotingCommand| -> Vec<String> {
        decode_msgs(&r.body).iter().map(|m| String::from_utf8_lossy(&m.body).to_string()).collect()
    };

    // Header subscription (no expressionType, padded, with empty pieces).
    let mut req = pull_req("NormG", "NormT", 0, 0, Some(" 订单 |||| "), None);
    req.ext_fields.remove("expressionType");
    let r = b.call(req).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["order"]);

    // Heartbeat subscription with a wrong codeSet and no expressionType.
    let hb = r#"{"clientID":"c1","consumerDataSet":[{"groupName":"NormG","consumeType":1,"messageModel":1,"consumeFromWhere":0,"subscriptionDataSet":[{"codeSet":[12345],"subString":"订单","subVersion":1,"tagsSet":["x"],"topic":"NormT"}]}]}"#;
    let r = b
        .call(RemotingCommand::request(rq::HEART_BEAT).with_body(Bytes::from_static(hb.as_bytes())))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b.call(pull_req("NormG", "NormT", 0, 0, None, None)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["order"]);

    // Separators only: SUBSCRIPTION_PARSE_FAILED with a remark naming the expression.
    let r = b.call(pull_req("NormG", "NormT", 0, 0, Some("|| ||"), None)).await;
    assert_eq!(r.code, response::SUBSCRIPTION_PARSE_FAILED, "{:?}", r.remark);
    assert!(r.remark.unwrap_or_default().contains("|| ||"));
    // SQL92 without enablePropertyFilter: Java's SYSTEM_ERROR and remark (tests/sql_filter.rs
    // covers the registered path and the enabled broker).
    let mut req = pull_req("NormG", "NormT", 0, 0, Some("a > 1"), None);
    req.ext_fields.insert_str("expressionType", "SQL92");
    let r = b.call(req).await;
    assert_eq!(r.code, response::SYSTEM_ERROR, "{:?}", r.remark);
    assert_eq!(
        r.remark.as_deref(),
        Some("The broker does not support consumer to filter message by SQL92")
    );
    b.shutdown().await;
}
