//! Byte-exact protocol fixtures written by hand from the spec tables (§1.1–1.3), and the
//! lenient inputs real clients send (§12). These pin wire compatibility: a change to the codec
//! that alters a single byte fails here.

use bytes::BytesMut;
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::frame::{decode, encode, encode_binary, FrameError, DEFAULT_MAX_FRAME};
use mq_common::protocol::header::{
    GetRouteInfoRequestHeader, RegisterBrokerRequestHeader, SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
};
use mq_common::protocol::{RemotingCommand, SerializeType};

fn decode_all(bytes: &[u8]) -> RemotingCommand {
    let mut buf = BytesMut::from(bytes);
    let cmd = decode(&mut buf, DEFAULT_MAX_FRAME).expect("valid frame").expect("complete frame");
    assert!(buf.is_empty(), "frame consumed exactly");
    cmd
}

/// GET_ROUTEINFO_BY_TOPIC as a Java 4.9.4 client sends it: JSON header, no body.
const ROUTE_REQUEST_HEADER: &str = r#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":401}"#;

fn route_request_frame() -> Vec<u8> {
    // length = 4 + 131 header bytes + 0 body bytes = 135 = 0x87; type 0 (JSON), headerLen 131.
    let mut f = vec![0x00, 0x00, 0x00, 0x87, 0x00, 0x00, 0x00, 0x83];
    f.extend_from_slice(ROUTE_REQUEST_HEADER.as_bytes());
    f
}

#[test]
fn json_request_frame_decodes_field_by_field() {
    assert_eq!(ROUTE_REQUEST_HEADER.len(), 131);
    let cmd = decode_all(&route_request_frame());
    assert_eq!(cmd.code, request::GET_ROUTEINFO_BY_TOPIC);
    assert_eq!(cmd.language, "JAVA");
    assert_eq!(cmd.version, 401);
    assert_eq!(cmd.opaque, 3);
    assert_eq!(cmd.flag, 0);
    assert!(!cmd.is_response() && !cmd.is_oneway());
    assert_eq!(cmd.remark, None);
    assert_eq!(cmd.serialize_type, SerializeType::Json);
    assert!(cmd.body.is_empty());
    let h: GetRouteInfoRequestHeader = cmd.decode_header().unwrap();
    assert_eq!(h.topic, "TopicTest");
}

#[test]
fn json_request_frame_encodes_byte_exact() {
    let mut cmd = RemotingCommand::request_with_header(
        request::GET_ROUTEINFO_BY_TOPIC,
        &GetRouteInfoRequestHeader { topic: "TopicTest".into(), accept_standard_json_only: None },
    );
    cmd.language = "JAVA".into();
    cmd.opaque = 3;
    let mut out = BytesMut::new();
    encode(&cmd, &mut out);
    assert_eq!(&out[..], &route_request_frame()[..]);
}

/// The example response header of spec §1.2, with a 5-byte body.
#[test]
fn response_frame_equals_spec_example() {
    let spec_header = r#"{"code":0,"extFields":{"msgId":"0A0A0A0A00002A9F0000000000000000","queueId":"1","queueOffset":"0"},"flag":1,"language":"JAVA","opaque":42,"serializeTypeCurrentRPC":"JSON","version":401}"#;
    assert_eq!(spec_header.len(), 185);
    // length = 4 + 185 + 5 = 194 = 0xC2; headerLen 185 = 0xB9.
    let mut expected = vec![0x00, 0x00, 0x00, 0xC2, 0x00, 0x00, 0x00, 0xB9];
    expected.extend_from_slice(spec_header.as_bytes());
    expected.extend_from_slice(b"hello");

    let mut resp = RemotingCommand::success()
        .with_ext("msgId", "0A0A0A0A00002A9F0000000000000000")
        .with_ext("queueId", 1)
        .with_ext("queueOffset", 0)
        .with_body(&b"hello"[..]);
    resp.mark_response_to(42);
    let mut out = BytesMut::new();
    encode(&resp, &mut out);
    assert_eq!(
        &out[..],
        &expected[..],
        "\n got: {}\nwant: {}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&expected)
    );

    let back = decode_all(&expected);
    assert_eq!(back.code, response::SUCCESS);
    assert!(back.is_response());
    assert_eq!(back.opaque, 42);
    assert_eq!(back.ext("queueId"), Some("1"));
    assert_eq!(&back.body[..], b"hello");
}

