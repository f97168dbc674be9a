//! UPDATE_BROKER_CONFIG in process: remarks per key class, all-or-nothing validation,
//! persistence of the whole config, live effect of auto-create and maxMessageSize.
//! (The same with real `mqbroker`/`mqadmin` processes: client/tests/broker_config_live.rs.)

mod common;

use bytes::Bytes;
use common::*;
use mq_common::config::parse_properties;
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::RemotingCommand;

fn update(body: &str) -> RemotingCommand {
    RemotingCommand::request(rq::UPDATE_BROKER_CONFIG).with_body(Bytes::from(body.to_string()))
}

async fn config_value(b: &TestBroker, key: &str) -> Option<String> {
    let r = b.call(RemotingCommand::request(rq::GET_BROKER_CONFIG)).await;
    parse_properties(&String::from_utf8_lossy(&r.body))
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[tokio::test]
async fn update_classifies_keys_validates_everything_first_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;

    let r = b
        .call(update(
            "fileReservedTime=1\nbrokerName=renamed\noffsetCheckInSlave=true\nnoSuchKey=1\n",
        ))
        .await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let remark = r.remark.unwrap();
    assert!(remark.contains("after a restart: brokerName"), "{remark}");
    assert!(remark.contains("no effect in this broker: offsetCheckInSlave"), "{remark}");
    assert!(remark.contains("unknown keys ignored: noSuchKey"), "{remark}");
    assert!(!remark.contains("fileReservedTime"), "live keys need no note: {remark}");
    assert_eq!(config_value(&b, "fileReservedTime").await.as_deref(), Some("1"));
    assert_eq!(b.ctl.broker().store.live_config().file_reserved_time(), 1);
    // The broker keeps its name until restarted, but GET shows the recorded value.
    assert_eq!(b.ctl.broker().cfg.broker_name, "broker-test");
    assert_eq!(config_value(&b, "brokerName").await.as_deref(), Some("renamed"));

    // Persisted: the whole config, readable back.
    let file = dir.path().join("config").join("broker.properties");
    let saved: Vec<(String, String)> =
        parse_properties(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(saved.contains(&("fileReservedTime".into(), "1".into())), "{saved:?}");
    assert!(saved.contains(&("brokerName".into(), "renamed".into())));
    assert!(saved.iter().any(|(k, _)| k == "listenPort"));

    // One invalid value (a store rule) refuses the whole update: the valid key before it
    // is not applied either.
    let r = b.call(update("autoCreateTopicEnable=false\nfileReservedTime=soon\n")).await;
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("fileReservedTime"));
    assert_eq!(config_value(&b, "autoCreateTopicEnable").await.as_deref(), Some("true"));
    assert_eq!(b.call(update("maxMessageSize=0")).await.code, response::SYSTEM_ERROR);
    assert_eq!(b.call(update("# nothing\n")).await.code, response::SYSTEM_ERROR);
    b.shutdown().await;
}

#[tokio::test]
async fn auto_create_and_max_message_size_apply_live() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;

    // autoCreateTopicEnable=false: a send through TBW102 to an unknown topic is refused...
    assert_eq!(b.call(update("autoCreateTopicEnable=false")).await.code, response::SUCCESS);
    let mut h = send_header("AutoOff", 0, "t", "k");
    h.default_topic = "TBW102".into();
    let r = b.call(send_v2(&h, b"x")).await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST, "{:?}", r.remark);
    // ...and accepted again once it is switched back on.
    assert_eq!(b.call(update("autoCreateTopicEnable=true")).await.code, response::SUCCESS);
    let r = b.call(send_v2(&h, b"x")).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);

    // maxMessageSize lowered: an oversized body is MESSAGE_ILLEGAL and nothing is stored.
    assert_eq!(b.call(update("maxMessageSize=100")).await.code, response::SUCCESS);
    let r = b.call(send_v2(&send_header("AutoOff", 0, "t", "k"), &[b'y'; 101])).await;
    assert_eq!(r.code, response::MESSAGE_ILLEGAL, "{:?}", r.remark);
    // Raised above the startup value: the store accepts it too (its own check is live).
    assert_eq!(b.call(update("maxMessageSize=5000000")).await.code, response::SUCCESS);
    let big = vec![b'z'; 4_500_000];
    let r = b.call(send_v2(&send_header("AutoOff", 0, "t", "k"), &big)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    // Nothing lost or duplicated around the refused send: offset 0 = "x", offset 1 = big.
    let r = b.call(pull_req("G", "AutoOff", 0, 0, Some("*"), None)).await;
    assert_eq!(decode_msgs(&r.body)[0].body.as_ref(), b"x");
    let r = b.call(pull_req("G", "AutoOff", 0, 1, Some("*"), None)).await;
    let bodies: Vec<usize> = decode_msgs(&r.body).iter().map(|m| m.body.len()).collect();
    assert_eq!(bodies, [4_500_000]);
    b.shutdown().await;
}
