//! Timer messages through the broker's remoting requests (in-process broker): each way to ask
//! for a time, what is visible before delivery, the delivered copy's properties, Java's refusals,
//! transactions committed with a timer, and a clean restart with timers pending.

mod common;

use std::time::Duration;

use common::*;
use mq_common::message::property::*;
use mq_common::message::sysflag;
use mq_common::message::{
    decode_offset_msg_id, encode_batch, encode_properties, BatchItem, MessageExt,
};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::*;
use mq_common::protocol::{now_millis, RemotingCommand};

fn timer_header(topic: &str, key: &str, timer: (&str, String)) -> SendMessageRequestHeader {
    let mut h = send_header(topic, 0, "t", key);
    h.properties = Some(encode_properties([
        (TAGS, "t"),
        (KEYS, key),
        (UNIQ_KEY, &format!("U-{key}")),
        (timer.0, timer.1.as_str()),
    ]));
    h
}

async fn pull_one(b: &TestBroker, topic: &str, offset: i64) -> Option<MessageExt> {
    let r = b.call(pull_req("GT", topic, 0, offset, Some("*"), None)).await;
    (r.code == response::SUCCESS).then(|| decode_msgs(&r.body).remove(0))
}

async fn query_key(b: &TestBroker, topic: &str, key: &str) -> usize {
    let h = QueryMessageRequestHeader {
        topic: topic.into(),
        key: key.into(),
        max_num: 32,
        begin_timestamp: 0,
        end_timestamp: i64::MAX,
        unique_key_query: None,
    };
    let r = b.call(RemotingCommand::request_with_header(rq::QUERY_MESSAGE, &h)).await;
    if r.code != response::SUCCESS {
        return 0;
    }
    decode_msgs(&r.body).iter().filter(|m| m.topic == topic).count()
}

async fn runtime_key(b: &TestBroker, key: &str) -> String {
    let r = b.call(RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO)).await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["table"][key].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn each_timer_property_delays_delivery_and_the_copy_looks_like_javas() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("Tm", 1).await;
    let now = now_millis();
    let asks = [
        (TIMER_DELAY_MS, "1200".to_string(), now + 1200),
        (TIMER_DELAY_SEC, "1".to_string(), now + 1000),
        (TIMER_DELIVER_MS, (now + 1500).to_string(), now + 1500),
        (START_DELIVER_TIME, (now + 1300).to_string(), now + 1300),
    ];
    for (i, (k, v, _)) in asks.iter().enumerate() {
        let r = b.call(send_v2(&timer_header("Tm", &format!("k{i}"), (k, v.clone())), b"x")).await;
        assert_eq!(r.code, response::SUCCESS, "{k}: {:?}", r.remark);
        let h: SendMessageResponseHeader = r.decode_header().unwrap();
        // Like Java: the answer names the requested queue; the offset is the timer queue's.
        assert_eq!((h.queue_id, h.queue_offset), (0, i as i64));
        // Viewable by its offsetMsgId, parked in the timer topic.
        let (_, phy) = decode_offset_msg_id(&h.msg_id).unwrap();
        let v = b
            .call(RemotingCommand::request_with_header(
                rq::VIEW_MESSAGE_BY_ID,
                &ViewMessageRequestHeader { offset: phy, topic: None },
            ))
            .await;
        assert_eq!(decode_msgs(&v.body)[0].topic, "rmq_sys_wheel_timer");
    }
    // Java's runtime keys count them (timerCongestNum: waiting in the wheel).
    wait_until("four timers in the wheel", Duration::from_secs(10), || async {
        runtime_key(&b, "timerCongestNum").await == "4"
    })
    .await;
    assert_eq!(runtime_key(&b, "timerOffsetBehind").await, "0");
    // Nothing in the topic, nothing found by key there, before the time.
    assert!(pull_one(&b, "Tm", 0).await.is_none());
    assert_eq!(query_key(&b, "Tm", "k0").await, 0);
    let mut got = Vec::new();
    for off in 0..4 {
        got.push(
            wait_until("timer delivery", Duration::from_secs(20), || pull_one(&b, "Tm", off)).await,
        );
    }
    assert!(pull_one(&b, "Tm", 4).await.is_none(), "delivered once");
    for m in &got {
        let i: usize = m.keys()[0][1..].parse().unwrap();
        let want = asks[i].2;
        assert!(m.store_timestamp >= want, "{}: {} ms early", asks[i].0, want - m.store_timestamp);
        assert!(m.store_timestamp < want + 5_000, "{}: late", asks[i].0);
        assert_eq!(m.topic, "Tm");
        assert_eq!(m.property(REAL_TOPIC), None);
        assert_eq!(m.property(REAL_QID), None);
        assert!(m.property(TIMER_OUT_MS).is_some());
        assert!(m.property(TIMER_ENQUEUE_MS).is_some());
        assert!(m.property(TIMER_DEQUEUE_MS).is_some());
        assert_eq!(m.property(asks[i].0), Some(asks[i].1.as_str()), "request property kept");
        assert_eq!(m.property(UNIQ_KEY), Some(format!("U-k{i}").as_str()));
    }
    // Delivered times are in order of the requested ones.
    let mut by_time = got.clone();
    by_time.sort_by_key(|m| m.store_timestamp);
    let keys: Vec<String> = by_time.iter().map(|m| m.keys()[0].to_string()).collect();
    assert_eq!(keys, ["k1", "k0", "k3", "k2"]);
    assert_eq!(query_key(&b, "Tm", "k0").await, 1);
    assert_eq!(runtime_key(&b, "timerCongestNum").await, "0");
    b.shutdown().await;
}

