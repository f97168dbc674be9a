//! Request-reply: SEND_REPLY_MESSAGE_V2 is pushed to the requesting client
//! (PUSH_REPLY_MESSAGE_TO_CLIENT) and stored.

mod common;

use std::sync::Arc;

use common::*;
use mq_common::message::encode_properties;
use mq_common::protocol::body::{to_json, HeartbeatData, ProducerData};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::*;
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};
use parking_lot::Mutex;

/// (topic, body) of each pushed reply.
type Pushed = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

#[tokio::test]
async fn reply_is_pushed_to_the_requester() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    let got: Pushed = Arc::default();
    let g = got.clone();
    let requester = RemotingClient::new(ClientConfig::default());
    requester.set_request_handler(Arc::new(move |_ch, req| {
        let g = g.clone();
        Box::pin(async move {
            (req.code == 326).then(|| {
                let h: ReplyMessageRequestHeader = req.decode_header().unwrap();
                g.lock().push((h.topic, req.body.to_vec()));
                RemotingCommand::success()
            })
        })
    }));
    let hb = HeartbeatData {
        client_id: "req@1".into(),
        producer_data_set: vec![ProducerData { group_name: "PReq".into() }],
        consumer_data_set: vec![],
        ..Default::default()
    };
    requester
        .invoke(&b.addr, RemotingCommand::request(rq::HEART_BEAT).with_body(to_json(&hb)), T)
        .await
        .unwrap();

    let mut h = send_header("DefaultCluster_REPLY_TOPIC", 0, "", "");
    h.properties =
        Some(encode_properties([("REPLY_TO_CLIENT", "req@1"), ("CORRELATION_ID", "c-1")]));
    let req = RemotingCommand::request_with_header(
        rq::SEND_REPLY_MESSAGE_V2,
        &SendMessageRequestHeaderV2::from(&h),
    )
    .with_body(bytes::Bytes::from_static(b"pong"));
    let r = b.call(req).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(
        got.lock().as_slice(),
        &[("DefaultCluster_REPLY_TOPIC".to_string(), b"pong".to_vec())]
    );

    // Unknown requester → SYSTEM_ERROR naming it.
    h.properties = Some(encode_properties([("REPLY_TO_CLIENT", "gone@9")]));
    let req = RemotingCommand::request_with_header(
        rq::SEND_REPLY_MESSAGE_V2,
        &SendMessageRequestHeaderV2::from(&h),
    )
    .with_body(bytes::Bytes::from_static(b"x"));
    let r = b.call(req).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("gone@9"));
    requester.close_all();
    b.shutdown().await;
}