/// A ROCKETMQ binary header (spec §1.3) built byte by byte.
fn binary_route_frame() -> Vec<u8> {
    let mut h = vec![
        0x00, 0x69, // code 105 (i16)
        0x00, // language JAVA (code 0)
        0x01, 0x91, // version 401 (i16)
        0x00, 0x00, 0x00, 0x03, // opaque 3
        0x00, 0x00, 0x00, 0x00, // flag 0
        0x00, 0x00, 0x00, 0x00, // remark: length 0 = null
        0x00, 0x00, 0x00, 0x14, // extFields: 20 bytes follow
        0x00, 0x05, // key length 5
    ];
    h.extend_from_slice(b"topic");
    h.extend_from_slice(&[0x00, 0x00, 0x00, 0x09]); // value length 9
    h.extend_from_slice(b"TopicTest");
    assert_eq!(h.len(), 41);
    // length = 4 + 41 + 3; type 1 in the high byte, headerLen 41 = 0x29.
    let mut f = vec![0x00, 0x00, 0x00, 0x30, 0x01, 0x00, 0x00, 0x29];
    f.extend_from_slice(&h);
    f.extend_from_slice(b"abc");
    f
}

#[test]
fn binary_header_frame_decodes_and_encodes_byte_exact() {
    let cmd = decode_all(&binary_route_frame());
    assert_eq!(cmd.serialize_type, SerializeType::RocketMq);
    assert_eq!(cmd.code, 105);
    assert_eq!(cmd.language, "JAVA");
    assert_eq!(cmd.version, 401);
    assert_eq!(cmd.opaque, 3);
    assert_eq!(cmd.remark, None);
    assert_eq!(cmd.ext("topic"), Some("TopicTest"));
    assert_eq!(&cmd.body[..], b"abc");
    let mut out = BytesMut::new();
    encode_binary(&cmd, &mut out);
    assert_eq!(&out[..], &binary_route_frame()[..]);
}

#[test]
fn truncated_binary_header_is_an_error_not_a_panic() {
    let full = binary_route_frame();
    let header_len = 41;
    for cut in 0..header_len {
        // Re-frame a truncated header so the frame layer passes it to the header decoder.
        let h = &full[8..8 + cut];
        let mut f = ((4 + h.len()) as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&(0x0100_0000u32 | h.len() as u32).to_be_bytes());
        f.extend_from_slice(h);
        let mut buf = BytesMut::from(&f[..]);
        assert!(
            matches!(decode(&mut buf, DEFAULT_MAX_FRAME), Err(FrameError::Binary(_))),
            "cut at {cut}"
        );
    }
}

#[test]
fn frame_limits() {
    let f = route_request_frame();
    // Exactly at the limit is fine; one byte less is TooLarge.
    let len = f.len() - 4;
    assert!(decode(&mut BytesMut::from(&f[..]), len).unwrap().is_some());
    assert!(matches!(
        decode(&mut BytesMut::from(&f[..]), len - 1),
        Err(FrameError::TooLarge { .. })
    ));
    // Two frames back to back, split anywhere, decode in order.
    let mut two = f.clone();
    two.extend_from_slice(&binary_route_frame());
    for cut in 0..two.len() {
        let mut buf = BytesMut::from(&two[..cut]);
        let mut got = Vec::new();
        while let Some(c) = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap() {
            got.push(c.serialize_type);
        }
        buf.extend_from_slice(&two[cut..]);
        while let Some(c) = decode(&mut buf, DEFAULT_MAX_FRAME).unwrap() {
            got.push(c.serialize_type);
        }
        assert_eq!(got, vec![SerializeType::Json, SerializeType::RocketMq], "cut at {cut}");
    }
}

fn json_frame(header: &str, body: &[u8]) -> Vec<u8> {
    let mut f = ((4 + header.len() + body.len()) as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&(header.len() as u32).to_be_bytes());
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(body);
    f
}

