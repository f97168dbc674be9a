//! In-process tests: a `NamesrvController` on 127.0.0.1:0, driven by raw protocol bytes and by
//! the mq-common remoting client.

mod support;

use std::time::Duration;

use mq_common::message::crc32_masked;
use mq_common::protocol::body::{
    ClusterInfo, DataVersion, KvTable, QueueData, RegisterBrokerBody, TopicConfig, TopicList,
    TopicRouteData,
};
use mq_common::protocol::codes::{request as req, response as resp};
use mq_common::protocol::header::*;
use mq_common::protocol::{lenient_json, RemotingCommand};
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_namesrv::{NamesrvConfig, NamesrvController};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(5);

fn test_config(dir: &std::path::Path) -> NamesrvConfig {
    NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.join("kvConfig.json"),
        ..Default::default()
    }
}

async fn start(cfg: NamesrvConfig) -> (NamesrvController, String) {
    let c = NamesrvController::start(cfg).await.expect("namesrv starts");
    let addr = c.local_addr().to_string();
    (c, addr)
}

fn register_cmd(
    name: &str,
    addr: &str,
    id: i64,
    topics: &[(&str, i32)],
    counter: i64,
) -> RemotingCommand {
    let mut body = RegisterBrokerBody::default();
    for (t, q) in topics {
        body.topic_config_serialize_wrapper
            .topic_config_table
            .insert(t.to_string(), TopicConfig::new(*t, *q, 6));
    }
    body.topic_config_serialize_wrapper.data_version =
        DataVersion { counter, timestamp: 1, state_version: None };
    let bytes = serde_json::to_vec(&body).unwrap();
    let h = RegisterBrokerRequestHeader {
        broker_name: name.into(),
        broker_addr: addr.into(),
        cluster_name: "DefaultCluster".into(),
        ha_server_addr: format!("{addr}-ha"),
        broker_id: id,
        compressed: Some(false),
        body_crc32: Some(crc32_masked(&bytes)),
        ..Default::default()
    };
    RemotingCommand::request_with_header(req::REGISTER_BROKER, &h).with_body(bytes)
}

fn route_cmd(topic: &str) -> RemotingCommand {
    RemotingCommand::request_with_header(
        req::GET_ROUTEINFO_BY_TOPIC,
        &GetRouteInfoRequestHeader { topic: topic.into(), ..Default::default() },
    )
}

async fn route(client: &RemotingClient, addr: &str, topic: &str) -> Option<TopicRouteData> {
    let r = client.invoke(addr, route_cmd(topic), T).await.unwrap();
    match r.code {
        resp::SUCCESS => Some(serde_json::from_slice(&r.body).expect("strict JSON route")),
        resp::TOPIC_NOT_EXIST => None,
        c => panic!("unexpected code {c}: {:?}", r.remark),
    }
}

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default())
}

