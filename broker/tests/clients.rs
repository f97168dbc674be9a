//! Heartbeats, consumer lists, NOTIFY_CONSUMER_IDS_CHANGED, pulls with the registered
//! subscription, orderly locks, and auto-create through TBW102.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mq_common::protocol::body::{
    to_json, ConsumerListByGroupResponseBody, LockBatchRequestBody, LockBatchResponseBody,
    MessageQueue, TopicConfigSerializeWrapper,
};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::*;
use mq_common::protocol::{lenient_json, RemotingCommand};
use mq_common::remoting::{ClientConfig, RemotingClient};

#[tokio::test]
async fn heartbeat_registry_and_rebalance_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("Sub", 1).await;
    b.call(send_v2(&send_header("Sub", 0, "tagA", "a"), b"a")).await;
    b.call(send_v2(&send_header("Sub", 0, "tagB", "b"), b"b")).await;

    // Pull without a subscription before any heartbeat → SUBSCRIPTION_NOT_EXIST.
    let r = b.call(pull_req("GH", "Sub", 0, 0, None, None)).await;
    assert_eq!(r.code, response::SUBSCRIPTION_NOT_EXIST);

    let c1 = RemotingClient::new(ClientConfig::default());
    let notified = Arc::new(AtomicUsize::new(0));
    let n = notified.clone();
    c1.set_request_handler(Arc::new(move |_ch, req| {
        if req.code == rq::NOTIFY_CONSUMER_IDS_CHANGED {
            n.fetch_add(1, Ordering::SeqCst);
        }
        Box::pin(async { None })
    }));
    let r = c1.invoke(&b.addr, heartbeat("c1@1", "GH", &[("Sub", "tagB")]), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);

    // Now the registered subscription (tagB) filters the pull.
    let r = c1.invoke(&b.addr, pull_req("GH", "Sub", 0, 0, None, None), T).await.unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let msgs = decode_msgs(&r.body);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].tags(), Some("tagB"));
    // The retry topic was created by the heartbeat.
    let r = b.call(RemotingCommand::request(rq::GET_ALL_TOPIC_CONFIG)).await;
    let w: TopicConfigSerializeWrapper = lenient_json::from_slice(&r.body).unwrap();
    assert!(w.topic_config_table.contains_key("%RETRY%GH"));

    // A second member joins → the first is told to rebalance; both are listed.
    let before = notified.load(Ordering::SeqCst);
    let c2 = RemotingClient::new(ClientConfig::default());
    c2.invoke(&b.addr, heartbeat("c2@2", "GH", &[("Sub", "tagB")]), T).await.unwrap();
    wait_until("notify on join", T, || async {
        (notified.load(Ordering::SeqCst) > before).then_some(())
    })
    .await;
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::GET_CONSUMER_LIST_BY_GROUP,
            &ConsumerGroupRequestHeader { consumer_group: "GH".into() },
        ))
        .await;
    let list: ConsumerListByGroupResponseBody = lenient_json::from_slice(&r.body).unwrap();
    assert_eq!(list.consumer_id_list, ["c1@1", "c2@2"]);

    // The second member's connection closes → removed at once, the first is told again.
    let before = notified.load(Ordering::SeqCst);
    c2.close_all();
    wait_until("notify on leave", T, || async {
        (notified.load(Ordering::SeqCst) > before).then_some(())
    })
    .await;
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::GET_CONSUMER_LIST_BY_GROUP,
            &ConsumerGroupRequestHeader { consumer_group: "GH".into() },
        ))
        .await;
    let list: ConsumerListByGroupResponseBody = lenient_json::from_slice(&r.body).unwrap();
    assert_eq!(list.consumer_id_list, ["c1@1"]);

    // UNREGISTER_CLIENT empties the group.
    let u = UnregisterClientRequestHeader {
        client_id: "c1@1".into(),
        producer_group: None,
        consumer_group: Some("GH".into()),
    };
    assert_eq!(
        c1.invoke(&b.addr, RemotingCommand::request_with_header(rq::UNREGISTER_CLIENT, &u), T)
            .await
            .unwrap()
            .code,
        0
    );
    let r = b
        .call(RemotingCommand::request_with_header(
            rq::GET_CONSUMER_LIST_BY_GROUP,
            &ConsumerGroupRequestHeader { consumer_group: "GH".into() },
        ))
        .await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    c1.close_all();
    b.shutdown().await;
}

#[tokio::test]
async fn orderly_locks() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    let mqs: BTreeSet<MessageQueue> =
        (0..2).map(|q| MessageQueue::new("Ord", "broker-test", q)).collect();
    let lock = |client: &str| {
        RemotingCommand::request(rq::LOCK_BATCH_MQ).with_body(to_json(&LockBatchRequestBody {
            consumer_group: "GO".into(),
            client_id: client.into(),
            only_this_broker: false,
            mq_set: mqs.clone(),
        }))
    };
    let got = |r: RemotingCommand| {
        lenient_json::from_slice::<LockBatchResponseBody>(&r.body).unwrap().lock_ok_mq_set.len()
    };
    assert_eq!(got(b.call(lock("c1")).await), 2);
    assert_eq!(got(b.call(lock("c2")).await), 0);
    assert_eq!(got(b.call(lock("c1")).await), 2);
    let unlock =
        RemotingCommand::request(rq::UNLOCK_BATCH_MQ).with_body(to_json(&LockBatchRequestBody {
            consumer_group: "GO".into(),
            client_id: "c1".into(),
            only_this_broker: false,
            mq_set: mqs.clone(),
        }));
    assert_eq!(b.call(unlock).await.code, 0);
    assert_eq!(got(b.call(lock("c2")).await), 2);
    b.shutdown().await;
}

#[tokio::test]
async fn auto_create_through_tbw102() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    let mut h = send_header("AutoTopic", -1, "t", "k");
    h.default_topic_queue_nums = 4;
    let r = b.call(send_v2(&h, b"x")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b.call(RemotingCommand::request(rq::GET_ALL_TOPIC_CONFIG)).await;
    let w: TopicConfigSerializeWrapper = lenient_json::from_slice(&r.body).unwrap();
    let tc = &w.topic_config_table["AutoTopic"];
    assert_eq!((tc.read_queue_nums, tc.write_queue_nums, tc.perm), (4, 4, 6));
    assert_eq!(w.topic_config_table["TBW102"].perm, 7);
    b.shutdown().await;

    // With auto-create off, TBW102 loses INHERIT and unknown topics are refused.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.apply("autoCreateTopicEnable", "false").unwrap();
    let b = start(cfg).await;
    let r = b.call(send_v2(&send_header("Nope", 0, "t", "k"), b"x")).await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST);
    assert!(r.remark.unwrap().contains("Nope"));
    tokio::time::sleep(Duration::from_millis(1)).await;
    b.shutdown().await;
}
