//! The Prometheus endpoint (`metricsExporterType=PROM`): RocketMQ 5 names and labels, values
//! that follow what the broker did (sends, pulls, commits), node labels, and nothing at all
//! when metrics are off.

mod common;

use std::time::Duration;

use common::*;
use mq_common::probe::{http_get, sample, sum};
use mq_common::protocol::codes::request as rq;
use mq_common::protocol::header::UpdateConsumerOffsetRequestHeader;
use mq_common::protocol::RemotingCommand;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_sends_pulls_and_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.apply("metricsExporterType", "PROM").unwrap();
    cfg.apply("metricsPromExporterPort", "0").unwrap();
    let b = start(cfg).await;
    let maddr = b.ctl.metrics_addr().expect("metrics endpoint");
    b.create_topic("MetricsT", 2).await;

    for i in 0..5 {
        let r = b
            .call(send_v2(&send_header("MetricsT", 0, "TagA", &format!("k{i}")), &[7u8; 100]))
            .await;
        assert_eq!(r.code, 0, "{:?}", r.remark);
    }
    let r = b.call(pull_req("MG", "MetricsT", 0, 0, Some("*"), None)).await;
    assert_eq!(decode_msgs(&r.body).len(), 5);
    let u = UpdateConsumerOffsetRequestHeader {
        consumer_group: "MG".into(),
        topic: "MetricsT".into(),
        queue_id: 0,
        commit_offset: 2,
    };
    let r = b.call(RemotingCommand::request_with_header(rq::UPDATE_CONSUMER_OFFSET, &u)).await;
    assert_eq!(r.code, 0);

    let text = scrape(maddr).await;
    let t = [("topic", "MetricsT")];
    let node = [("cluster", "DefaultCluster"), ("node_type", "broker"), ("node_id", "broker-test")];
    assert_eq!(sample(&text, "rocketmq_messages_in_total", &node), Some(5.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "rocketmq_messages_in_total",
            &[("topic", "MetricsT"), ("message_type", "Normal"), ("is_system", "false")]
        ),
        Some(5.0)
    );
    assert_eq!(sample(&text, "rocketmq_throughput_in_total", &t), Some(500.0));
    assert_eq!(sample(&text, "rocketmq_message_size_count", &t), Some(5.0));
    assert_eq!(
        sample(&text, "rocketmq_message_size_bucket", &[("topic", "MetricsT"), ("le", "1024.0")]),
        Some(5.0)
    );
    let out = [("topic", "MetricsT"), ("consumer_group", "MG"), ("is_retry", "false")];
    assert_eq!(sample(&text, "rocketmq_messages_out_total", &out), Some(5.0));
    assert!(sample(&text, "rocketmq_throughput_out_total", &out).unwrap() > 500.0);
    // Committed 2 of 5; pulled all 5: lag 3, all 3 in flight, none ready.
    assert_eq!(sample(&text, "rocketmq_consumer_lag_messages", &out), Some(3.0));
    assert_eq!(sample(&text, "rocketmq_consumer_inflight_messages", &out), Some(3.0));
    assert_eq!(sample(&text, "rocketmq_consumer_ready_messages", &out), Some(0.0));
    assert!(sample(&text, "rocketmq_consumer_lag_latency", &out).unwrap() >= 0.0);
    // SEND_MESSAGE_V2 (310) answered SUCCESS five times.
    let rpc = [("request_code", "310"), ("response_code", "0"), ("protocol_type", "remoting")];
    assert_eq!(sample(&text, "rocketmq_rpc_latency_count", &rpc), Some(5.0));
    assert_eq!(
        sample(&text, "rocketmq_rpc_latency_bucket", &[("request_code", "310"), ("le", "+Inf")]),
        Some(5.0)
    );
    let topics = b.ctl.broker().topics.names().len() as f64;
    assert_eq!(sample(&text, "rocketmq_topic_number", &[]), Some(topics));
    assert_eq!(sample(&text, "rocketmq_broker_permission", &[]), Some(6.0));
    assert!(sample(&text, "rmq_remoting_connections", &[]).unwrap() >= 1.0);
    assert!(sample(&text, "rocketmq_storage_size", &[]).unwrap() > 0.0);
    assert!(sample(&text, "rocketmq_storage_message_reserve_time", &[]).unwrap() >= 0.0);
    assert_eq!(sample(&text, "rmq_broker_info", &[("role", "ASYNC_MASTER")]), Some(1.0));
    assert_eq!(sum(&text, "rocketmq_send_to_dlq_messages_total", &[]), 0.0);
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");
    // Bounded labels: a bogus request code is folded into `other`.
    let r = b.call(RemotingCommand::request(55_555)).await;
    assert_ne!(r.code, 0);
    let text = scrape(maddr).await;
    assert_eq!(
        sample(&text, "rocketmq_rpc_latency_count", &[("request_code", "other")]),
        Some(1.0)
    );
    assert!(!text.contains("55555"));

    // The timer: a message asking for delivery in 2 min is in the set-latency histogram's
    // 10 min bucket (not the 1 min one) and waits in the wheel.
    let mut h = send_header("MetricsT", 1, "TagA", "timer");
    h.properties = Some(mq_common::message::property::encode_properties([
        ("TAGS", "TagA"),
        (mq_common::message::property::TIMER_DELAY_SEC, "120"),
    ]));
    let r = b.call(send_v2(&h, b"later")).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let mut text = scrape(maddr).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sample(&text, "rocketmq_timing_messages", &[]) != Some(1.0) {
        assert!(std::time::Instant::now() < deadline, "the timer never took it: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = scrape(maddr).await;
    }
    assert_eq!(sample(&text, "rocketmq_timer_enqueue_total", &[]), Some(1.0));
    assert_eq!(sample(&text, "rocketmq_timer_dequeue_total", &[]), Some(0.0));
    assert_eq!(sample(&text, "rocketmq_timer_enqueue_lag", &[]), Some(0.0));
    assert!(sample(&text, "rocketmq_timer_dequeue_latency", &[]).is_some());
    let lat = |le: &str| sample(&text, "rocketmq_delay_message_latency_bucket", &[("le", le)]);
    assert_eq!((lat("60.0"), lat("600.0")), (Some(0.0), Some(1.0)), "{text}");

    // Deleting the topic drops its series.
    let h = mq_common::protocol::header::TopicRequestHeader { topic: "MetricsT".into() };
    let r = b.call(RemotingCommand::request_with_header(rq::DELETE_TOPIC_IN_BROKER, &h)).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let text = scrape(maddr).await;
    assert_eq!(sample(&text, "rocketmq_messages_in_total", &t), None);
    assert_eq!(sample(&text, "rocketmq_messages_out_total", &t), None);

    let a = maddr.to_string();
    let health =
        tokio::task::spawn_blocking(move || http_get(&a, "/health", Duration::from_secs(5)))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(health, (200, "ok".to_string()));
    b.shutdown().await;
    // The endpoint goes away with the broker.
    assert!(tokio::task::spawn_blocking(move || http_get(
        &maddr.to_string(),
        "/metrics",
        Duration::from_secs(2)
    ))
    .await
    .unwrap()
    .is_err());
}

