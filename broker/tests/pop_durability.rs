//! POP state across a kill -9 and a clean restart, through the gRPC endpoint of a real
//! `mqbroker` process: an acked message is never delivered again, an un-acked one always is
//! (after its invisible time, with the next attempt number), a receipt handle issued before
//! the crash still acks after it, and new messages keep flowing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mq_grpc_proto::v2::{
    receive_message_response::Content, AckMessageEntry, AckMessageRequest, Code, FilterExpression,
    FilterType, Message, MessageQueue, ReceiveMessageRequest, Resource, SendMessageRequest,
    SystemProperties,
};
use mq_grpc_proto::MessagingServiceClient;
use mq_test_support::{free_port, Stack, StackOptions};
use tonic::transport::Channel;

const TOPIC: &str = "PopDurable";
const GROUP: &str = "GPopDurable";
/// Invisible time of the first receive: long enough to kill and restart the broker in between.
const INVISIBLE_S: i64 = 20;

fn res(name: &str) -> Option<Resource> {
    Some(Resource { resource_namespace: String::new(), name: name.into() })
}

fn req<T>(m: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(m);
    r.metadata_mut().insert("x-mq-client-id", "pop-durability-test".parse().unwrap());
    r.set_timeout(Duration::from_secs(30));
    r
}