#[tokio::test]
async fn raw_bytes_registration_is_visible_in_route() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, addr) = start(test_config(dir.path())).await;
    let mut broker = TcpStream::connect(&addr).await.unwrap();
    let body = register_body_json("TopicTest", 1);
    let (h, reply_body) = call_raw(
        &mut broker,
        &register_header_json(1, "broker-a", "127.0.0.1:10911", 0, 0),
        body.as_bytes(),
    )
    .await;
    assert_eq!(h["code"], 0, "{h}");
    assert_eq!(h["opaque"], 1);
    assert_eq!(h["flag"], 1, "response flag set");
    assert!(reply_body.is_empty(), "no ORDER_TOPIC_CONFIG entries yet");

    // With a correct body CRC too (masked CRC32, spec §5.2).
    let body2 = register_body_json("TopicTest", 2);
    let crc = crc32_masked(body2.as_bytes());
    let (h, _) = call_raw(
        &mut broker,
        &register_header_json(2, "broker-a", "127.0.0.1:10911", 0, crc),
        body2.as_bytes(),
    )
    .await;
    assert_eq!(h["code"], 0, "{h}");

    let mut client = TcpStream::connect(&addr).await.unwrap();
    let (h, body) = call_raw(&mut client, &route_header_json(7, "TopicTest"), b"").await;
    assert_eq!(h["code"], 0, "{h}");
    assert_eq!(h["opaque"], 7);
    let text = String::from_utf8(body).unwrap();
    // Strict, compact JSON with quoted numeric keys (spec §2.10), both sys-flag spellings.
    assert!(text.contains(r#""brokerAddrs":{"0":"127.0.0.1:10911"}"#), "{text}");
    assert!(text.contains(r#""topicSynFlag":0"#) && text.contains(r#""topicSysFlag":0"#), "{text}");
    assert!(!text.contains(' '), "compact JSON: {text}");
    let route: TopicRouteData = serde_json::from_str(&text).unwrap();
    assert_eq!(
        route.queue_datas,
        vec![QueueData {
            broker_name: "broker-a".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 6,
            topic_sys_flag: 0
        }]
    );
    assert_eq!(route.broker_datas[0].cluster, "DefaultCluster");

    let (h, body) = call_raw(&mut client, &route_header_json(8, "NoSuchTopic"), b"").await;
    assert_eq!(h["code"], resp::TOPIC_NOT_EXIST);
    assert!(h["remark"].as_str().unwrap().contains("NoSuchTopic"));
    assert!(body.is_empty());
    ns.shutdown().await;
}

#[tokio::test]
async fn bad_crc_and_compressed_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, addr) = start(test_config(dir.path())).await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let body = register_body_json("T1", 1);
    let (h, _) = call_raw(
        &mut s,
        &register_header_json(1, "b", "10.0.0.1:10911", 0, 12345),
        body.as_bytes(),
    )
    .await;
    assert_eq!(h["code"], resp::SYSTEM_ERROR);
    assert_eq!(h["remark"], "crc32 not match");

    let (h, _) =
        call_raw(&mut s, &register_header_json(2, "b", "10.0.0.1:10911", 0, 0), b"{not json").await;
    assert_eq!(h["code"], resp::SYSTEM_ERROR);
    assert!(h["remark"].as_str().unwrap().contains("not JSON"));

    let mut b = RegisterBrokerBody::default();
    b.topic_config_serialize_wrapper
        .topic_config_table
        .insert("Z".into(), TopicConfig::new("Z", 2, 6));
    b.topic_config_serialize_wrapper.data_version.counter = 1;
    let mut cmd = register_cmd("c", "10.0.0.2:10911", 0, &[], 1).with_body(b.encode_compressed());
    cmd.ext_fields.insert("compressed".into(), "true".into());
    cmd.ext_fields.insert("bodyCrc32".into(), "0".into());
    let c = client();
    let r = c.invoke(&addr, cmd, T).await.unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_eq!(route(&c, &addr, "Z").await.unwrap().queue_datas[0].read_queue_nums, 2);
    ns.shutdown().await;
}

#[tokio::test]
async fn eviction_after_short_expiry_then_reregistration() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = NamesrvConfig {
        scan_not_active_broker_interval: 100,
        broker_channel_expired_time: 1500,
        ..test_config(dir.path())
    };
    let (ns, addr) = start(cfg).await;
    let c = client();
    let r = c
        .invoke(&addr, register_cmd("broker-a", "10.0.0.1:10911", 0, &[("TopicA", 4)], 1), T)
        .await
        .unwrap();
    assert_eq!(r.code, 0);
    assert!(route(&c, &addr, "TopicA").await.is_some());

    // Stay connected but silent: only the scanner can remove it.
    wait_until("broker evicted after its expiry", Duration::from_secs(15), || async {
        route(&client(), &addr, "TopicA").await.is_none()
    })
    .await;
    assert_eq!(ns.state().routes.live_broker_count(), 0);
    let info: ClusterInfo = serde_json::from_slice(
        &c.invoke(&addr, RemotingCommand::request(req::GET_BROKER_CLUSTER_INFO), T)
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert!(info.broker_addr_table.is_empty());

    // The broker comes back (the eviction closed its connection; the client reconnects).
    let r = c
        .invoke(&addr, register_cmd("broker-a", "10.0.0.1:10911", 0, &[("TopicA", 4)], 1), T)
        .await
        .unwrap();
    assert_eq!(r.code, 0);
    assert!(route(&c, &addr, "TopicA").await.is_some());
    ns.shutdown().await;
}

#[tokio::test]
async fn heartbeats_keep_a_broker_alive() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = NamesrvConfig {
        scan_not_active_broker_interval: 50,
        broker_channel_expired_time: 2000,
        ..test_config(dir.path())
    };
    let (ns, addr) = start(cfg).await;
    let c = client();
    c.invoke(&addr, register_cmd("b", "10.0.0.1:10911", 0, &[("H", 1)], 1), T).await.unwrap();
    let hb = BrokerHeartbeatRequestHeader {
        cluster_name: "DefaultCluster".into(),
        broker_addr: "10.0.0.1:10911".into(),
        broker_name: "b".into(),
        broker_id: Some(0),
    };
    // Heartbeat for longer than an expiry period; the route must survive throughout.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        let r = c
            .invoke(&addr, RemotingCommand::request_with_header(req::BROKER_HEARTBEAT, &hb), T)
            .await
            .unwrap();
        assert_eq!(r.code, 0);
        assert!(route(&c, &addr, "H").await.is_some(), "heartbeats keep the broker");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ns.shutdown().await;
}

