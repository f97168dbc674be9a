//! Admin requests: runtime info, topic/consume stats (fastjson MessageQueue keys), connection
//! lists, offset reset with the push to online consumers, broker config, groups, topic delete,
//! and END_TRANSACTION commit/rollback.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use mq_common::message::encode_properties;
use mq_common::message::property::{PGROUP, TAGS, TRAN_MSG};
use mq_common::message::sysflag;
use mq_common::protocol::body::*;
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::*;
use mq_common::protocol::{lenient_json, RemotingCommand};
use mq_common::remoting::{ClientConfig, RemotingClient};

#[tokio::test]
async fn stats_connections_and_offset_reset() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("St", 2).await;
    for i in 0..6 {
        b.call(send_v2(&send_header("St", i % 2, "t", "k"), b"s")).await;
    }
    let r = b.call(RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO)).await;
    let kv: KvTable = lenient_json::from_slice(&r.body).unwrap();
    for k in [
        "msgPutTotalTodayNow",
        "msgGetTotalTodayNow",
        "putTps",
        "getTransferedTps",
        "commitLogMinOffset",
        "commitLogMaxOffset",
        "brokerVersionDesc",
        "bootTimestamp",
        "commitLogDiskRatio",
    ] {
        assert!(kv.table.contains_key(k), "missing {k}");
    }
    assert_eq!(kv.table["msgPutTotalTodayNow"], "6");

    let r = b
        .call(RemotingCommand::request_with_header(
            rq::GET_TOPIC_STATS_INFO,
            &TopicRequestHeader { topic: "St".into() },
        ))
        .await;
    assert!(
        r.body.starts_with(b"{\"offsetTable\":{{\"brokerName\":\"broker-test\""),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let stats = TopicStatsTable::parse(&r.body).unwrap();
    assert_eq!(stats.offset_table.0.values().map(|o| o.max_offset).sum::<i64>(), 6);

    // An online consumer with a committed offset.
    let c = RemotingClient::new(ClientConfig::default());
    let resets = Arc::new(AtomicUsize::new(0));
    let n = resets.clone();
    c.set_request_handler(Arc::new(move |_ch, req| {
        if req.code == rq::RESET_CONSUMER_CLIENT_OFFSET && ResetOffsetBody::parse(&req.body).is_ok()
        {
            n.fetch_add(1, Ordering::SeqCst);
        }
        Box::pin(async { None })
    }));
    c.invoke(&b.addr, heartbeat("cs@1", "GS", &[("St", "*")]), T).await.unwrap();
    let u = UpdateConsumerOffsetRequestHeader {
        consumer_group: "GS".into(),
        topic: "St".into(),
        queue_id: 0,
        commit_offset: 2,
    };
    c.invoke(&b.addr, RemotingCommand::request_with_header(rq::UPDATE_CONSUMER_OFFSET, &u), T)
        .await
        .unwrap();

    let r = b
        .call(RemotingCommand::request_with_header(
            rq::GET_CONSUME_STATS,
            &GetConsumeStatsRequestHeader { consumer_group: "GS".into(), topic: Some("St".into()) },
        ))
        .await;
    let cs = ConsumeStats::parse(&r.body).unwrap();
    assert_eq!(cs.diff_total(), 4);

    let r = b
        .call(RemotingCommand::request_with_header(
            rq::GET_CONSUMER_CONNECTION_LIST,
            &ConsumerGroupRequestHeader { consumer_group: "GS".into() },
        ))
        .await;
    let conn: ConsumerConnection = lenient_json::from_slice(&r.body).unwrap();
    assert_eq!(conn.connection_set.iter().next().unwrap().client_id, "cs@1");
    assert!(conn.subscription_table.contains_key("St"));

    let r = b
        .call(RemotingCommand::request_with_header(
            rq::QUERY_TOPIC_CONSUME_BY_WHO,
            &TopicRequestHeader { topic: "St".into() },
        ))
        .await;
    let gl: GroupList = lenient_json::from_slice(&r.body).unwrap();
    assert!(gl.group_list.contains("GS"));
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::QUERY_TOPICS_BY_CONSUMER,
            &QueryTopicsByConsumerRequestHeader { group: "GS".into() },
        ))
        .await;
    let tl: TopicList = lenient_json::from_slice(&r.body).unwrap();
    assert_eq!(tl.topic_list, ["St"]);

    // Reset to the beginning (timestamp 0): offsets go to 0 and the consumer is told.
    let rh = ResetOffsetRequestHeader {
        topic: "St".into(),
        group: "GS".into(),
        timestamp: 0,
        is_force: Some(true),
        queue_id: None,
        offset: None,
    };
    let r =
        b.call(RemotingCommand::request_with_header(rq::INVOKE_BROKER_TO_RESET_OFFSET, &rh)).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    wait_until("reset pushed to the consumer", T, || async {
        (resets.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    let q = QueryConsumerOffsetRequestHeader {
        consumer_group: "GS".into(),
        topic: "St".into(),
        queue_id: 0,
        set_zero_if_not_found: None,
    };
    let r = b.call(RemotingCommand::request_with_header(rq::QUERY_CONSUMER_OFFSET, &q)).await;
    assert_eq!(r.decode_header::<OffsetResponseHeader>().unwrap().offset, 0);
    c.close_all();
    b.shutdown().await;
}

#[tokio::test]
async fn config_groups_and_topic_admin() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    let r = b.call(RemotingCommand::request(rq::GET_BROKER_CONFIG)).await;
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert!(text.contains("brokerName=broker-test"), "{text}");
    let r = b
        .call(
            RemotingCommand::request(rq::UPDATE_BROKER_CONFIG)
                .with_body(Bytes::from_static(b"brokerPermission=4\n")),
        )
        .await;
    assert_eq!(r.code, 0);
    // Read-only broker refuses sends.
    b.create_topic("Ro", 1).await;
    let r = b.call(send_v2(&send_header("Ro", 0, "t", "k"), b"x")).await;
    assert_eq!(r.code, response::NO_PERMISSION);
    let r = b
        .call(
            RemotingCommand::request(rq::UPDATE_BROKER_CONFIG)
                .with_body(Bytes::from_static(b"brokerPermission=9\n")),
        )
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("brokerPermission"));
    b.call(
        RemotingCommand::request(rq::UPDATE_BROKER_CONFIG)
            .with_body(Bytes::from_static(b"brokerPermission=6\n")),
    )
    .await;

    let g =
        SubscriptionGroupConfig { retry_max_times: 3, ..SubscriptionGroupConfig::new("AdminG") };
    assert_eq!(
        b.call(
            RemotingCommand::request(rq::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
                .with_body(to_json(&g))
        )
        .await
        .code,
        0
    );
    let r = b.call(RemotingCommand::request(rq::GET_ALL_SUBSCRIPTIONGROUP_CONFIG)).await;
    let w: SubscriptionGroupWrapper = lenient_json::from_slice(&r.body).unwrap();
    assert_eq!(w.subscription_group_table["AdminG"].retry_max_times, 3);
    let d = DeleteSubscriptionGroupRequestHeader {
        group_name: "AdminG".into(),
        clean_offset: Some(true),
    };
    assert_eq!(
        b.call(RemotingCommand::request_with_header(rq::DELETE_SUBSCRIPTIONGROUP, &d)).await.code,
        0
    );

    assert_eq!(
        b.call(RemotingCommand::request_with_header(
            rq::DELETE_TOPIC_IN_BROKER,
            &TopicRequestHeader { topic: "Ro".into() }
        ))
        .await
        .code,
        0
    );
    let r = b.call(RemotingCommand::request(rq::GET_TOPIC_NAME_LIST)).await;
    let tl: TopicList = lenient_json::from_slice(&r.body).unwrap();
    assert!(!tl.topic_list.contains(&"Ro".to_string()));
    assert!(tl.topic_list.contains(&"TBW102".to_string()));
    assert!(tl.topic_list.contains(&"SCHEDULE_TOPIC_XXXX".to_string()));
    b.shutdown().await;
}

#[tokio::test]
async fn end_transaction_commit_and_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("Tx", 1).await;
    let half = |key: &str| {
        let mut h = send_header("Tx", 0, "t", key);
        h.sys_flag = sysflag::TRANSACTION_PREPARED_TYPE;
        h.properties = Some(encode_properties([(TAGS, "t"), (TRAN_MSG, "true"), (PGROUP, "PG")]));
        h
    };
    let mut offsets = vec![];
    for k in ["commit", "rollback"] {
        let r = b.call(send_v2(&half(k), k.as_bytes())).await;
        assert_eq!(r.code, 0, "{:?}", r.remark);
        let h: SendMessageResponseHeader = r.decode_header().unwrap();
        let (_, off) = mq_common::message::decode_offset_msg_id(&h.msg_id).unwrap();
        offsets.push((off, h.queue_offset));
    }
    // Half messages are invisible.
    assert_eq!(
        b.call(pull_req("GT", "Tx", 0, 0, Some("*"), None)).await.code,
        response::PULL_NOT_FOUND
    );
    let end = |(off, qoff): (i64, i64), ty: i32| EndTransactionRequestHeader {
        producer_group: "PG".into(),
        tran_state_table_offset: qoff,
        commit_log_offset: off,
        commit_or_rollback: ty,
        from_transaction_check: Some(false),
        msg_id: None,
        transaction_id: None,
    };
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::END_TRANSACTION,
            &end(offsets[0], sysflag::TRANSACTION_COMMIT_TYPE),
        ))
        .await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::END_TRANSACTION,
            &end(offsets[1], sysflag::TRANSACTION_ROLLBACK_TYPE),
        ))
        .await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let r = b.call(pull_req("GT", "Tx", 0, 0, Some("*"), None)).await;
    assert_eq!(r.code, response::SUCCESS);
    let msgs = decode_msgs(&r.body);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].body.as_ref(), b"commit");
    assert_eq!(sysflag::transaction_value(msgs[0].sys_flag), sysflag::TRANSACTION_COMMIT_TYPE);
    assert_eq!(msgs[0].prepared_transaction_offset, offsets[0].0);
    b.shutdown().await;
}

