//! SQL92 property filters end to end on a real broker (in-process, loopback): Java's answers
//! with `enablePropertyFilter` off and on, filtering on registered and header subscriptions,
//! long polling, and refusals of bad expressions at heartbeat, pull and CHECK_CLIENT_CONFIG.

mod common;

use std::time::Duration;

use common::*;
use mq_common::message::encode_properties;
use mq_common::message::property::{TAGS, UNIQ_KEY};
use mq_common::protocol::body::{
    to_json, CheckClientRequestBody, ConsumerData, HeartbeatData, SubscriptionData,
};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::{PullMessageRequestHeader, PullMessageResponseHeader};
use mq_common::protocol::RemotingCommand;

fn sql_sub(topic: &str, expr: &str) -> SubscriptionData {
    SubscriptionData::from_expression(topic, expr, Some("SQL92"), 1).unwrap()
}

fn sql_heartbeat(group: &str, topic: &str, expr: &str) -> RemotingCommand {
    let hb = HeartbeatData {
        client_id: "sql@1".into(),
        producer_data_set: vec![],
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: "CLUSTERING".into(),
            consume_from_where: "CONSUME_FROM_FIRST_OFFSET".into(),
            subscription_data_set: vec![sql_sub(topic, expr)],
            unit_mode: false,
        }],
        ..Default::default()
    };
    RemotingCommand::request(rq::HEART_BEAT).with_body(to_json(&hb))
}

fn check_client(topic: &str, expr: &str, ty: &str) -> RemotingCommand {
    let mut sd = sql_sub(topic, expr);
    sd.expression_type = ty.into();
    let body = CheckClientRequestBody {
        client_id: "sql@1".into(),
        group: "G".into(),
        subscription_data: Some(sd),
        namespace: None,
    };
    RemotingCommand::request(rq::CHECK_CLIENT_CONFIG).with_body(to_json(&body))
}

/// A pull carrying a SQL92 subscription in its header (when `expr` is given).
fn sql_pull(
    group: &str,
    topic: &str,
    offset: i64,
    expr: Option<&str>,
    suspend: i64,
) -> RemotingCommand {
    let mut cmd = pull_req(group, topic, 0, offset, expr, (suspend > 0).then_some(suspend));
    let mut h: PullMessageRequestHeader = cmd.decode_header().unwrap();
    h.expression_type = Some(if expr.is_some() { "SQL92" } else { "TAG" }.into());
    h.sub_version = Some(1);
    cmd.ext_fields.clear();
    mq_common::protocol::CommandHeader::write(&h, &mut cmd.ext_fields);
    cmd
}

/// Send `i` with property `a=i` and tag `x` (even) or `y` (odd) to queue 0.
async fn send_numbered(b: &TestBroker, topic: &str, i: usize) {
    let mut h = send_header(topic, 0, "", "");
    let a = i.to_string();
    let tag = if i.is_multiple_of(2) { "x" } else { "y" };
    h.properties =
        Some(encode_properties([(TAGS, tag), ("a", a.as_str()), (UNIQ_KEY, &format!("U{i}"))]));
    let r = b.call(send_v2(&h, format!("m{i}").as_bytes())).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
}

fn bodies(r: &RemotingCommand) -> Vec<String> {
    decode_msgs(&r.body).iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect()
}

#[tokio::test]
async fn disabled_by_default_with_javas_code_and_remark() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("SqlOff", 1).await;
    send_numbered(&b, "SqlOff", 1).await;
    let java = "The broker does not support consumer to filter message by SQL92";

    // Java registers the heartbeat; the refusal comes with the pull and CHECK_CLIENT_CONFIG.
    let r = b.call(sql_heartbeat("GOff", "SqlOff", "a > 0")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b.call(sql_pull("GOff", "SqlOff", 0, None, 0)).await;
    assert_eq!((r.code, r.remark.as_deref()), (response::SYSTEM_ERROR, Some(java)));
    let hdr: PullMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(hdr.next_begin_offset, 0, "the error reply still carries the pull header");
    let r = b.call(sql_pull("GOff", "SqlOff", 0, Some("a > 0"), 0)).await;
    assert_eq!((r.code, r.remark.as_deref()), (response::SYSTEM_ERROR, Some(java)));
    let r = b.call(check_client("SqlOff", "a > 0", "SQL92")).await;
    assert_eq!((r.code, r.remark.as_deref()), (response::SYSTEM_ERROR, Some(java)));
    let r = b.call(check_client("SqlOff", "tagA", "TAG")).await;
    assert_eq!(r.code, response::SUCCESS);
    b.shutdown().await;
}