#[tokio::test]
async fn closed_registration_connection_unregisters_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, addr) = start(test_config(dir.path())).await; // 120 s expiry: only the close explains removal
    let mut broker = TcpStream::connect(&addr).await.unwrap();
    let body = register_body_json("Gone", 1);
    let (h, _) = call_raw(
        &mut broker,
        &register_header_json(1, "broker-x", "10.9.9.9:10911", 0, 0),
        body.as_bytes(),
    )
    .await;
    assert_eq!(h["code"], 0);
    let c = client();
    assert!(route(&c, &addr, "Gone").await.is_some());
    drop(broker);
    wait_until(
        "closing the registration connection removes the broker",
        Duration::from_secs(10),
        || async { route(&client(), &addr, "Gone").await.is_none() },
    )
    .await;

    // A broker that re-registered on a new connection is not removed when the old one closes.
    let mut old = TcpStream::connect(&addr).await.unwrap();
    call_raw(
        &mut old,
        &register_header_json(1, "broker-y", "10.9.9.8:10911", 0, 0),
        register_body_json("Stay", 1).as_bytes(),
    )
    .await;
    let mut new = TcpStream::connect(&addr).await.unwrap();
    call_raw(
        &mut new,
        &register_header_json(1, "broker-y", "10.9.9.8:10911", 0, 0),
        register_body_json("Stay", 1).as_bytes(),
    )
    .await;
    drop(old);
    // Observe the close being processed: a fresh query after a round trip on `new`.
    let (h, _) = call_raw(&mut new, &route_header_json(2, "Stay"), b"").await;
    assert_eq!(h["code"], 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(route(&c, &addr, "Stay").await.is_some(), "newer registration connection still open");
    ns.shutdown().await;
}