#[tokio::test]
async fn consumer_running_info_is_forwarded_to_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    let c = RemotingClient::new(ClientConfig::default());
    c.set_request_handler(Arc::new(|_ch, req| {
        Box::pin(async move {
            (req.code == rq::GET_CONSUMER_RUNNING_INFO).then(|| {
                RemotingCommand::success()
                    .with_body(Bytes::from_static(b"{\"properties\":{\"x\":\"1\"}}"))
            })
        })
    }));
    c.invoke(&b.addr, heartbeat("ri@1", "GRI", &[("T", "*")]), T).await.unwrap();
    let h = GetConsumerRunningInfoRequestHeader {
        consumer_group: "GRI".into(),
        client_id: "ri@1".into(),
        jstack_enable: Some(false),
    };
    let r = b.call(RemotingCommand::request_with_header(rq::GET_CONSUMER_RUNNING_INFO, &h)).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_eq!(r.body.as_ref(), b"{\"properties\":{\"x\":\"1\"}}");
    let h = GetConsumerRunningInfoRequestHeader {
        consumer_group: "GRI".into(),
        client_id: "nobody".into(),
        jstack_enable: None,
    };
    let r = b.call(RemotingCommand::request_with_header(rq::GET_CONSUMER_RUNNING_INFO, &h)).await;
    assert_eq!(r.code, response::CONSUMER_NOT_ONLINE);
    c.close_all();
    b.shutdown().await;
}