#[tokio::test]
async fn filters_by_properties_and_refuses_bad_expressions() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.apply("enablePropertyFilter", "true").unwrap();
    let b = start(cfg).await;
    b.create_topic("Sql", 1).await;
    for i in 0..40 {
        send_numbered(&b, "Sql", i).await;
    }
    let expr = "a >= 10 AND a < 20 AND TAGS = 'x'";
    let want: Vec<String> = (10..20).filter(|i| i % 2 == 0).map(|i| format!("m{i}")).collect();

    // Registered subscription (heartbeat), then a pull without one in the header.
    let r = b.call(sql_heartbeat("GSql", "Sql", expr)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b.call(sql_pull("GSql", "Sql", 0, None, 0)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), want);
    let hdr: PullMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(hdr.next_begin_offset, 40, "filtered records count as scanned");
    // A range that matches nothing: PULL_RETRY_IMMEDIATELY past the scanned units.
    let r = b.call(sql_pull("GSql", "Sql", 20, None, 0)).await;
    assert_eq!(r.code, response::PULL_RETRY_IMMEDIATELY, "{:?}", r.remark);
    let hdr: PullMessageResponseHeader = r.decode_header().unwrap();
    assert_eq!(hdr.next_begin_offset, 40);

    // The subscription in the pull header (pull consumers).
    let r = b
        .call(sql_pull("GHdr", "Sql", 0, Some("a IN ('3', '33') OR a BETWEEN 38 AND 100"), 0))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["m3", "m33", "m38", "m39"]);

    // Long polling: a parked SQL pull answers with the first matching arrival only.
    let parked = {
        let client = b.client.clone();
        let addr = b.addr.clone();
        tokio::spawn(async move {
            client.invoke(&addr, sql_pull("GSql", "Sql", 40, None, 10_000), T).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    send_numbered(&b, "Sql", 41).await; // odd: tag y, no match
    send_numbered(&b, "Sql", 12).await; // matches (a=12, tag x)
    let r = parked.await.unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(bodies(&r), ["m12"]);

    // A bad expression: refused at heartbeat (registered anyway, as Java), pulls get
    // FILTER_DATA_NOT_EXIST, CHECK_CLIENT_CONFIG and header pulls SUBSCRIPTION_PARSE_FAILED.
    let r = b.call(sql_heartbeat("GBad", "Sql", "a > 'x'")).await;
    assert_eq!(r.code, response::SUBSCRIPTION_PARSE_FAILED);
    let remark = r.remark.unwrap_or_default();
    assert!(remark.contains("GBad") && remark.contains("cannot be compared"), "{remark}");
    let r = b.call(sql_pull("GBad", "Sql", 0, None, 0)).await;
    assert_eq!(r.code, response::FILTER_DATA_NOT_EXIST, "{:?}", r.remark);
    let r = b.call(check_client("Sql", "a BETWEEN 5 AND 1", "SQL92")).await;
    assert_eq!(r.code, response::SUBSCRIPTION_PARSE_FAILED);
    assert!(r.remark.unwrap_or_default().contains("low value"));
    let r = b.call(check_client("Sql", "a > 1", "SQL92")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b.call(sql_pull("GHdr", "Sql", 0, Some("(((a"), 0)).await;
    assert_eq!(r.code, response::SUBSCRIPTION_PARSE_FAILED, "{:?}", r.remark);
    // Garbage bodies never hurt the broker.
    let r =
        b.call(RemotingCommand::request(rq::CHECK_CLIENT_CONFIG).with_body(&b"{nope"[..])).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    b.shutdown().await;
}
