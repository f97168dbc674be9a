//! Under SYNC_FLUSH every put path answers only once its record is durable: a plain send,
//! consumer send-back, reply, and the transaction checker (which asks the producer only after
//! its re-put is on disk). Two ways to see it, for each path:
//! * with the flusher held (`pause_flush`), the record is appended but no answer comes; once
//!   the flusher runs again the answer arrives and the record is flushed;
//! * with the fsync failing (`inject_flush_failure`), the answer is an error, never a success.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mq_broker::store::MessageStore;
use mq_common::message::encode_properties;
use mq_common::message::property::{PGROUP, TAGS, TRAN_MSG};
use mq_common::message::sysflag;
use mq_common::protocol::body::{to_json, HeartbeatData, ProducerData};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::*;
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};
use parking_lot::Mutex;

async fn sync_broker(dir: &std::path::Path, extra: &[(&str, &str)]) -> TestBroker {
    let mut cfg = test_config(dir);
    cfg.apply("flushDiskType", "SYNC_FLUSH").unwrap();
    cfg.apply("syncFlushTimeout", "30000").unwrap();
    for (k, v) in extra {
        cfg.apply(k, v).unwrap();
    }
    start(cfg).await
}

fn store(b: &TestBroker) -> Arc<MessageStore> {
    b.ctl.broker().store.clone()
}

/// Send `req` with the flusher held: the put is appended, but no answer may come while its
/// record is not durable. Then let the flusher run and return the answer.
async fn answered_only_once_durable(b: &TestBroker, req: RemotingCommand) -> RemotingCommand {
    let s = store(b);
    let before = s.get_max_phy_offset();
    s.pause_flush(true);
    let (client, addr) = (b.client.clone(), b.addr.clone());
    let mut answer = tokio::spawn(async move { client.invoke(&addr, req, T).await });
    wait_until("the record appended", T, || async { s.get_max_phy_offset() > before }).await;
    let end = s.get_max_phy_offset();
    let early = tokio::time::timeout(Duration::from_millis(300), &mut answer).await;
    assert!(early.is_err(), "answered before the record was durable: {early:?}");
    assert!(s.runtime_info().commit_log_flushed_offset < end);
    s.pause_flush(false);
    let r = answer.await.unwrap().expect("answer");
    assert!(s.runtime_info().commit_log_flushed_offset >= end, "answered, but not flushed");
    r
}