/// ali-ons 3.12 (spec §12): no serializeTypeCurrentRPC, no remark, version 121, V2 short
/// names with JSON numbers and booleans.
#[test]
fn ali_ons_send_header() {
    let header = r#"{"code":310,"language":"JAVA","version":121,"opaque":11,"flag":0,"extFields":{"a":"PID_G","b":"TopicTest","c":"TBW102","d":4,"e":0,"f":0,"g":1700000000000,"h":0,"i":"TAGS\u0001a\u0002","j":0,"k":false,"m":false}}"#;
    let cmd = decode_all(&json_frame(header, b"body"));
    assert_eq!(
        cmd.serialize_type,
        SerializeType::Json,
        "missing serializeTypeCurrentRPC means JSON"
    );
    assert_eq!(cmd.version, 121);
    assert_eq!(cmd.remark, None);
    let v2: SendMessageRequestHeaderV2 = cmd.decode_header().unwrap();
    assert_eq!(v2.d, 4);
    assert_eq!(v2.g, 1_700_000_000_000);
    assert_eq!(v2.k, Some(false));
    let v1 = SendMessageRequestHeader::read_any(cmd.code, &cmd.ext_fields).unwrap();
    assert_eq!(v1.topic, "TopicTest");
    assert_eq!(v1.default_topic_queue_nums, 4);
    assert_eq!(v1.properties.as_deref(), Some("TAGS\u{1}a\u{2}"));
    assert_eq!(v1.unit_mode, Some(false));
}

/// rocketmq-client-cpp 1.x (spec §12): language CPP, version 63, empty remark, credentials
/// fields, long names, booleans as "0"/"1", some numbers unquoted.
#[test]
fn cpp_client_send_header() {
    let header = r#"{"code":10,"language":"CPP","version":63,"opaque":5,"flag":0,"remark":"","extFields":{"AccessKey":"","OnsChannel":"ALIYUN","Signature":"xyz","producerGroup":"G","topic":"T","defaultTopic":"TBW102","defaultTopicQueueNums":4,"queueId":0,"sysFlag":0,"bornTimestamp":"1700000000000","flag":"0","properties":"","reconsumeTimes":"0","unitMode":"0","batch":"1","maxReconsumeTimes":"16"}}"#;
    let cmd = decode_all(&json_frame(header, b"x"));
    assert_eq!(cmd.language, "CPP");
    assert_eq!(cmd.version, 63);
    let h = SendMessageRequestHeader::read_any(cmd.code, &cmd.ext_fields).unwrap();
    assert_eq!(h.queue_id, 0);
    assert_eq!(h.default_topic_queue_nums, 4);
    assert_eq!(h.unit_mode, Some(false));
    assert_eq!(h.batch, Some(true), "\"1\" is true");
    assert_eq!(h.max_reconsume_times, Some(16));
    assert_eq!(cmd.ext("AccessKey"), Some(""));
}

/// Odd-but-seen header shapes: numeric language, null remark and extFields values, numbers as
/// strings, unknown top-level keys.
#[test]
fn odd_header_shapes() {
    let header = r#"{"code":"103","language":9,"version":317,"opaque":1,"flag":0,"remark":null,"futureKey":{"x":1},"extFields":{"brokerName":"b","brokerAddr":"1.2.3.4:10911","clusterName":"c","haServerAddr":"1.2.3.4:10912","brokerId":"0","compressed":"false","bodyCrc32":-12345,"gone":null}}"#;
    let cmd = decode_all(&json_frame(header, b""));
    assert_eq!(cmd.code, 103);
    assert_eq!(cmd.language, "GO");
    assert_eq!(cmd.remark, None);
    assert_eq!(cmd.ext("gone"), None, "null values are absent");
    let h: RegisterBrokerRequestHeader = cmd.decode_header().unwrap();
    assert_eq!(h.body_crc32, Some(-12345));
    assert_eq!(h.compressed, Some(false));
    assert_eq!(h.broker_id, 0);
}

