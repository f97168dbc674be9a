//! The gRPC endpoint in-process: routes across two brokers (a client given either endpoint
//! reaches every topic, each queue naming its own broker's endpoint), and bad or unsupported
//! requests answered with the proper `Code` (or gRPC status), never a hang.

mod common;

use std::time::Duration;

use common::{start, test_config, ConfigKeys, TestBroker, T};
use futures::StreamExt;
use mq_grpc_proto::v2::{
    receive_message_response::Content, settings::PubSub, telemetry_command::Command,
    AckMessageEntry, AckMessageRequest, ChangeInvisibleDurationRequest, Code,
    EndTransactionRequest, FilterExpression, FilterType, Message, MessageQueue, PullMessageRequest,
    QueryRouteRequest, ReceiveMessageRequest, Resource, SendMessageRequest, Settings,
    SystemProperties, TelemetryCommand,
};
use mq_grpc_proto::MessagingServiceClient;
use mq_namesrv::{NamesrvConfig, NamesrvController};
use mq_test_support::free_port;
use tonic::transport::Channel;

fn res(name: &str) -> Option<Resource> {
    Some(Resource { resource_namespace: String::new(), name: name.into() })
}

fn req<T>(m: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut().insert("x-mq-client-id", "grpc-endpoint-test".parse().unwrap());
    r.set_timeout(Duration::from_secs(10));
    r
}

async fn client(port: u16) -> MessagingServiceClient<Channel> {
    MessagingServiceClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap()
}

async fn broker(dir: &std::path::Path, name: &str, ns: &str) -> (TestBroker, u16) {
    let port = free_port();
    let mut cfg = test_config(dir);
    for (k, v) in [
        ("brokerName", name.to_string()),
        ("namesrvAddr", ns.to_string()),
        ("grpcServerPort", port.to_string()),
    ] {
        cfg.apply(k, &v).unwrap();
    }
    (start(cfg).await, port)
}