#[tokio::test]
async fn metrics_are_off_by_default_and_a_busy_port_stops_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    assert!(b.ctl.metrics_addr().is_none());
    b.shutdown().await;

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.apply("metricsExporterType", "PROM").unwrap();
    cfg.apply("metricsPromExporterPort", &busy.local_addr().unwrap().port().to_string()).unwrap();
    let err = match mq_broker::BrokerController::start(cfg).await {
        Ok(_) => panic!("started on a busy metrics port"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("metricsPromExporterPort"), "{err}");
    assert!(mq_broker::BrokerConfig::default().apply("metricsExporterType", "GRAPHITE").is_err());
}

/// POP groups (here over gRPC) show in the consumer gauges like pulling ones (popped =
/// pulled, committed = below the first un-acked), plus their own in-flight gauge; gRPC answers
/// are counted per RPC and code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop_groups_and_grpc_requests() {
    use mq_grpc_proto::v2::{
        receive_message_response::Content, AckMessageEntry, AckMessageRequest, FilterExpression,
        Message, MessageQueue, ReceiveMessageRequest, Resource, SendMessageRequest,
        SystemProperties,
    };
    let res = |n: &str| Some(Resource { resource_namespace: String::new(), name: n.into() });
    fn req<T>(m: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(m);
        r.metadata_mut().insert("x-mq-client-id", "metrics-test".parse().unwrap());
        r.set_timeout(Duration::from_secs(10));
        r
    }
    let dir = tempfile::tempdir().unwrap();
    let port = mq_test_support::free_port();
    let mut cfg = test_config(dir.path());
    cfg.apply("metricsExporterType", "PROM").unwrap();
    cfg.apply("metricsPromExporterPort", "0").unwrap();
    cfg.apply("grpcServerPort", &port.to_string()).unwrap();
    let b = start(cfg).await;
    let maddr = b.ctl.metrics_addr().expect("metrics endpoint");
    b.create_topic("PopM", 1).await;
    let mut c = mq_grpc_proto::MessagingServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    for i in 0..5 {
        let m = Message {
            topic: res("PopM"),
            user_properties: Default::default(),
            system_properties: Some(SystemProperties {
                message_id: format!("pm{i}"),
                ..Default::default()
            }),
            body: b"x".to_vec().into(),
        };
        c.send_message(req(SendMessageRequest { messages: vec![m] })).await.unwrap();
    }
    let r = ReceiveMessageRequest {
        group: res("PG"),
        message_queue: Some(MessageQueue { topic: res("PopM"), id: -1, ..Default::default() }),
        filter_expression: Some(FilterExpression { r#type: 1, expression: "*".into() }),
        batch_size: 32,
        invisible_duration: Some(mq_grpc_proto::Duration { seconds: 30, nanos: 0 }),
        auto_renew: false,
        long_polling_timeout: Some(mq_grpc_proto::Duration { seconds: 5, nanos: 0 }),
        attempt_id: None,
    };
    let mut s = c.receive_message(req(r)).await.unwrap().into_inner();
    let mut handles = Vec::new();
    while let Some(item) = s.message().await.unwrap() {
        if let Some(Content::Message(m)) = item.content {
            handles.push(m.system_properties.unwrap().receipt_handle.unwrap());
        }
    }
    assert_eq!(handles.len(), 5);
    let entries = handles[..2]
        .iter()
        .map(|h| AckMessageEntry {
            message_id: "m".into(),
            receipt_handle: h.clone(),
            lite_topic: None,
        })
        .collect();
    c.ack_message(req(AckMessageRequest { group: res("PG"), topic: res("PopM"), entries }))
        .await
        .unwrap();

    let text = scrape(maddr).await;
    let out = [("topic", "PopM"), ("consumer_group", "PG"), ("is_retry", "false")];
    assert_eq!(sample(&text, "rocketmq_consumer_lag_messages", &out), Some(3.0), "{text}");
    assert_eq!(sample(&text, "rocketmq_consumer_inflight_messages", &out), Some(3.0));
    assert_eq!(sample(&text, "rocketmq_consumer_ready_messages", &out), Some(0.0));
    assert_eq!(sample(&text, "rmq_pop_inflight_messages", &[("consumer_group", "PG")]), Some(3.0));
    let rpc = |name: &str| [("rpc", name.to_string()), ("code", "OK".to_string())];
    let count = |name: &str| {
        let l = rpc(name);
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sample(&text, "rmq_grpc_requests_total", &l)
    };
    assert_eq!(count("SendMessage"), Some(5.0));
    // Messages sent over gRPC count in the stored-message totals as remoting ones do.
    let into = [("topic", "PopM"), ("message_type", "Normal"), ("is_system", "false")];
    assert_eq!(sample(&text, "rocketmq_messages_in_total", &into), Some(5.0), "{text}");
    assert_eq!(sample(&text, "rocketmq_throughput_in_total", &into), Some(5.0));
    assert_eq!(count("ReceiveMessage"), Some(1.0));
    assert_eq!(count("AckMessage"), Some(1.0));
    b.shutdown().await;
}
