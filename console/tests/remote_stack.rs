//! The console's JSON API over a real nameserver with two real brokers, one of which goes
//! down: first hung (SIGSTOP: still registered, requests time out), then killed with its
//! address still registered (as after a host crash, which closes no connection). The cluster,
//! topic-list and group endpoints must answer 200 with broker-a's data plus an error entry
//! naming broker-b.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use mq_client::Admin;
use mq_common::protocol::body::{
    to_json, RegisterBrokerBody, SubscriptionGroupConfig, TopicConfig,
};
use mq_common::protocol::codes::request;
use mq_common::protocol::header::RegisterBrokerRequestHeader;
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_console::auth::Auth;
use mq_console::backend::remote::RemoteBackend;
use mq_console::{router, AppState};
use mq_test_support::{wait_until, Stack, StackOptions};
use serde_json::Value;
use tower::ServiceExt;

const TOPIC: &str = "ConsoleStackTopic";
const GROUP: &str = "ConsoleStackGroup";

async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// `v["failures"]` is exactly one entry: broker-b at `dead`, with an error containing `why`.
fn names_dead(what: &str, v: &Value, dead: &str, why: &str) {
    let f = v["failures"].as_array().unwrap_or_else(|| panic!("{what}: no failures in {v}"));
    assert_eq!(f.len(), 1, "{what}: {v}");
    assert_eq!(f[0]["broker"], "broker-b", "{what}: {v}");
    assert_eq!(f[0]["addr"], dead, "{what}: {v}");
    let err = f[0]["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(err.contains(why), "{what}: error '{err}' should say '{why}'");
}

/// Every page the console builds from a fan-out answers 200 with broker-a's data and names
/// broker-b's failure.
async fn pages_show_live_and_name_dead(app: &Router, dead: &str, why: &str) {
    let (s, v) = get(app, "/api/overview").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    names_dead("overview", &v, dead, why);
    let brokers = v["brokers"].as_array().unwrap();
    let a = brokers
        .iter()
        .find(|b| b["brokerName"] == "broker-a")
        .unwrap_or_else(|| panic!("broker-a missing: {v}"));
    assert!(a["error"].is_null() && a["version"].is_string(), "broker-a has runtime data: {a}");
    let b = brokers
        .iter()
        .find(|b| b["brokerName"] == "broker-b")
        .unwrap_or_else(|| panic!("broker-b not listed: {v}"));
    assert!(
        b["error"].as_str().is_some_and(|e| e.to_lowercase().contains(why)),
        "broker-b row carries its error: {b}"
    );

    let (s, v) = get(app, "/api/topics").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    names_dead("topics", &v, dead, why);
    let t = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == TOPIC)
        .unwrap_or_else(|| panic!("{TOPIC} missing: {v}"));
    assert_eq!(t["brokers"], serde_json::json!(["broker-a"]), "{t}");

    let (s, v) = get(app, "/api/groups").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    names_dead("groups", &v, dead, why);
    assert!(
        v["items"].as_array().unwrap().iter().any(|g| g["name"] == GROUP),
        "{GROUP} missing: {v}"
    );

    let (s, v) = get(app, &format!("/api/groups/{GROUP}/progress")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    names_dead("group progress", &v, dead, why);
    let (s, v) = get(app, &format!("/api/groups/{GROUP}/members")).await;
    assert_eq!(s, StatusCode::OK, "group members: {v}");
    let (s, v) = get(app, &format!("/api/topics/{TOPIC}/status")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    names_dead("topic status", &v, dead, why);
}

/// Poll (bounded) until the overview lists a failure of `broker`; the last answer is printed
/// on timeout.
async fn overview_names(app: &Router, broker: &str) {
    let last = std::sync::Mutex::new(Value::Null);
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (_, v) = get(app, "/api/overview").await;
            if v["failures"].as_array().is_some_and(|f| f.iter().any(|f| f["broker"] == broker)) {
                return;
            }
            *last.lock().unwrap() = v;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "overview never named {broker}; last answer: {}", last.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_answer_with_one_broker_down() {
    let mut stack = Stack::start(StackOptions::default().brokers(&["broker-a", "broker-b"])).await;
    let ns = stack.namesrv_addr.clone();
    stack.create_topic(TOPIC, 2).await;
    let admin = Admin::connect(&ns).await.unwrap();
    let masters = admin.brokers(true).await.unwrap();
    let made = admin
        .create_subscription_group_per_broker(masters.clone(), &SubscriptionGroupConfig::new(GROUP))
        .await;
    assert_eq!(made.failed.len(), 0, "{:?}", made.failed);

    // No cache (ttl 0) so every request sees the current state; 1 s per broker call.
    let backend =
        Arc::new(RemoteBackend::new(vec![ns.clone()], Duration::from_secs(1), Duration::ZERO));
    let app = router(AppState::new(backend, Auth::with_password("pw", 1000, true)));
    let (s, v) = get(&app, "/api/overview").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["failures"], serde_json::json!([]), "both up: {v}");
    assert_eq!(v["brokers"].as_array().unwrap().len(), 2, "{v}");

    let dead = stack.broker_addr_of("broker-b");
    // 1. Hung: the process is frozen, its connections stay open, the nameserver keeps it.
    let pid = stack.broker_pid("broker-b").expect("broker-b runs") as libc::pid_t;
    // SAFETY: plain kill(2) on a child process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    // kill(2) only queues the stop: wait (bounded) until the overview shows broker-b failing.
    overview_names(&app, "broker-b").await;
    pages_show_live_and_name_dead(&app, &dead, "timed out").await;

    // 2. Killed (SIGKILL also ends a stopped process). Our nameserver drops a broker whose
    // connection closed; a crashed host closes none and stays registered until expiry, so
    // register the dead address again as its last heartbeat would have, on a connection held
    // open until the end of the test.
    stack.kill_broker("broker-b");
    wait_until("nameserver to drop broker-b", Duration::from_secs(20), || {
        let admin = admin.clone();
        async move {
            admin
                .brokers(false)
                .await
                .map(|b| b.iter().all(|b| b.name != "broker-b"))
                .unwrap_or(false)
        }
    })
    .await;
    let registrar = RemotingClient::new(ClientConfig::default());
    let mut last = RegisterBrokerBody::default();
    last.topic_config_serialize_wrapper
        .topic_config_table
        .insert(TOPIC.into(), TopicConfig::new(TOPIC, 2, 6));
    let body = to_json(&last);
    let hdr = RegisterBrokerRequestHeader {
        broker_name: "broker-b".into(),
        broker_addr: dead.clone(),
        cluster_name: "TestCluster".into(),
        ha_server_addr: dead.clone(),
        broker_id: 0,
        heartbeat_timeout_millis: None,
        enable_acting_master: None,
        compressed: Some(false),
        body_crc32: Some(0),
    };
    let r = registrar
        .invoke(
            &ns,
            RemotingCommand::request_with_header(request::REGISTER_BROKER, &hdr).with_body(body),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(r.code, 0, "register: {:?}", r.remark);
    overview_names(&app, "broker-b").await;
    pages_show_live_and_name_dead(&app, &dead, "refused").await;

    registrar.close_all();
    admin.close();
}