#[tokio::test]
async fn concurrent_registrations_from_fifty_brokers() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, addr) = start(test_config(dir.path())).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let addr = addr.clone();
        tasks.spawn(async move {
            // Each broker has its own connection, as real brokers do.
            let c = client();
            for round in 1..=3 {
                let cmd = register_cmd(
                    &format!("broker-{i}"),
                    &format!("10.1.0.{i}:10911"),
                    0,
                    &[("Shared", 4), (&format!("Own-{i}"), 2)],
                    round,
                );
                let r = c.invoke(&addr, cmd, T).await.unwrap();
                assert_eq!(r.code, 0, "{:?}", r.remark);
            }
            c
        });
    }
    let mut clients = Vec::new();
    while let Some(c) = tasks.join_next().await {
        clients.push(c.unwrap());
    }
    let c = client();
    let shared = route(&c, &addr, "Shared").await.unwrap();
    assert_eq!(shared.queue_datas.len(), 50);
    assert_eq!(shared.broker_datas.len(), 50);
    let info: ClusterInfo = serde_json::from_slice(
        &c.invoke(&addr, RemotingCommand::request(req::GET_BROKER_CLUSTER_INFO), T)
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(info.cluster_addr_table["DefaultCluster"].len(), 50);
    let topics: TopicList = serde_json::from_slice(
        &c.invoke(&addr, RemotingCommand::request(req::GET_ALL_TOPIC_LIST_FROM_NAMESERVER), T)
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(topics.topic_list.len(), 51);
    assert_eq!(ns.state().routes.live_broker_count(), 50);
    drop(clients);
    ns.shutdown().await;
}

#[tokio::test]
async fn malformed_and_oversized_frames_close_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = NamesrvConfig { frame_max_length: 64 * 1024, ..test_config(dir.path()) };
    let (ns, addr) = start(cfg).await;
    let mut good = TcpStream::connect(&addr).await.unwrap();
    let (h, _) = call_raw(
        &mut good,
        &register_header_json(1, "b", "10.0.0.1:10911", 0, 0),
        register_body_json("Keep", 1).as_bytes(),
    )
    .await;
    assert_eq!(h["code"], 0);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("negative length", vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
        (
            "oversized length",
            (1_000_000i32).to_be_bytes().iter().copied().chain([0u8; 16]).collect(),
        ),
        (
            "header longer than frame",
            [&8i32.to_be_bytes()[..], &100i32.to_be_bytes()[..], &[0u8; 4][..]].concat(),
        ),
        (
            "bad serialize type",
            [&8i32.to_be_bytes()[..], &((7i32 << 24) | 4).to_be_bytes()[..], b"{}{}"].concat(),
        ),
        ("invalid JSON header", raw_frame("{\"code\":", b"")),
        ("JSON header not an object", raw_frame("\"just a string\"", b"")),
    ];
    for (what, bytes) in cases {
        let mut bad = TcpStream::connect(&addr).await.unwrap();
        bad.write_all(&bytes).await.unwrap();
        assert!(closed_by_server(&mut bad).await, "{what}: connection closed");
        // Everyone else is unaffected.
        let (h, _) = call_raw(&mut good, &route_header_json(2, "Keep"), b"").await;
        assert_eq!(h["code"], 0, "{what}: other connections keep working");
    }
    // A frame just under the limit still works (a big but valid body is a bad register body).
    let big = vec![b' '; 60 * 1024];
    let (h, _) =
        call_raw(&mut good, &register_header_json(3, "b", "10.0.0.1:10911", 0, 0), &big).await;
    assert_eq!(h["code"], resp::SYSTEM_ERROR);
    let c = client();
    assert!(route(&c, &addr, "Keep").await.is_some(), "the registered broker survived");
    ns.shutdown().await;
}

#[tokio::test]
async fn missing_header_fields_get_a_remark_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, addr) = start(test_config(dir.path())).await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let cases = [
        (r#"{"code":105,"flag":0,"language":"JAVA","opaque":1,"version":401}"#, "topic"),
        (
            r#"{"code":103,"extFields":{"brokerName":"b","clusterName":"c","haServerAddr":"h","brokerId":"0"},"flag":0,"language":"JAVA","opaque":2,"version":401}"#,
            "brokerAddr",
        ),
        (
            r#"{"code":100,"extFields":{"namespace":"n","key":"k"},"flag":0,"language":"JAVA","opaque":3,"version":401}"#,
            "value",
        ),
        (
            r#"{"code":104,"extFields":{"brokerName":"b","brokerAddr":"a","clusterName":"c","brokerId":"x"},"flag":0,"language":"JAVA","opaque":4,"version":401}"#,
            "brokerId",
        ),
        (r#"{"code":224,"flag":0,"language":"JAVA","opaque":5,"version":401}"#, "cluster"),
    ];
    for (header, field) in cases {
        let (h, _) = call_raw(&mut s, header, b"").await;
        assert_eq!(h["code"], resp::SYSTEM_ERROR, "{header}");
        let remark = h["remark"].as_str().unwrap();
        assert!(remark.contains(&format!("'{field}'")), "remark {remark:?} names {field}");
    }
    // Unknown request codes.
    let (h, _) = call_raw(
        &mut s,
        r#"{"code":9999,"flag":0,"language":"JAVA","opaque":6,"version":401}"#,
        b"",
    )
    .await;
    assert_eq!(h["code"], resp::REQUEST_CODE_NOT_SUPPORTED);
    assert!(h["remark"].as_str().unwrap().contains("9999"));
    // Oneway requests get no answer; the next request is answered normally.
    s.write_all(&raw_frame(
        r#"{"code":9999,"flag":2,"language":"JAVA","opaque":7,"version":401}"#,
        b"",
    ))
    .await
    .unwrap();
    let (h, _) = call_raw(
        &mut s,
        r#"{"code":106,"flag":0,"language":"JAVA","opaque":8,"version":401}"#,
        b"",
    )
    .await;
    assert_eq!(h["opaque"], 8);
    ns.shutdown().await;
}

#[tokio::test]
async fn lenient_client_headers_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, addr) = start(test_config(dir.path())).await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    // ali-ons style: numbers unquoted, no serializeTypeCurrentRPC, no remark.
    let header = r#"{"code":103,"language":"JAVA","version":121,"opaque":1,"flag":0,"extFields":{"brokerName":"b","brokerAddr":"10.0.0.1:10911","clusterName":"DefaultCluster","haServerAddr":"10.0.0.1:10912","brokerId":0,"compressed":false,"bodyCrc32":0}}"#;
    let (h, _) = call_raw(&mut s, header, register_body_json("L", 1).as_bytes()).await;
    assert_eq!(h["code"], 0, "{h}");
    // A ROCKETMQ binary-header request gets a JSON reply.
    let mut buf = bytes::BytesMut::new();
    let mut cmd = route_cmd("L");
    cmd.opaque = 9;
    mq_common::protocol::frame::encode_binary(&cmd, &mut buf);
    s.write_all(&buf).await.unwrap();
    let (h, body) = read_frame(&mut s).await;
    assert_eq!(h["code"], 0);
    assert_eq!(h["opaque"], 9);
    let r: TopicRouteData = lenient_json::from_slice(&body).unwrap();
    assert_eq!(r.queue_datas.len(), 1);
    ns.shutdown().await;
}

