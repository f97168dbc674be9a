//! The transaction checker asks the producer group about an unresolved half message; the
//! producer's END_TRANSACTION(commit) makes it visible.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use mq_common::message::encode_properties;
use mq_common::message::property::{PGROUP, TAGS, TRAN_MSG};
use mq_common::message::sysflag;
use mq_common::protocol::body::{to_json, HeartbeatData, ProducerData};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::*;
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};

#[tokio::test]
async fn unresolved_half_message_is_checked_and_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.apply("transactionCheckInterval", "200").unwrap();
    cfg.apply("transactionTimeOut", "100").unwrap();
    let b = start(cfg).await;
    b.create_topic("TxC", 1).await;

    // The producer answers every check with a commit.
    let producer = RemotingClient::new(ClientConfig::default());
    producer.set_request_handler(Arc::new(move |ch, req| {
        Box::pin(async move {
            if req.code == rq::CHECK_TRANSACTION_STATE {
                let h: CheckTransactionStateRequestHeader = req.decode_header().unwrap();
                let end = EndTransactionRequestHeader {
                    producer_group: "PGC".into(),
                    tran_state_table_offset: h.tran_state_table_offset,
                    commit_log_offset: h.commit_log_offset,
                    commit_or_rollback: sysflag::TRANSACTION_COMMIT_TYPE,
                    from_transaction_check: Some(true),
                    msg_id: h.msg_id,
                    transaction_id: h.transaction_id,
                };
                ch.send_oneway(RemotingCommand::request_with_header(rq::END_TRANSACTION, &end));
            }
            None
        })
    }));
    let hb = HeartbeatData {
        client_id: "p@1".into(),
        producer_data_set: vec![ProducerData { group_name: "PGC".into() }],
        consumer_data_set: vec![],
        ..Default::default()
    };
    producer
        .invoke(&b.addr, RemotingCommand::request(rq::HEART_BEAT).with_body(to_json(&hb)), T)
        .await
        .unwrap();

    let mut h = send_header("TxC", 0, "t", "k");
    h.producer_group = "PGC".into();
    h.sys_flag = sysflag::TRANSACTION_PREPARED_TYPE;
    h.properties = Some(encode_properties([(TAGS, "t"), (TRAN_MSG, "true"), (PGROUP, "PGC")]));
    let r = producer.invoke(&b.addr, send_v2(&h, b"unresolved"), T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);

    let msg = wait_until("checked and committed", Duration::from_secs(15), || async {
        let r = b.call(pull_req("GTC", "TxC", 0, 0, Some("*"), None)).await;
        (r.code == response::SUCCESS).then(|| decode_msgs(&r.body).remove(0))
    })
    .await;
    assert_eq!(msg.body.as_ref(), b"unresolved");
    producer.close_all();
    b.shutdown().await;
}