/// (broker name, endpoint port) of every queue in a route answer.
async fn route_of(c: &mut MessagingServiceClient<Channel>, topic: &str) -> Vec<(String, i32)> {
    let r = c
        .query_route(req(QueryRouteRequest { topic: res(topic), endpoints: None }))
        .await
        .unwrap()
        .into_inner();
    let mut v: Vec<(String, i32)> = r
        .message_queues
        .iter()
        .map(|q| {
            let b = q.broker.as_ref().unwrap();
            (b.name.clone(), b.endpoints.as_ref().unwrap().addresses[0].port)
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_name_each_brokers_own_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ns = NamesrvController::start(NamesrvConfig {
        bind_address: "127.0.0.1".into(),
        listen_port: 0,
        kv_config_path: dir.path().join("kv.json"),
        ..Default::default()
    })
    .await
    .unwrap();
    let ns_addr = ns.local_addr().to_string();
    let (a, pa) = broker(&dir.path().join("a"), "broker-a", &ns_addr).await;
    let (b, pb) = broker(&dir.path().join("b"), "broker-b", &ns_addr).await;
    a.create_topic("OnlyA", 2).await;
    b.create_topic("OnlyB", 2).await;
    a.create_topic("Both", 2).await;
    b.create_topic("Both", 2).await;
    let ca = client(pa).await;
    let cb = client(pb).await;
    let a_name = ("broker-a".to_string(), pa as i32);
    let b_name = ("broker-b".to_string(), pb as i32);
    // Asked through broker-a, a topic of broker-b points at broker-b's own endpoint.
    for (c, topic, want) in [
        (&ca, "OnlyB", vec![b_name.clone()]),
        (&cb, "OnlyA", vec![a_name.clone()]),
        (&ca, "Both", vec![a_name.clone(), b_name.clone()]),
    ] {
        // The route reaches the name server with the brokers' registrations: poll (bounded).
        let mut c = c.clone();
        let mut got = Vec::new();
        for _ in 0..100 {
            got = route_of(&mut c, topic).await;
            if got == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(got, want, "route of {topic}");
    }
    a.shutdown().await;
    b.shutdown().await;
    ns.shutdown().await;
}

fn code<T: HasStatus>(r: &T) -> i32 {
    r.code()
}

trait HasStatus {
    fn code(&self) -> i32;
}
macro_rules! has_status {
    ($($t:ty),*) => {$(impl HasStatus for $t {
        fn code(&self) -> i32 { self.status.as_ref().map(|s| s.code).unwrap_or(-1) }
    })*};
}
has_status!(
    mq_grpc_proto::v2::SendMessageResponse,
    mq_grpc_proto::v2::QueryRouteResponse,
    mq_grpc_proto::v2::AckMessageResponse,
    mq_grpc_proto::v2::ChangeInvisibleDurationResponse,
    mq_grpc_proto::v2::EndTransactionResponse
);

fn message(topic: &str, id: &str, body: &[u8]) -> Message {
    Message {
        topic: res(topic),
        user_properties: Default::default(),
        system_properties: Some(SystemProperties { message_id: id.into(), ..Default::default() }),
        body: body.to_vec().into(),
    }
}

/// Status of a ReceiveMessage stream (the first element), checking the stream ends.
async fn receive_status(c: &mut MessagingServiceClient<Channel>, r: ReceiveMessageRequest) -> i32 {
    let mut s = c.receive_message(req(r)).await.unwrap().into_inner();
    let mut first = None;
    while let Some(item) = tokio::time::timeout(T, s.message()).await.expect("stream ends").unwrap()
    {
        if let (None, Some(Content::Status(st))) = (&first, item.content) {
            first = Some(st.code);
        }
    }
    first.expect("a status element")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = test_config(dir.path());
    cfg.apply("grpcServerPort", &port.to_string()).unwrap();
    let b = start(cfg).await;
    b.create_topic("Good", 2).await;
    let mut c = client(port).await;

    // No client id.
    let r = c.send_message(SendMessageRequest { messages: vec![message("Good", "i1", b"x")] });
    assert_eq!(code(&r.await.unwrap().into_inner()), Code::ClientIdRequired as i32);
    // Send validation.
    for (m, want) in [
        (message("Good", "i1", b""), Code::MessageBodyEmpty),
        (message("Good", " ", b"x"), Code::IllegalMessageId),
        (message("bad topic!", "i1", b"x"), Code::IllegalTopic),
        (message("NoSuchTopic", "i1", b"x"), Code::TopicNotFound),
    ] {
        let r = c.send_message(req(SendMessageRequest { messages: vec![m] })).await.unwrap();
        assert_eq!(code(r.get_ref()), want as i32, "{:?}", r.get_ref());
    }
    let r = c.query_route(req(QueryRouteRequest { topic: res("NoSuchTopic"), endpoints: None }));
    assert_eq!(code(&r.await.unwrap().into_inner()), Code::TopicNotFound as i32);
    // Handles.
    let entries = vec![AckMessageEntry {
        message_id: "m".into(),
        receipt_handle: "not a handle".into(),
        lite_topic: None,
    }];
    let r = c.ack_message(req(AckMessageRequest { group: res("G"), topic: res("Good"), entries }));
    assert_eq!(code(&r.await.unwrap().into_inner()), Code::InvalidReceiptHandle as i32);
    let r = c.change_invisible_duration(req(ChangeInvisibleDurationRequest {
        group: res("G"),
        topic: res("Good"),
        receipt_handle: "1 2 3 0 0 b 0 0 0".into(),
        invisible_duration: Some(mq_grpc_proto::Duration { seconds: 13 * 3600, nanos: 0 }),
        ..Default::default()
    }));
    assert_eq!(code(&r.await.unwrap().into_inner()), Code::IllegalInvisibleTime as i32);
    let r = c.end_transaction(req(EndTransactionRequest {
        topic: res("Good"),
        message_id: "nope".into(),
        transaction_id: "nope".into(),
        resolution: 1,
        source: 1,
        trace_context: String::new(),
    }));
    assert_eq!(code(&r.await.unwrap().into_inner()), Code::InvalidTransactionId as i32);
    // Receive validation: a status, then the stream ends.
    let base = ReceiveMessageRequest {
        group: res("G"),
        message_queue: Some(MessageQueue { topic: res("Good"), id: -1, ..Default::default() }),
        filter_expression: Some(FilterExpression {
            r#type: FilterType::Tag as i32,
            expression: "*".into(),
        }),
        batch_size: 8,
        invisible_duration: Some(mq_grpc_proto::Duration { seconds: 1, nanos: 0 }),
        auto_renew: false,
        long_polling_timeout: Some(mq_grpc_proto::Duration { seconds: 5, nanos: 0 }),
        attempt_id: None,
    };
    assert_eq!(receive_status(&mut c, base.clone()).await, Code::IllegalInvisibleTime as i32);
    let mut sql = base.clone();
    sql.invisible_duration = Some(mq_grpc_proto::Duration { seconds: 30, nanos: 0 });
    sql.filter_expression =
        Some(FilterExpression { r#type: FilterType::Sql as i32, expression: "a > 1".into() });
    assert_eq!(receive_status(&mut c, sql).await, Code::IllegalFilterExpression as i32);
    let mut empty = base.clone();
    empty.invisible_duration = Some(mq_grpc_proto::Duration { seconds: 30, nanos: 0 });
    assert_eq!(receive_status(&mut c, empty).await, Code::MessageNotFound as i32);
    // Not served: the gRPC status says so.
    let r = c.pull_message(req(PullMessageRequest::default())).await;
    assert_eq!(r.err().map(|s| s.code()), Some(tonic::Code::Unimplemented));
    // Settings with neither publishing nor subscription fail the Telemetry stream.
    let bad =
        TelemetryCommand { status: None, command: Some(Command::Settings(Settings::default())) };
    let mut t = c.telemetry(req(futures::stream::iter(vec![bad]))).await.unwrap().into_inner();
    let e = tokio::time::timeout(T, t.next()).await.expect("answer").expect("an item");
    assert_eq!(e.err().map(|s| s.code()), Some(tonic::Code::InvalidArgument));
    // A good Settings is answered OK with the server's values.
    let good = TelemetryCommand {
        status: None,
        command: Some(Command::Settings(Settings {
            client_type: Some(1),
            pub_sub: Some(PubSub::Publishing(mq_grpc_proto::v2::Publishing {
                topics: vec![res("Good").unwrap()],
                max_body_size: 0,
                validate_message_type: false,
            })),
            ..Default::default()
        })),
    };
    let mut t = c.telemetry(req(futures::stream::iter(vec![good]))).await.unwrap().into_inner();
    let answer = tokio::time::timeout(T, t.next()).await.expect("answer").unwrap().unwrap();
    assert_eq!(answer.status.unwrap().code, Code::Ok as i32);
    match answer.command {
        Some(Command::Settings(s)) => match s.pub_sub {
            Some(PubSub::Publishing(p)) => {
                assert_eq!(p.max_body_size, 4 * 1024 * 1024);
                assert!(p.validate_message_type);
                assert!(s.backoff_policy.is_some());
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    // Bodies that are not one uncompressed message of the call's type (SendMessage,
    // AckMessage and ReceiveMessage are read without tonic's codec: `grpc::unary`): the gRPC
    // status says so.
    let framed = |flag: u8, payload: &[u8]| {
        let mut b = vec![flag];
        b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        b.extend_from_slice(payload);
        b
    };
    let ok_send = prost::Message::encode_to_vec(&SendMessageRequest {
        messages: vec![message("Good", "raw1", b"x")],
    });
    for path in ["SendMessage", "AckMessage", "ReceiveMessage"] {
        for (body, want) in [
            (framed(0, &[0xff, 0xff, 0xff]), tonic::Code::Internal), // not protobuf
            (framed(1, &ok_send), tonic::Code::Unimplemented),       // compressed
            (b"notprotobuf".to_vec(), tonic::Code::Internal),        // not a gRPC frame
            (framed(0, &ok_send)[..8].to_vec(), tonic::Code::Internal), // truncated
            ([framed(0, &ok_send), framed(0, &ok_send)].concat(), tonic::Code::Internal), // two
            (vec![], tonic::Code::Internal),                         // none
        ] {
            assert_eq!(raw_call(port, path, body).await, want, "{path}");
        }
    }
    // The right bytes through the same raw path are served (status in the body).
    assert_eq!(raw_call(port, "SendMessage", framed(0, &ok_send)).await, tonic::Code::Ok);
    // The endpoint still answers after all that.
    let r =
        c.send_message(req(SendMessageRequest { messages: vec![message("Good", "ok1", b"x")] }));
    assert_eq!(code(&r.await.unwrap().into_inner()), Code::Ok as i32);
    b.shutdown().await;
}

/// POST `body` as is to `MessagingService/<method>` and return the call's gRPC status (from
/// the trailers, or from the headers of a trailers-only answer).
async fn raw_call(port: u16, method: &str, body: Vec<u8>) -> tonic::Code {
    use http_body_util::BodyExt;
    use tonic::codegen::Service;
    let endpoint = Channel::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
    let mut ch = endpoint.connect().await.unwrap();
    std::future::poll_fn(|cx| ch.poll_ready(cx)).await.unwrap();
    let req = tonic::codegen::http::Request::builder()
        .method("POST")
        .uri(format!("http://127.0.0.1:{port}/apache.rocketmq.v2.MessagingService/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("x-mq-client-id", "grpc-endpoint-raw")
        .body(tonic::body::Body::new(http_body_util::Full::new(bytes::Bytes::from(body))))
        .unwrap();
    let resp = tokio::time::timeout(T, ch.call(req)).await.expect("answered").unwrap();
    let head = resp.headers().get("grpc-status").cloned();
    let all = tokio::time::timeout(T, resp.into_body().collect()).await.expect("body").unwrap();
    let status = head.or_else(|| all.trailers().and_then(|t| t.get("grpc-status").cloned()));
    let code: i32 = status.expect("a grpc-status").to_str().unwrap().parse().unwrap();
    tonic::Code::from(code)
}

fn req_as<T>(m: T, client_id: &str, timeout: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut().insert("x-mq-client-id", client_id.parse().unwrap());
    r.set_timeout(timeout);
    r
}

/// The messages of one ReceiveMessage answer (status checked OK when any came).
async fn receive(
    c: &mut MessagingServiceClient<Channel>,
    r: ReceiveMessageRequest,
    client_id: &str,
    timeout: Duration,
) -> Vec<Message> {
    let mut s = c.receive_message(req_as(r, client_id, timeout)).await.unwrap().into_inner();
    let mut out = Vec::new();
    while let Some(item) = tokio::time::timeout(T, s.message()).await.expect("stream ends").unwrap()
    {
        if let Some(Content::Message(m)) = item.content {
            out.push(m);
        }
    }
    out
}

fn handle(m: &Message) -> String {
    m.system_properties.as_ref().unwrap().receipt_handle.clone().unwrap()
}

fn body(m: &Message) -> String {
    String::from_utf8_lossy(&m.body).into_owned()
}

fn receive_req(topic: &str, group: &str, filter: FilterExpression) -> ReceiveMessageRequest {
    ReceiveMessageRequest {
        group: res(group),
        message_queue: Some(MessageQueue { topic: res(topic), id: -1, ..Default::default() }),
        filter_expression: Some(filter),
        batch_size: 32,
        invisible_duration: Some(mq_grpc_proto::Duration { seconds: 30, nanos: 0 }),
        auto_renew: false,
        long_polling_timeout: Some(mq_grpc_proto::Duration { seconds: 5, nanos: 0 }),
        attempt_id: None,
    }
}

fn all() -> FilterExpression {
    FilterExpression { r#type: FilterType::Tag as i32, expression: "*".into() }
}

async fn send(c: &mut MessagingServiceClient<Channel>, topic: &str, i: usize, body: Vec<u8>) {
    let mut m = message(topic, &format!("id-{topic}-{i}"), &body);
    m.user_properties.insert("a".into(), i.to_string());
    let r = c.send_message(req(SendMessageRequest { messages: vec![m] })).await.unwrap();
    assert_eq!(code(r.get_ref()), Code::Ok as i32, "{:?}", r.get_ref());
}

async fn ack_one(
    c: &mut MessagingServiceClient<Channel>,
    topic: &str,
    group: &str,
    h: String,
) -> i32 {
    let entries =
        vec![AckMessageEntry { message_id: "m".into(), receipt_handle: h, lite_topic: None }];
    let r = c.ack_message(req(AckMessageRequest { group: res(group), topic: res(topic), entries }));
    code(&r.await.unwrap().into_inner())
}

/// SQL92 receive filters, answers bounded in bytes, push consumers' messages kept invisible
/// while their session lives (and released when it ends), FIFO `attempt_id` retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_filters_bounds_renewal_and_attempt_ids() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = test_config(dir.path());
    for (k, v) in [
        ("grpcServerPort", port.to_string()),
        ("enablePropertyFilter", "true".into()),
        ("defaultInvisibleTimeMills", "2000".into()),
        ("maxMessageSize", (3 << 20).to_string()),
    ] {
        cfg.apply(k, &v).unwrap();
    }
    let b = start(cfg).await;
    let mut c = client(port).await;
    let short = Duration::from_millis(2500); // long poll ≈ 1.5 s

    // SQL92.
    b.create_topic("Sq", 1).await;
    for i in 0..10 {
        send(&mut c, "Sq", i, format!("m{i}").into_bytes()).await;
    }
    let sql = |e: &str| FilterExpression { r#type: FilterType::Sql as i32, expression: e.into() };
    let got = receive(&mut c, receive_req("Sq", "GSql", sql("a >= 5 AND a <> 7")), "c1", T).await;
    assert_eq!(got.iter().map(body).collect::<Vec<_>>(), ["m5", "m6", "m8", "m9"]);
    let bad = receive_req("Sq", "GSql2", sql("(((a"));
    assert_eq!(receive_status(&mut c, bad).await, Code::IllegalFilterExpression as i32);

    // Bounded answers: 2 MiB messages come one per receive (4 MiB per answer).
    b.create_topic("Big", 1).await;
    for i in 0..3 {
        send(&mut c, "Big", i, vec![b'x'; 2 << 20]).await;
    }
    let mut n = 0;
    for _ in 0..3 {
        let got = receive(&mut c, receive_req("Big", "GBig", all()), "c1", T).await;
        assert_eq!(got.len(), 1);
        n += got.len();
    }
    assert_eq!(n, 3);

    // Push consumers (auto_renew): still invisible long after defaultInvisibleTimeMills, the
    // first handle still acks; a session that ends releases its messages within ~1 s.
    b.create_topic("Rn", 1).await;
    send(&mut c, "Rn", 0, b"r0".to_vec()).await;
    send(&mut c, "Rn", 1, b"r1".to_vec()).await;
    let mut push = receive_req("Rn", "GRn", all());
    push.batch_size = 1;
    push.auto_renew = true;
    push.invisible_duration = None;
    let first = receive(&mut c, push.clone(), "push-1", T).await;
    let second = receive(&mut c, push.clone(), "push-2", T).await;
    assert_eq!((first.len(), second.len()), (1, 1));
    tokio::time::sleep(Duration::from_millis(4500)).await; // > 2 × defaultInvisibleTimeMills
    let other = receive(&mut c, receive_req("Rn", "GRn", all()), "simple", short).await;
    assert!(other.is_empty(), "renewed messages stay invisible: got {}", other.len());
    assert_eq!(ack_one(&mut c, "Rn", "GRn", handle(&first[0])).await, Code::Ok as i32);
    let bye = c.notify_client_termination(req_as(
        mq_grpc_proto::v2::NotifyClientTerminationRequest { group: res("GRn") },
        "push-2",
        T,
    ));
    bye.await.unwrap();
    let mut back = Vec::new();
    for _ in 0..10 {
        back = receive(&mut c, receive_req("Rn", "GRn", all()), "simple", short).await;
        if !back.is_empty() {
            break;
        }
    }
    assert_eq!(back.iter().map(body).collect::<Vec<_>>(), [body(&second[0])]);

    // FIFO: a receive retried with the same attempt_id gets the same messages again at once;
    // another id waits for them.
    let mut g = mq_common::protocol::body::SubscriptionGroupConfig {
        group_name: "GFifo".into(),
        consume_message_orderly: true,
        ..Default::default()
    };
    g.retry_max_times = 3;
    let r = b
        .call(
            mq_common::protocol::RemotingCommand::request(
                mq_common::protocol::codes::request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
            )
            .with_body(serde_json::to_vec(&g).unwrap()),
        )
        .await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    b.create_topic("Fi", 1).await;
    for i in 0..3 {
        send(&mut c, "Fi", i, format!("f{i}").into_bytes()).await;
    }
    let mut fifo = receive_req("Fi", "GFifo", all());
    fifo.attempt_id = Some("try-1".into());
    let a = receive(&mut c, fifo.clone(), "f", T).await;
    assert_eq!(a.iter().map(body).collect::<Vec<_>>(), ["f0", "f1", "f2"]);
    // (A later pop time, so the first answer's handles name another deadline.)
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = receive(&mut c, fifo.clone(), "f", T).await;
    assert_eq!(again.iter().map(body).collect::<Vec<_>>(), ["f0", "f1", "f2"]);
    let attempt = |m: &Message| m.system_properties.as_ref().unwrap().delivery_attempt;
    assert_eq!(attempt(&again[0]), attempt(&a[0]), "a retried receive is the same attempt");
    // The first answer's handles are superseded; the retried one's ack.
    assert_eq!(
        ack_one(&mut c, "Fi", "GFifo", handle(&a[0])).await,
        Code::InvalidReceiptHandle as i32
    );
    fifo.attempt_id = Some("try-2".into());
    assert!(receive(&mut c, fifo.clone(), "f", short).await.is_empty(), "blocked");
    for m in &again {
        assert_eq!(ack_one(&mut c, "Fi", "GFifo", handle(m)).await, Code::Ok as i32);
    }
    b.shutdown().await;
}

/// A transaction id stays good across a broker restart: EndTransaction commits the prepared
/// message from the offsets its id names, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_transaction_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = || {
        let mut cfg = test_config(dir.path());
        cfg.apply("grpcServerPort", &port.to_string()).unwrap();
        cfg
    };
    let b = start(config()).await;
    b.create_topic("Tx", 1).await;
    let mut c = client(port).await;
    let mut m = message("Tx", "tx-msg-1", b"prepared");
    m.system_properties.as_mut().unwrap().message_type =
        mq_grpc_proto::v2::MessageType::Transaction as i32;
    let r = c.send_message(req(SendMessageRequest { messages: vec![m] })).await.unwrap();
    let entry = r.into_inner().entries.remove(0);
    assert_eq!(entry.status.as_ref().unwrap().code, Code::Ok as i32);
    let tx_id = entry.transaction_id.clone();
    b.shutdown().await;

    let b = start(config()).await;
    let mut c = client(port).await;
    let end = |tx: &str| EndTransactionRequest {
        topic: res("Tx"),
        message_id: "tx-msg-1".into(),
        transaction_id: tx.into(),
        resolution: 1,
        source: 1,
        trace_context: String::new(),
    };
    // A made-up id naming no half message is refused.
    let bogus = c.end_transaction(req(end("tx-msg-1@123456789.0"))).await.unwrap().into_inner();
    assert_eq!(code(&bogus), Code::InvalidTransactionId as i32);
    let r = c.end_transaction(req(end(&tx_id))).await.unwrap().into_inner();
    assert_eq!(code(&r), Code::Ok as i32, "{r:?}");
    let again = c.end_transaction(req(end(&tx_id))).await.unwrap().into_inner();
    assert_eq!(code(&again), Code::InvalidTransactionId as i32);
    let got = receive(&mut c, receive_req("Tx", "GTx", all()), "c-tx", T).await;
    assert_eq!(got.iter().map(body).collect::<Vec<_>>(), ["prepared"]);
    b.shutdown().await;
}

/// A broker (test config) with its gRPC endpoint on a free port, and a client of it.
async fn with_endpoint(dir: &std::path::Path) -> (TestBroker, MessagingServiceClient<Channel>) {
    let port = free_port();
    let mut cfg = test_config(dir);
    cfg.apply("grpcServerPort", &port.to_string()).unwrap();
    let b = start(cfg).await;
    (b, client(port).await)
}

/// One AckMessage with handles of two queues, interleaved, a repeated, a malformed and a
/// superseded handle: one result per entry, in the request's order, each with its own code
/// (the engine acks a request's handles queue run by queue run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_answers_each_entry_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (b, mut c) = with_endpoint(dir.path()).await;
    b.create_topic("Ak", 2).await;
    // Queues are picked at random: with 20 messages each of the two gets 2 or more but for
    // a chance of 4 in 100 000.
    for i in 0..20 {
        send(&mut c, "Ak", i, format!("a{i}").into_bytes()).await;
    }
    let got = receive(&mut c, receive_req("Ak", "GAk", all()), "c1", T).await;
    assert_eq!(got.len(), 20);
    let on = |q: i32| -> Vec<&Message> {
        got.iter().filter(|m| m.system_properties.as_ref().unwrap().queue_id == q).collect()
    };
    let (q0, q1) = (on(0), on(1));
    assert!(q0.len() >= 2 && q1.len() >= 2, "both queues have messages");
    // A new invisible time supersedes q1[1]'s first handle.
    let changed = c
        .change_invisible_duration(req(ChangeInvisibleDurationRequest {
            group: res("GAk"),
            topic: res("Ak"),
            receipt_handle: handle(q1[1]),
            invisible_duration: Some(mq_grpc_proto::Duration { seconds: 60, nanos: 0 }),
            message_id: "m".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&changed), Code::Ok as i32);
    let entries: Vec<(String, Code)> = vec![
        (handle(q0[0]), Code::Ok),
        (handle(q0[0]), Code::InvalidReceiptHandle), // already acked by the entry before
        (handle(q1[0]), Code::Ok),
        (handle(q0[1]), Code::Ok),
        ("not a handle".into(), Code::InvalidReceiptHandle),
        (handle(q1[1]), Code::InvalidReceiptHandle), // superseded
        (changed.receipt_handle.clone(), Code::Ok),
    ];
    let r = c
        .ack_message(req(AckMessageRequest {
            group: res("GAk"),
            topic: res("Ak"),
            entries: entries
                .iter()
                .map(|(h, _)| AckMessageEntry {
                    message_id: "m".into(),
                    receipt_handle: h.clone(),
                    lite_topic: None,
                })
                .collect(),
        }))
        .await
        .unwrap()
        .into_inner();
    let codes: Vec<i32> = r.entries.iter().map(|e| e.status.as_ref().unwrap().code).collect();
    let want: Vec<i32> = entries.iter().map(|(_, c)| *c as i32).collect();
    assert_eq!(codes, want);
    let handles: Vec<&str> = r.entries.iter().map(|e| e.receipt_handle.as_str()).collect();
    assert_eq!(handles, entries.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>());
    // What is left in flight is exactly what was not acked.
    let acked = [handle(q0[0]), handle(q1[0]), handle(q0[1])];
    for m in got.iter().filter(|m| !acked.contains(&handle(m)) && handle(m) != handle(q1[1])) {
        assert_eq!(ack_one(&mut c, "Ak", "GAk", handle(m)).await, Code::Ok as i32);
    }
    b.shutdown().await;
}

/// A client that goes away in the middle of an answer: what the broker had not handed to the
/// connection yet (flow control holds large messages back) is visible again after about a
/// second, not after the 30 s invisible time the receive asked for. The five 700 KiB messages
/// are one answer (a POP answer holds up to 4 MiB: none is left unpopped to come back on its
/// own). The reading client opens a 1 MiB stream window: with the message it reads, about
/// 1.7 MiB may be sent, so the broker hands out 3 and keeps 2 (tonic's default 2 MiB window
/// let 4 or, once in ten runs, all 5 out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_not_handed_out_come_back_when_the_client_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = test_config(dir.path());
    cfg.apply("grpcServerPort", &port.to_string()).unwrap();
    let b = start(cfg).await;
    let mut c = client(port).await;
    b.create_topic("Gone", 1).await;
    for i in 0..5 {
        send(&mut c, "Gone", i, vec![b'a' + i as u8; 700 << 10]).await;
    }
    let addr = format!("http://127.0.0.1:{port}");
    let ch = Channel::from_shared(addr).unwrap().initial_stream_window_size(1 << 20);
    let mut reader = MessagingServiceClient::new(ch.connect().await.unwrap());
    let mut s = reader
        .receive_message(req(receive_req("Gone", "GGone", all())))
        .await
        .unwrap()
        .into_inner();
    let mut first = None;
    while first.is_none() {
        let item = tokio::time::timeout(T, s.message()).await.unwrap().unwrap().unwrap();
        if let Some(Content::Message(m)) = item.content {
            first = Some(m);
        }
    }
    drop(s);
    let first = first.unwrap();
    // The rest: some were handed out (invisible for 30 s), the others come back.
    let t0 = std::time::Instant::now();
    let mut back = Vec::new();
    while back.is_empty() && t0.elapsed() < Duration::from_secs(10) {
        let mut r = receive_req("Gone", "GGone", all());
        r.long_polling_timeout = Some(mq_grpc_proto::Duration { seconds: 1, nanos: 0 });
        back = receive(&mut c, r, "c2", Duration::from_secs(6)).await;
    }
    assert!(!back.is_empty(), "released messages are visible again within 10 s");
    assert!(back.iter().all(|m| body(m) != body(&first)), "the one read stays invisible");
    b.shutdown().await;
}