#[tokio::test]
async fn past_times_deliver_at_once_and_refusals_use_javas_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.apply("timerMaxDelaySec", "60").unwrap();
    let b = start(cfg).await;
    b.create_topic("Tr", 1).await;
    let r =
        b.call(send_v2(&timer_header("Tr", "past", (TIMER_DELIVER_MS, "1000".into())), b"p")).await;
    assert_eq!(r.code, response::SUCCESS);
    let m = pull_one(&b, "Tr", 0).await.expect("stored directly");
    assert_eq!(m.property(TIMER_DELIVER_MS), Some("1000"));
    assert_eq!(m.property(TIMER_OUT_MS), None);

    let r = b.call(send_v2(&timer_header("Tr", "far", (TIMER_DELAY_SEC, "61".into())), b"f")).await;
    assert_eq!(r.code, response::MESSAGE_ILLEGAL);
    assert_eq!(r.remark.as_deref(), Some("timer message illegal, the delay time should not be bigger than the max delay 60000ms; or if set del msg, the delay time should be bigger than the current time"));
    let r =
        b.call(send_v1(&timer_header("Tr", "bad", (TIMER_DELAY_MS, "soon".into())), b"b")).await;
    assert_eq!(r.code, response::MESSAGE_ILLEGAL);

    // Batches cannot carry timers (Java would silently deliver them at once).
    let items = [BatchItem {
        flag: 0,
        body: bytes::Bytes::from_static(b"b"),
        properties: encode_properties([(TIMER_DELAY_SEC, "5")]),
    }];
    let h = send_header("Tr", 0, "t", "batch");
    let req = RemotingCommand::request_with_header(
        rq::SEND_BATCH_MESSAGE,
        &SendMessageRequestHeaderV2::from(&h),
    )
    .with_body(bytes::Bytes::from(encode_batch(&items)));
    let r = b.call(req).await;
    assert_eq!(r.code, response::MESSAGE_ILLEGAL, "{:?}", r.remark);
    assert!(r.remark.unwrap().contains("timer"));

    // The timer topic is internal.
    let r = b.call(send_v2(&send_header("rmq_sys_wheel_timer", 0, "t", "direct"), b"d")).await;
    assert_eq!(r.code, response::NO_PERMISSION);
    assert!(pull_one(&b, "Tr", 1).await.is_none(), "nothing else was stored");
    // Its keys are in the broker config.
    let r = b.call(RemotingCommand::request(rq::GET_BROKER_CONFIG)).await;
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        text.contains("timerMaxDelaySec=60") && text.contains("timerWheelEnable=true"),
        "{text}"
    );
    b.shutdown().await;

    let mut cfg = test_config(dir.path());
    cfg.apply("timerWheelEnable", "false").unwrap();
    let b = start(cfg).await;
    let r = b.call(send_v2(&timer_header("Tr", "off", (TIMER_DELAY_SEC, "5".into())), b"o")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert_eq!(
        r.remark.as_deref(),
        Some("accurate timer message is not enabled, timerWheelEnable is false")
    );
    let r = b.call(send_v2(&send_header("Tr", 0, "t", "plain"), b"plain")).await;
    assert_eq!(r.code, response::SUCCESS, "plain sends are unaffected");
    b.shutdown().await;
}

#[tokio::test]
async fn a_committed_transaction_is_timed_from_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("Tx", 1).await;
    let mut h = send_header("Tx", 0, "t", "tx");
    h.producer_group = "PGT".into();
    h.sys_flag = sysflag::TRANSACTION_PREPARED_TYPE;
    h.properties = Some(encode_properties([
        (TAGS, "t"),
        (TRAN_MSG, "true"),
        (PGROUP, "PGT"),
        (TIMER_DELAY_MS, "1500"),
    ]));
    let r = b.call(send_v2(&h, b"later")).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let sent: SendMessageResponseHeader = r.decode_header().unwrap();
    let (_, phy) = decode_offset_msg_id(&sent.msg_id).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let end = EndTransactionRequestHeader {
        producer_group: "PGT".into(),
        tran_state_table_offset: sent.queue_offset,
        commit_log_offset: phy,
        commit_or_rollback: sysflag::TRANSACTION_COMMIT_TYPE,
        from_transaction_check: Some(false),
        msg_id: Some(sent.msg_id.clone()),
        transaction_id: None,
    };
    let committed_at = now_millis();
    let r = b.call(RemotingCommand::request_with_header(rq::END_TRANSACTION, &end)).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert!(pull_one(&b, "Tx", 0).await.is_none(), "held by the timer");
    let m = wait_until("committed timer", Duration::from_secs(20), || pull_one(&b, "Tx", 0)).await;
    assert_eq!(m.body.as_ref(), b"later");
    assert!(m.store_timestamp >= committed_at + 1500, "timed from the commit");
    assert_eq!(sysflag::transaction_value(m.sys_flag), sysflag::TRANSACTION_COMMIT_TYPE);
    b.shutdown().await;
}

#[tokio::test]
async fn pending_timers_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("Tp", 1).await;
    let at = now_millis() + 2_500;
    for i in 0..5 {
        let r = b
            .call(send_v2(
                &timer_header("Tp", &format!("r{i}"), (TIMER_DELIVER_MS, (at + i).to_string())),
                b"r",
            ))
            .await;
        assert_eq!(r.code, 0, "{:?}", r.remark);
    }
    b.shutdown().await;
    let b = start(test_config(dir.path())).await;
    for off in 0..5 {
        let m = wait_until("delivery after restart", Duration::from_secs(20), || {
            pull_one(&b, "Tp", off)
        })
        .await;
        assert!(m.store_timestamp >= at);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(pull_one(&b, "Tp", 5).await.is_none(), "delivered once");
    b.shutdown().await;
}