/// A message in `topic` and the commit-log offset it was stored at.
async fn stored_message(b: &TestBroker, topic: &str) -> i64 {
    b.create_topic(topic, 1).await;
    let r = b.call(send_v2(&send_header(topic, 0, "t", "k1"), b"job")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = b.call(pull_req("G", topic, 0, 0, Some("*"), None)).await;
    decode_msgs(&r.body).remove(0).commit_log_offset
}

fn send_back(offset: i64) -> RemotingCommand {
    let h = ConsumerSendMsgBackRequestHeader {
        offset,
        group: "G".into(),
        delay_level: 1,
        origin_msg_id: None,
        origin_topic: Some("Work".into()),
        unit_mode: Some(false),
        max_reconsume_times: Some(3),
    };
    RemotingCommand::request_with_header(rq::CONSUMER_SEND_MSG_BACK, &h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_send_and_send_back_wait_for_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let b = sync_broker(dir.path(), &[]).await;
    let offset = stored_message(&b, "Work").await;
    let r = answered_only_once_durable(&b, send_v2(&send_header("Work", 0, "t", "k2"), b"x")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let r = answered_only_once_durable(&b, send_back(offset)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    // A failed fsync: the send-back's answer is an error.
    store(&b).inject_flush_failure();
    let r = b.call(send_back(offset)).await;
    assert_ne!(r.code, response::SUCCESS, "acknowledged a send-back whose fsync failed");
    b.shutdown().await;
}

/// A requester registered as producer `PReq` (client id `req@1`) that accepts pushed replies.
async fn requester(b: &TestBroker) -> RemotingClient {
    let c = RemotingClient::new(ClientConfig::default());
    c.set_request_handler(Arc::new(|_ch, req| {
        Box::pin(async move { (req.code == 326).then(RemotingCommand::success) })
    }));
    let hb = HeartbeatData {
        client_id: "req@1".into(),
        producer_data_set: vec![ProducerData { group_name: "PReq".into() }],
        consumer_data_set: vec![],
        ..Default::default()
    };
    let r = c
        .invoke(&b.addr, RemotingCommand::request(rq::HEART_BEAT).with_body(to_json(&hb)), T)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    c
}

fn reply() -> RemotingCommand {
    let mut h = send_header("DefaultCluster_REPLY_TOPIC", 0, "", "");
    h.properties =
        Some(encode_properties([("REPLY_TO_CLIENT", "req@1"), ("CORRELATION_ID", "c-1")]));
    RemotingCommand::request_with_header(
        rq::SEND_REPLY_MESSAGE_V2,
        &SendMessageRequestHeaderV2::from(&h),
    )
    .with_body(bytes::Bytes::from_static(b"pong"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_waits_for_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let b = sync_broker(dir.path(), &[]).await;
    let req = requester(&b).await;
    let r = answered_only_once_durable(&b, reply()).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    store(&b).inject_flush_failure();
    let r = b.call(reply()).await;
    assert_ne!(r.code, response::SUCCESS, "acknowledged a reply whose fsync failed");
    req.close_all();
    b.shutdown().await;
}

/// The checker re-puts an unresolved half message before asking its producer: the question
/// goes out only once the re-put is durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_check_is_sent_only_once_its_re_put_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let extra = [("transactionCheckInterval", "200"), ("transactionTimeOut", "100")];
    let b = sync_broker(dir.path(), &extra).await;
    b.create_topic("TxD", 1).await;
    let s = store(&b);
    // Every check received: (commit-log offset of the re-put, flushed offset at that moment).
    let checks: Arc<Mutex<Vec<(i64, i64)>>> = Arc::default();
    let producer = RemotingClient::new(ClientConfig::default());
    let (c2, s2) = (checks.clone(), s.clone());
    producer.set_request_handler(Arc::new(move |_ch, req| {
        let (c2, s2) = (c2.clone(), s2.clone());
        Box::pin(async move {
            if req.code == rq::CHECK_TRANSACTION_STATE {
                let h: CheckTransactionStateRequestHeader = req.decode_header().unwrap();
                let flushed = s2.runtime_info().commit_log_flushed_offset;
                c2.lock().push((h.commit_log_offset, flushed));
            }
            None
        })
    }));
    let hb = HeartbeatData {
        client_id: "p@1".into(),
        producer_data_set: vec![ProducerData { group_name: "PGD".into() }],
        consumer_data_set: vec![],
        ..Default::default()
    };
    let hb = RemotingCommand::request(rq::HEART_BEAT).with_body(to_json(&hb));
    producer.invoke(&b.addr, hb, T).await.unwrap();
    let mut h = send_header("TxD", 0, "t", "k");
    h.producer_group = "PGD".into();
    h.sys_flag = sysflag::TRANSACTION_PREPARED_TYPE;
    h.properties = Some(encode_properties([(TAGS, "t"), (TRAN_MSG, "true"), (PGROUP, "PGD")]));
    let r = producer.invoke(&b.addr, send_v2(&h, b"unresolved"), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    // Hold the flusher: the checker's re-put is appended, the question must wait.
    let before = s.get_max_phy_offset();
    s.pause_flush(true);
    wait_until("the checker's re-put", Duration::from_secs(15), || async {
        s.get_max_phy_offset() > before
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(checks.lock().is_empty(), "asked the producer before the re-put was durable");
    s.pause_flush(false);
    let (offset, flushed) = wait_until("the check", Duration::from_secs(15), || async {
        checks.lock().first().copied()
    })
    .await;
    assert!(flushed > offset, "check for the re-put at {offset} sent with only {flushed} flushed");
    producer.close_all();
    b.shutdown().await;
}
