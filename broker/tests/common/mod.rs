//! Shared helpers for broker integration tests: an in-process broker on 127.0.0.1:0 with a
//! temp store dir, and raw remoting requests.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
pub use mq_broker::{BrokerConfig, BrokerController};
pub use mq_common::config::ConfigKeys;
use mq_common::message::property::{KEYS, TAGS, UNIQ_KEY};
use mq_common::message::{encode_properties, MessageExt};
use mq_common::protocol::body::{to_json, ConsumerData, HeartbeatData, SubscriptionData};
use mq_common::protocol::codes::request as rq;
use mq_common::protocol::header::*;
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};

pub const T: Duration = Duration::from_secs(10);

/// Broker config for tests: loopback, free port, given store dir, memory store unless told.
pub fn test_config(dir: &std::path::Path) -> BrokerConfig {
    let mut c = BrokerConfig::default();
    for (k, v) in [
        ("brokerIP1", "127.0.0.1"),
        ("brokerIP2", "127.0.0.1"),
        ("listenPort", "0"),
        ("brokerName", "broker-test"),
        ("grpcServerPort", "0"),
        ("storePathRootDir", dir.to_str().unwrap()),
        ("messageDelayLevel", "1s 2s 3s"),
        ("mappedFileSizeCommitLog", "10485760"),
        ("mappedFileSizeConsumeQueue", "60000"),
    ]
    .into_iter()
    .chain(mq_test_support::write_mode::broker_settings())
    {
        c.apply(k, v).unwrap();
    }
    c
}

pub struct TestBroker {
    pub ctl: BrokerController,
    pub addr: String,
    pub client: RemotingClient,
}

pub async fn start(cfg: BrokerConfig) -> TestBroker {
    let ctl = BrokerController::start(cfg).await.expect("broker starts");
    let addr = ctl.local_addr().to_string();
    TestBroker { ctl, addr, client: RemotingClient::new(ClientConfig::default()) }
}

impl TestBroker {
    pub async fn call(&self, cmd: RemotingCommand) -> RemotingCommand {
        self.client.invoke(&self.addr, cmd, T).await.expect("rpc")
    }

    pub async fn create_topic(&self, topic: &str, queues: i32) {
        let h = CreateTopicRequestHeader {
            topic: topic.into(),
            default_topic: Some("TBW102".into()),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            ..Default::default()
        };
        let r =
            self.call(RemotingCommand::request_with_header(rq::UPDATE_AND_CREATE_TOPIC, &h)).await;
        assert_eq!(r.code, 0, "{:?}", r.remark);
    }

    pub async fn shutdown(self) {
        self.client.close_all();
        self.ctl.shutdown().await;
    }
}

pub fn send_header(topic: &str, queue_id: i32, tag: &str, key: &str) -> SendMessageRequestHeader {
    SendMessageRequestHeader {
        producer_group: "PG".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id,
        sys_flag: 0,
        born_timestamp: mq_common::protocol::now_millis(),
        flag: 0,
        properties: Some(encode_properties([
            (TAGS, tag),
            (KEYS, key),
            (UNIQ_KEY, &format!("U-{key}")),
        ])),
        ..Default::default()
    }
}

/// SEND_MESSAGE_V2.
pub fn send_v2(h: &SendMessageRequestHeader, body: &[u8]) -> RemotingCommand {
    RemotingCommand::request_with_header(rq::SEND_MESSAGE_V2, &SendMessageRequestHeaderV2::from(h))
        .with_body(Bytes::copy_from_slice(body))
}

/// SEND_MESSAGE (V1).
pub fn send_v1(h: &SendMessageRequestHeader, body: &[u8]) -> RemotingCommand {
    RemotingCommand::request_with_header(rq::SEND_MESSAGE, h)
        .with_body(Bytes::copy_from_slice(body))
}

pub fn pull_req(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    sub: Option<&str>,
    suspend_ms: Option<i64>,
) -> RemotingCommand {
    let mut flag = 0;
    if sub.is_some() {
        flag |= PULL_FLAG_SUBSCRIPTION;
    }
    if suspend_ms.is_some() {
        flag |= PULL_FLAG_SUSPEND;
    }
    let h = PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: flag,
        commit_offset: Some(0),
        suspend_timeout_millis: Some(suspend_ms.unwrap_or(0)),
        subscription: sub.map(str::to_string),
        sub_version: Some(0),
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
    };
    RemotingCommand::request_with_header(rq::PULL_MESSAGE, &h)
}

pub fn decode_msgs(body: &Bytes) -> Vec<MessageExt> {
    mq_common::message::decode_all(body, true).expect("decodable pull body")
}

/// Every body of (`topic`, `queue`) from offset 0, pulled as group "G" until the broker has no
/// more (each pull waits at most `t`).
pub async fn pull_bodies(
    client: &RemotingClient,
    addr: &str,
    (topic, queue): (&str, i32),
    t: Duration,
) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    loop {
        let r = client
            .invoke(addr, pull_req("G", topic, queue, got.len() as i64, Some("*"), None), t)
            .await
            .expect("pull answered");
        if r.code != mq_common::protocol::codes::response::SUCCESS {
            break; // no new message: the end of the queue
        }
        let msgs = decode_msgs(&r.body);
        assert!(!msgs.is_empty());
        got.extend(msgs.into_iter().map(|m| m.body.to_vec()));
    }
    got
}

pub fn heartbeat(client_id: &str, group: &str, subs: &[(&str, &str)]) -> RemotingCommand {
    let hb = HeartbeatData {
        client_id: client_id.into(),
        producer_data_set: vec![],
        consumer_data_set: vec![ConsumerData {
            group_name: group.into(),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: "CLUSTERING".into(),
            consume_from_where: "CONSUME_FROM_FIRST_OFFSET".into(),
            subscription_data_set: subs
                .iter()
                .map(|(t, e)| SubscriptionData::build(t, e, 1))
                .collect(),
            unit_mode: false,
        }],
        ..Default::default()
    };
    RemotingCommand::request(rq::HEART_BEAT).with_body(to_json(&hb))
}

#[allow(unused_imports)]
pub use mq_test_support::{wait_until, wait_until_blocking};

/// GET `/metrics` from a broker's Prometheus endpoint (status 200 asserted).
pub async fn scrape(addr: std::net::SocketAddr) -> String {
    let a = addr.to_string();
    tokio::task::spawn_blocking(move || {
        let (status, body) =
            mq_common::probe::http_get(&a, "/metrics", std::time::Duration::from_secs(10))
                .expect("scrape");
        assert_eq!(status, 200, "{body}");
        body
    })
    .await
    .unwrap()
}