#[tokio::test]
async fn slaves_learn_their_master_and_keep_routes_until_last_address_goes() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, addr) = start(test_config(dir.path())).await;
    let (m, s) = (client(), client());
    m.invoke(&addr, register_cmd("bk", "10.0.0.1:10911", 0, &[("R", 4)], 1), T).await.unwrap();
    let r = s
        .invoke(&addr, register_cmd("bk", "10.0.0.2:10911", 1, &[("SlaveOnly", 4)], 1), T)
        .await
        .unwrap();
    assert_eq!(r.code, 0);
    let h: RegisterBrokerResponseHeader = r.decode_header().unwrap();
    assert_eq!(h.master_addr.as_deref(), Some("10.0.0.1:10911"));
    assert_eq!(h.ha_server_addr.as_deref(), Some("10.0.0.1:10911-ha"));
    let c = client();
    assert!(route(&c, &addr, "SlaveOnly").await.is_none(), "slaves do not change routes");
    assert_eq!(route(&c, &addr, "R").await.unwrap().broker_datas[0].broker_addrs.len(), 2);

    // The master shuts down cleanly: its routes stay while the slave lives.
    let un = UnregisterBrokerRequestHeader {
        broker_name: "bk".into(),
        broker_addr: "10.0.0.1:10911".into(),
        cluster_name: "DefaultCluster".into(),
        broker_id: 0,
    };
    assert_eq!(
        m.invoke(&addr, RemotingCommand::request_with_header(req::UNREGISTER_BROKER, &un), T)
            .await
            .unwrap()
            .code,
        0
    );
    let r = route(&c, &addr, "R").await.unwrap();
    assert_eq!(r.broker_datas[0].master_addr(), None);
    assert_eq!(r.broker_datas[0].broker_addrs.get("1").map(String::as_str), Some("10.0.0.2:10911"));
    // The slave's connection closes: now the broker name and its routes go.
    s.close_all();
    wait_until("routes gone with the last address", Duration::from_secs(10), || async {
        route(&client(), &addr, "R").await.is_none()
    })
    .await;
    ns.shutdown().await;
}