#[test]
fn emitted_headers_are_compact_and_string_valued() {
    let mut resp = RemotingCommand::success().with_ext("n", 7).with_ext("b", true);
    resp.remark = Some("quote \" backslash \\ newline \n tab \t ctl \u{1}".into());
    resp.mark_response_to(1);
    let mut out = BytesMut::new();
    encode(&resp, &mut out);
    let header_len = (u32::from_be_bytes(out[4..8].try_into().unwrap()) & 0xFF_FFFF) as usize;
    let text = std::str::from_utf8(&out[8..8 + header_len]).unwrap();
    let v: serde_json::Value = serde_json::from_str(text).expect("strict JSON");
    assert_eq!(v["extFields"]["n"], "7");
    assert_eq!(v["extFields"]["b"], "true");
    assert_eq!(v["remark"].as_str(), resp.remark.as_deref());
    assert!(!text.contains(": ") && !text.contains(", "), "compact: {text}");
    // code and version fit in i16 (Go decodes them as int16).
    assert!(
        v["code"].as_i64().unwrap() <= i16::MAX as i64
            && v["version"].as_i64().unwrap() <= i16::MAX as i64
    );
}

// ---------------------------------------------------------------------------------------------
// Java 5.3 body shapes (docs/java-body-shapes.md). Each fixture is the compact JSON a Java 5.3
// broker / name server writes for the same data (fastjson: getters in alphabetical order,
// nulls omitted, numeric map keys quoted by `toJson` since 4.9.x), written from the field
// lists of the Java classes. Strict 5.x decoders (rocketmq-client-rust) need every field;
// 4.x readers (ali-ons, the C++ client) ignore the extra ones, and both parse back.

use mq_common::protocol::body::{
    BrokerData, ClusterInfo, ConsumeStats, HeartbeatData, MessageQueue, OffsetWrapper,
    SubscriptionGroupConfig, SubscriptionGroupWrapper, TopicOffset, TopicStatsTable,
};

/// Java 5.3 `BrokerData`: `enableActingMaster` always (default false), `zoneName` when set.
#[test]
fn java53_broker_data_and_cluster_info() {
    let mut bd = BrokerData {
        broker_name: "broker-a".into(),
        cluster: "DefaultCluster".into(),
        ..Default::default()
    };
    bd.broker_addrs.insert("0".into(), "127.0.0.1:10911".into());
    assert_eq!(
        serde_json::to_string(&bd).unwrap(),
        r#"{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}"#
    );
    bd.zone_name = Some("zone-1".into());
    bd.enable_acting_master = true;
    let with_zone = serde_json::to_string(&bd).unwrap();
    assert!(
        with_zone.ends_with(r#""enableActingMaster":true,"zoneName":"zone-1"}"#),
        "{with_zone}"
    );
    // A 4.x name server's BrokerData (no 5.x fields, fastjson numeric keys) still parses.
    let v4: BrokerData = mq_common::protocol::lenient_json::from_str(
        r#"{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"b","cluster":"c"}"#,
    )
    .unwrap();
    assert!(!v4.enable_acting_master && v4.zone_name.is_none());

    let mut ci = ClusterInfo::default();
    ci.broker_addr_table.insert("broker-a".into(), bd.clone());
    ci.cluster_addr_table.entry("DefaultCluster".into()).or_default().insert("broker-a".into());
    let json = serde_json::to_string(&ci).unwrap();
    assert!(json.contains(r#""enableActingMaster":true"#), "{json}");
    assert_eq!(serde_json::from_str::<ClusterInfo>(&json).unwrap(), ci);
}

/// Java 5.3 `TopicStatsTable` (`topicPutTps`) and `ConsumeStats` / `OffsetWrapper`
/// (`pullOffset`), MessageQueue-keyed maps in fastjson's object-key form.
#[test]
fn java53_topic_and_consume_stats() {
    let mq = MessageQueue::new("T", "b", 0);
    let mut t = TopicStatsTable::default();
    t.offset_table
        .0
        .insert(mq.clone(), TopicOffset { min_offset: 0, max_offset: 9, last_update_timestamp: 5 });
    assert_eq!(
        String::from_utf8(t.to_json()).unwrap(),
        r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"minOffset":0,"maxOffset":9,"lastUpdateTimestamp":5}},"topicPutTps":0.0}"#
    );
    assert_eq!(TopicStatsTable::parse(&t.to_json()).unwrap(), t);
    // 4.x form (no topicPutTps) parses.
    let v4 = br#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"minOffset":0,"maxOffset":9,"lastUpdateTimestamp":5}}}"#;
    assert_eq!(TopicStatsTable::parse(v4).unwrap().offset_table, t.offset_table);

    let mut c = ConsumeStats::default();
    c.offset_table.0.insert(
        mq,
        OffsetWrapper { broker_offset: 10, consumer_offset: 4, last_timestamp: 7, pull_offset: 4 },
    );
    assert_eq!(
        String::from_utf8(c.to_json()).unwrap(),
        r#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":10,"consumerOffset":4,"lastTimestamp":7,"pullOffset":4}}}"#
    );
    assert_eq!(ConsumeStats::parse(&c.to_json()).unwrap(), c);
}