#[tokio::test]
async fn consume_message_directly_carries_the_stored_message() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("Direct", 1).await;
    let r = b.call(send_v2(&send_header("Direct", 0, "t", "dk"), b"direct-body")).await;
    let msg_id = r.decode_header::<SendMessageResponseHeader>().unwrap().msg_id;
    let c = RemotingClient::new(ClientConfig::default());
    c.set_request_handler(Arc::new(|_ch, req| {
        Box::pin(async move {
            (req.code == rq::CONSUME_MESSAGE_DIRECTLY).then(|| {
                // Echo the body of the message the broker attached.
                let m = mq_common::message::decode_all(&req.body, false).unwrap().remove(0);
                RemotingCommand::success().with_body(m.body)
            })
        })
    }));
    c.invoke(&b.addr, heartbeat("cd@1", "GCD", &[("Direct", "*")]), T).await.unwrap();
    let h = ConsumeMessageDirectlyRequestHeader {
        consumer_group: "GCD".into(),
        client_id: Some("cd@1".into()),
        msg_id: Some(msg_id),
        broker_name: None,
    };
    let r = b.call(RemotingCommand::request_with_header(rq::CONSUME_MESSAGE_DIRECTLY, &h)).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_eq!(r.body.as_ref(), b"direct-body");
    c.close_all();
    b.shutdown().await;
}