#[tokio::test]
async fn kv_config_persists_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = test_config(dir.path());
    let (ns, addr) = start(cfg.clone()).await;
    let c = client();
    let put = |ns: &str, k: &str, v: &str| {
        RemotingCommand::request_with_header(
            req::PUT_KV_CONFIG,
            &PutKvConfigRequestHeader { namespace: ns.into(), key: k.into(), value: v.into() },
        )
    };
    assert_eq!(
        c.invoke(&addr, put("ORDER_TOPIC_CONFIG", "Ordered", "broker-a:4"), T).await.unwrap().code,
        0
    );
    assert_eq!(c.invoke(&addr, put("app", "k1", "v1"), T).await.unwrap().code, 0);
    assert_eq!(c.invoke(&addr, put("app", "k2", "v2"), T).await.unwrap().code, 0);
    let key = |k: &str| KvConfigKeyRequestHeader { namespace: "app".into(), key: k.into() };
    assert_eq!(
        c.invoke(&addr, RemotingCommand::request_with_header(req::DELETE_KV_CONFIG, &key("k2")), T)
            .await
            .unwrap()
            .code,
        0
    );
    ns.shutdown().await;
    c.close_all();

    let (ns, addr) = start(cfg).await;
    let r = c
        .invoke(&addr, RemotingCommand::request_with_header(req::GET_KV_CONFIG, &key("k1")), T)
        .await
        .unwrap();
    assert_eq!(r.code, 0);
    assert_eq!(
        r.decode_header::<GetKvConfigResponseHeader>().unwrap().value.as_deref(),
        Some("v1")
    );
    let r = c
        .invoke(&addr, RemotingCommand::request_with_header(req::GET_KV_CONFIG, &key("k2")), T)
        .await
        .unwrap();
    assert_eq!(r.code, resp::QUERY_NOT_FOUND);
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request_with_header(
                req::GET_KVLIST_BY_NAMESPACE,
                &GetKvListByNamespaceRequestHeader { namespace: "app".into() },
            ),
            T,
        )
        .await
        .unwrap();
    let table: KvTable = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(table.table.len(), 1);
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request_with_header(
                req::GET_KVLIST_BY_NAMESPACE,
                &GetKvListByNamespaceRequestHeader { namespace: "none".into() },
            ),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, resp::QUERY_NOT_FOUND);

    // The register reply carries the ORDER_TOPIC_CONFIG table for the broker.
    let r = c
        .invoke(&addr, register_cmd("broker-a", "10.0.0.1:10911", 0, &[("Ordered", 4)], 1), T)
        .await
        .unwrap();
    let table: KvTable = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(table.table["Ordered"], "broker-a:4");
    // orderTopicConf appears in routes only with orderMessageEnable.
    assert_eq!(route(&c, &addr, "Ordered").await.unwrap().order_topic_conf, None);
    ns.state().config.write().order_message_enable = true;
    assert_eq!(
        route(&c, &addr, "Ordered").await.unwrap().order_topic_conf.as_deref(),
        Some("broker-a:4")
    );
    ns.shutdown().await;
}