/// Java 5.3 `SubscriptionGroupConfig` defaults and the `SubscriptionGroupManager` JSON
/// (`forbiddenTable`) that GET_ALL_SUBSCRIPTIONGROUP_CONFIG returns.
#[test]
fn java53_subscription_group_config() {
    let g = SubscriptionGroupConfig::new("G");
    assert_eq!(
        serde_json::to_string(&g).unwrap(),
        r#"{"groupName":"G","consumeEnable":true,"consumeFromMinEnable":true,"consumeBroadcastEnable":true,"consumeMessageOrderly":false,"retryQueueNums":1,"retryMaxTimes":16,"groupRetryPolicy":{"type":"CUSTOMIZED"},"brokerId":0,"whichBrokerWhenConsumeSlowly":1,"notifyConsumerIdsChangedEnable":true,"groupSysFlag":0,"consumeTimeoutMinute":15,"attributes":{}}"#
    );
    // A 4.9 config (what older brokers and `subscriptionGroup.json` files hold) gets the 5.x
    // defaults; a 5.x one keeps its retry policy.
    let v4: SubscriptionGroupConfig =
        serde_json::from_str(r#"{"groupName":"G","retryMaxTimes":3}"#).unwrap();
    assert_eq!(v4.consume_timeout_minute, 15);
    assert_eq!(v4.group_retry_policy, serde_json::json!({"type":"CUSTOMIZED"}));
    let v5: SubscriptionGroupConfig = serde_json::from_str(
        r#"{"groupName":"G","groupRetryPolicy":{"type":"EXPONENTIAL","exponentialRetryPolicy":{"initial":1000,"max":60000,"multiplier":2}}}"#,
    )
    .unwrap();
    assert_eq!(v5.group_retry_policy["type"], "EXPONENTIAL");
    let mut w = SubscriptionGroupWrapper::default();
    w.subscription_group_table.insert("G".into(), g);
    let json = serde_json::to_string(&w).unwrap();
    assert!(json.contains(r#""forbiddenTable":{}"#), "{json}");
    assert!(
        json.ends_with(r#""dataVersion":{"counter":0,"timestamp":0,"stateVersion":0}}"#),
        "{json}"
    );
}

/// Java 5.3 `HeartbeatData` as a 5.x client sends it (V1: fingerprint 0), and as ali-ons sends
/// it (no 5.x fields).
#[test]
fn java53_heartbeat_data() {
    let java = r#"{"clientID":"10.0.0.1@123","consumerDataSet":[],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"PG"}],"withoutSub":false}"#;
    let hb: HeartbeatData = serde_json::from_str(java).unwrap();
    assert_eq!(hb.producer_data_set[0].group_name, "PG");
    assert!(!hb.is_without_sub);
    let out = serde_json::to_string(&hb).unwrap();
    assert!(
        out.contains(r#""heartbeatFingerprint":0"#) && out.contains(r#""withoutSub":false"#),
        "{out}"
    );
    let ons: HeartbeatData =
        serde_json::from_str(r#"{"clientID":"x","producerDataSet":[],"consumerDataSet":[]}"#)
            .unwrap();
    assert_eq!(ons.heartbeat_fingerprint, 0);
}