async fn connect(port: u16) -> MessagingServiceClient<Channel> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match MessagingServiceClient::connect(format!("http://127.0.0.1:{port}")).await {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("gRPC endpoint not reachable: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn send(c: &mut MessagingServiceClient<Channel>, bodies: &[String]) {
    for b in bodies {
        let m = Message {
            topic: res(TOPIC),
            user_properties: Default::default(),
            system_properties: Some(SystemProperties {
                message_id: format!("id-{b}"),
                message_type: 1,
                ..Default::default()
            }),
            body: b.clone().into_bytes().into(),
        };
        let r = c.send_message(req(SendMessageRequest { messages: vec![m] })).await.unwrap();
        assert_eq!(r.get_ref().status.as_ref().unwrap().code, Code::Ok as i32, "{:?}", r.get_ref());
    }
}

/// One receive: (body, attempt, receipt handle) of every message it returned.
async fn receive(
    c: &mut MessagingServiceClient<Channel>,
    invisible_s: i64,
) -> Vec<(String, i32, String)> {
    let r = ReceiveMessageRequest {
        group: res(GROUP),
        message_queue: Some(MessageQueue { topic: res(TOPIC), id: -1, ..Default::default() }),
        filter_expression: Some(FilterExpression {
            r#type: FilterType::Tag as i32,
            expression: "*".into(),
        }),
        batch_size: 32,
        invisible_duration: Some(mq_grpc_proto::Duration { seconds: invisible_s, nanos: 0 }),
        auto_renew: false,
        long_polling_timeout: Some(mq_grpc_proto::Duration { seconds: 5, nanos: 0 }),
        attempt_id: None,
    };
    let mut stream = c.receive_message(req(r)).await.unwrap().into_inner();
    let mut out = Vec::new();
    while let Some(item) = stream.message().await.unwrap() {
        if let Some(Content::Message(m)) = item.content {
            let sp = m.system_properties.unwrap();
            out.push((
                String::from_utf8(m.body.to_vec()).unwrap(),
                sp.delivery_attempt.unwrap_or(0),
                sp.receipt_handle.unwrap_or_default(),
            ));
        }
    }
    out
}

async fn ack(c: &mut MessagingServiceClient<Channel>, handles: &[String]) -> Vec<i32> {
    let entries = handles
        .iter()
        .map(|h| AckMessageEntry {
            message_id: String::new(),
            receipt_handle: h.clone(),
            lite_topic: None,
        })
        .collect();
    let r = c
        .ack_message(req(AckMessageRequest { group: res(GROUP), topic: res(TOPIC), entries }))
        .await
        .unwrap();
    r.into_inner().entries.iter().map(|e| e.status.as_ref().unwrap().code).collect()
}

/// GET_BROKER_RUNTIME_INFO body (a KvTable as JSON text).
async fn runtime_info(broker: &str) -> String {
    use mq_common::protocol::codes::request as rq;
    use mq_common::protocol::RemotingCommand;
    use mq_common::remoting::{ClientConfig, RemotingClient};
    let c = RemotingClient::new(ClientConfig::default());
    let r = c
        .invoke(
            broker,
            RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Receive until `want` messages arrived or `within` passed; then `quiet` more to catch extras.
async fn collect(
    c: &mut MessagingServiceClient<Channel>,
    want: usize,
    within: Duration,
    quiet: Duration,
) -> BTreeMap<String, Vec<i32>> {
    let mut got: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let until = Instant::now() + within;
    let mut extra_until: Option<Instant> = None;
    loop {
        let n: usize = got.values().map(Vec::len).sum();
        if n >= want && extra_until.is_none() {
            extra_until = Some(Instant::now() + quiet);
        }
        if extra_until.is_some_and(|t| Instant::now() > t) || Instant::now() > until {
            return got;
        }
        let batch = receive(c, 30).await;
        let handles: Vec<String> = batch.iter().map(|(_, _, h)| h.clone()).collect();
        for (b, attempt, _) in batch {
            got.entry(b).or_default().push(attempt);
        }
        if !handles.is_empty() {
            assert!(ack(c, &handles).await.iter().all(|code| *code == Code::Ok as i32));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop_state_survives_kill_9_and_clean_restart() {
    let gport = free_port();
    let mut s = Stack::start(
        StackOptions::default()
            .broker_set("grpcServerPort", &gport.to_string())
            .broker_set("popReviveIntervalMills", "100"),
    )
    .await;
    s.create_topic(TOPIC, 2).await;
    let broker = s.broker_names()[0].clone();
    let mut c = connect(gport).await;
    let first: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
    send(&mut c, &first).await;

    // Pop all 20 (long invisible time), ack the even ones; keep one odd handle for later.
    let mut popped = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    while popped.len() < 20 && Instant::now() < until {
        popped.extend(receive(&mut c, INVISIBLE_S).await);
    }
    assert_eq!(popped.len(), 20, "first receive got {popped:?}");
    // Visible to admins: in-flight count per POP group and answers per RPC and code.
    let info = runtime_info(&s.broker_addr).await;
    assert!(info.contains("GPopDurable:inflight=20,"), "{info}");
    assert!(info.contains("ReceiveMessage:20000="), "{info}");
    assert!(popped.iter().all(|(_, a, _)| *a == 1));
    let even: Vec<String> = popped
        .iter()
        .filter(|(b, _, _)| b[1..].parse::<u32>().unwrap() % 2 == 0)
        .map(|(_, _, h)| h.clone())
        .collect();
    assert!(ack(&mut c, &even).await.iter().all(|code| *code == Code::Ok as i32));
    let kept = popped.iter().find(|(b, _, _)| b == "m01").unwrap().2.clone();

    // kill -9, restart on the same store.
    s.kill_broker(&broker);
    s.start_broker(&broker).await;
    let mut c = connect(gport).await;
    // The handle issued before the crash still acks (its invisible time is not over yet).
    assert_eq!(ack(&mut c, std::slice::from_ref(&kept)).await, vec![Code::Ok as i32]);
    // An acked handle does not ack twice.
    assert_eq!(ack(&mut c, &even[..1]).await, vec![Code::InvalidReceiptHandle as i32]);
    let later: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
    send(&mut c, &later).await;

    // Expect: the 5 new ones (attempt 1) and the 9 odd un-acked ones (attempt 2, after their
    // invisible time), each exactly once; no even one, not m01.
    let got = collect(&mut c, 14, Duration::from_secs(60), Duration::from_secs(3)).await;
    let mut want: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for b in &later {
        want.insert(b.clone(), vec![1]);
    }
    for i in (3..20).step_by(2) {
        want.insert(format!("m{i:02}"), vec![2]);
    }
    assert_eq!(got, want, "deliveries after kill -9");

    // Clean restart: everything is acked, nothing comes back; new messages still flow.
    s.stop_broker(&broker);
    s.start_broker(&broker).await;
    let mut c = connect(gport).await;
    send(&mut c, &["after-clean".to_string()]).await;
    let got = collect(&mut c, 1, Duration::from_secs(30), Duration::from_secs(3)).await;
    assert_eq!(got, BTreeMap::from([("after-clean".to_string(), vec![1])]), "after clean restart");
}