#[tokio::test]
async fn admin_and_topic_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (ns, addr) = start(test_config(dir.path())).await;
    let c = client();
    c.invoke(
        &addr,
        register_cmd("a", "10.0.0.1:10911", 0, &[("T1", 4), ("T2", 4), ("DefaultCluster", 1)], 1),
        T,
    )
    .await
    .unwrap();
    let list = |code: i32| {
        let c = c.clone();
        let addr = addr.clone();
        async move {
            let r = c.invoke(&addr, RemotingCommand::request(code), T).await.unwrap();
            assert_eq!(r.code, 0, "{:?}", r.remark);
            serde_json::from_slice::<TopicList>(&r.body).unwrap()
        }
    };
    assert_eq!(
        list(req::GET_ALL_TOPIC_LIST_FROM_NAMESERVER).await.topic_list,
        vec!["DefaultCluster", "T1", "T2"]
    );
    let sys = list(req::GET_SYSTEM_TOPIC_LIST_FROM_NS).await;
    assert_eq!(sys.topic_list, vec!["DefaultCluster", "a"]);
    assert_eq!(sys.broker_addr.as_deref(), Some("10.0.0.1:10911"));
    assert!(list(req::GET_UNIT_TOPIC_LIST).await.topic_list.is_empty());
    assert!(list(req::GET_HAS_UNIT_SUB_TOPIC_LIST).await.topic_list.is_empty());
    assert!(list(req::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST).await.topic_list.is_empty());
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request_with_header(
                req::GET_TOPICS_BY_CLUSTER,
                &GetTopicsByClusterRequestHeader { cluster: "DefaultCluster".into() },
            ),
            T,
        )
        .await
        .unwrap();
    assert_eq!(serde_json::from_slice::<TopicList>(&r.body).unwrap().topic_list.len(), 3);

    // Write permission: wipe then add back.
    let perm = BrokerPermRequestHeader { broker_name: "a".into() };
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request_with_header(req::WIPE_WRITE_PERM_OF_BROKER, &perm),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.decode_header::<WipeWritePermResponseHeader>().unwrap().wipe_topic_count, 3);
    assert_eq!(route(&c, &addr, "T1").await.unwrap().queue_datas[0].perm, 4);
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request_with_header(req::ADD_WRITE_PERM_OF_BROKER, &perm),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.decode_header::<AddWritePermResponseHeader>().unwrap().add_topic_count, 3);
    assert_eq!(route(&c, &addr, "T1").await.unwrap().queue_datas[0].perm, 6);

    // Delete a topic, then register it again through REGISTER_TOPIC_IN_NAMESRV.
    let del = DeleteTopicFromNamesrvRequestHeader { topic: "T2".into(), cluster_name: None };
    assert_eq!(
        c.invoke(
            &addr,
            RemotingCommand::request_with_header(req::DELETE_TOPIC_IN_NAMESRV, &del),
            T
        )
        .await
        .unwrap()
        .code,
        0
    );
    assert!(route(&c, &addr, "T2").await.is_none());
    let body = TopicRouteData {
        queue_datas: vec![QueueData {
            broker_name: "a".into(),
            read_queue_nums: 2,
            write_queue_nums: 2,
            perm: 6,
            topic_sys_flag: 0,
        }],
        ..Default::default()
    };
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request(req::REGISTER_TOPIC_IN_NAMESRV)
                .with_ext("topic", "T2")
                .with_body(serde_json::to_vec(&body).unwrap()),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_eq!(route(&c, &addr, "T2").await.unwrap().queue_datas[0].read_queue_nums, 2);

    // QUERY_DATA_VERSION: same version → unchanged; other → changed; body = registered version.
    let q = QueryDataVersionRequestHeader {
        broker_name: "a".into(),
        broker_addr: "10.0.0.1:10911".into(),
        cluster_name: "DefaultCluster".into(),
        broker_id: 0,
    };
    let same = DataVersion { counter: 1, timestamp: 1, state_version: None };
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request_with_header(req::QUERY_DATA_VERSION, &q)
                .with_body(serde_json::to_vec(&same).unwrap()),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.decode_header::<QueryDataVersionResponseHeader>().unwrap().changed, Some(false));
    assert_eq!(serde_json::from_slice::<DataVersion>(&r.body).unwrap().counter, 1);
    let other = DataVersion { counter: 2, ..same };
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request_with_header(req::QUERY_DATA_VERSION, &q)
                .with_body(serde_json::to_vec(&other).unwrap()),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.decode_header::<QueryDataVersionResponseHeader>().unwrap().changed, Some(true));

    // Name server config: read, update a runtime key, refuse blacklisted and invalid ones.
    let r = c.invoke(&addr, RemotingCommand::request(req::GET_NAMESRV_CONFIG), T).await.unwrap();
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(text.contains("enableAllTopicList=true\n"), "{text}");
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request(req::UPDATE_NAMESRV_CONFIG)
                .with_body("enableAllTopicList=false\n"),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let r = c
        .invoke(&addr, RemotingCommand::request(req::GET_ALL_TOPIC_LIST_FROM_NAMESERVER), T)
        .await
        .unwrap();
    assert_eq!((r.code, r.remark.as_deref()), (resp::SYSTEM_ERROR, Some("disable")));
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request(req::UPDATE_NAMESRV_CONFIG).with_body("kvConfigPath=/tmp/x"),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, resp::NO_PERMISSION);
    let r = c
        .invoke(
            &addr,
            RemotingCommand::request(req::UPDATE_NAMESRV_CONFIG)
                .with_body("orderMessageEnable=maybe"),
            T,
        )
        .await
        .unwrap();
    assert_eq!(r.code, resp::SYSTEM_ERROR);
    assert!(r.remark.unwrap().contains("orderMessageEnable"));
    ns.shutdown().await;
}
