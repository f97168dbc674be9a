//! API tests: the axum router driven with `oneshot` against the fake backend.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use mq_console::auth::Auth;
use mq_console::backend::fake::FakeBackend;
use mq_console::{router, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;

const PW: &str = "test-password";

fn app_with(fb: Arc<FakeBackend>, reads_open: bool) -> Router {
    router(AppState::new(fb, Auth::with_password(PW, 1000, reads_open)))
}

fn app() -> (Router, Arc<FakeBackend>) {
    let fb = Arc::new(FakeBackend::demo());
    (app_with(fb.clone(), true), fb)
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header(header::COOKIE, format!("rmq_session={t}"));
    }
    let req = match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    };
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

async fn login(app: &Router) -> String {
    let (s, v) = call(app, "POST", "/api/login", Some(json!({"password": PW})), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn overview_lists_brokers() {
    let (app, _) = app();
    let (s, v) = call(&app, "GET", "/api/overview", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["brokers"].as_array().unwrap().len(), 2);
    assert_eq!(v["failures"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn elect_master_designates_a_live_in_sync_replica_only() {
    let (app, _) = app();
    let token = login(&app).await;
    let elect =
        |id: u64| json!({"cluster": "DefaultCluster", "brokerName": "broker-ctl", "brokerId": id});
    // Replica 3 is behind (not in the in-sync set): refused, nothing changes.
    let (s, v) = call(&app, "POST", "/api/controller/elect", Some(elect(3)), Some(&token)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("in-sync"), "{v}");
    let (s, v) = call(&app, "POST", "/api/controller/elect", Some(elect(2)), Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["masterBrokerId"].as_u64(), v["masterEpoch"].as_i64()),
        (Some(2), Some(4)),
        "{v}"
    );
    let (_, o) = call(&app, "GET", "/api/overview", None, None).await;
    assert_eq!(o["controllerGroups"][0]["masterAddr"], "127.0.0.22:10911", "{o}");
    // An unknown group is a 404 naming it; a malformed body a 4xx, never a 5xx.
    let bad = json!({"cluster": "DefaultCluster", "brokerName": "nope", "brokerId": 1});
    let (s, v) = call(&app, "POST", "/api/controller/elect", Some(bad), Some(&token)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, _) =
        call(&app, "POST", "/api/controller/elect", Some(json!({"brokerId": -1})), Some(&token))
            .await;
    assert!(s.is_client_error(), "{s}");
}

#[tokio::test]
async fn one_failing_broker_is_named_and_the_rest_shown() {
    let (app, fb) = app();
    fb.set_failing("broker-b", true);
    let (s, v) = call(&app, "GET", "/api/overview", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["failures"][0]["broker"], "broker-b");
    let ok: Vec<&Value> =
        v["brokers"].as_array().unwrap().iter().filter(|b| b["error"].is_null()).collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["brokerName"], "broker-a");

    let (s, v) = call(&app, "GET", "/api/topics/TopicTest/status", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["failures"][0]["broker"], "broker-b");
    assert!(v["items"].as_array().unwrap().iter().all(|q| q["brokerName"] == "broker-a"));

    // A group's lag is unknown (not 0) while one of its brokers is down.
    let (_, v) = call(&app, "GET", "/api/groups?q=GroupA", None, None).await;
    assert_eq!(v["items"][0]["lag"]["state"], "unknown");
}

#[tokio::test]
async fn broker_call_failure_is_502_naming_the_broker() {
    let (app, fb) = app();
    fb.set_failing("broker-a", true);
    let (s, v) = call(&app, "GET", "/api/brokers/runtime?addr=127.0.0.1:10911", None, None).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    assert_eq!(v["error"]["kind"], "broker");
    assert_eq!(v["error"]["broker"], "broker-a");
    assert!(v["error"]["message"].as_str().unwrap().contains("broker-a"));
}

#[tokio::test]
async fn all_brokers_failing_is_an_error_not_an_empty_list() {
    let (app, fb) = app();
    fb.set_failing("broker-a", true);
    fb.set_failing("broker-b", true);
    let (s, v) = call(&app, "GET", "/api/topics", None, None).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    assert_eq!(v["error"]["kind"], "allBrokers");
    assert_eq!(v["error"]["failures"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_lag_is_unknown() {
    let (app, _) = app();
    let (_, v) = call(&app, "GET", "/api/groups", None, None).await;
    let b = v["items"].as_array().unwrap().iter().find(|g| g["name"] == "GroupB").unwrap();
    assert_eq!(b["lag"]["state"], "unknown");
    assert!(b["lag"].get("value").is_none());
    let a = v["items"].as_array().unwrap().iter().find(|g| g["name"] == "GroupA").unwrap();
    assert_eq!(a["lag"]["state"], "known");
    assert!(a["lag"]["value"].as_i64().unwrap() > 0);

    let (_, v) = call(&app, "GET", "/api/groups/GroupB/progress", None, None).await;
    assert_eq!(v["totalLag"]["state"], "unknown");
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|q| q["consumerOffset"].is_null() && q["lag"]["state"] == "unknown"));
}

#[tokio::test]
async fn topic_list_filters_and_pages() {
    let (app, _) = app();
    let (_, v) = call(&app, "GET", "/api/topics", None, None).await;
    let names: Vec<&str> =
        v["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["OrderTopic", "TopicTest"], "default filter shows normal topics only");
    let (_, v) = call(&app, "GET", "/api/topics?kinds=dlq,retry", None, None).await;
    assert_eq!(v["total"], 2);
    let (_, v) = call(&app, "GET", "/api/topics?kinds=system", None, None).await;
    assert!(v["items"].as_array().unwrap().iter().any(|t| t["name"] == "TBW102"));
    let (s, _) = call(&app, "GET", "/api/topics?size=0", None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(&app, "GET", "/api/topics?kinds=weird", None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn writes_need_login() {
    let (app, _) = app();
    let create = json!({"name": "NewTopic", "readQueues": 2, "writeQueues": 2, "perm": 6});
    let (s, v) = call(&app, "POST", "/api/topics", Some(create.clone()), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["kind"], "auth");
    for (m, u, b) in [
        ("DELETE", "/api/topics/TopicTest", None),
        ("POST", "/api/topics/TopicTest/send", Some(json!({"body": "x"}))),
        ("POST", "/api/groups", Some(json!({"name": "G"}))),
        ("DELETE", "/api/groups/GroupA", None),
        ("POST", "/api/groups/GroupA/reset/apply", Some(json!({"timestamp": 0}))),
        (
            "POST",
            "/api/messages/resend",
            Some(json!({"topic": "TopicTest", "msgId": "AA", "group": "GroupA"})),
        ),
        ("POST", "/api/dlq/resend", Some(json!({"group": "GroupA", "msgIds": ["AA"]}))),
        (
            "POST",
            "/api/controller/elect",
            Some(json!({"cluster": "DefaultCluster", "brokerName": "broker-ctl", "brokerId": 2})),
        ),
    ] {
        let (s, _) = call(&app, m, u, b, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{m} {u}");
    }
    let (s, _) = call(&app, "POST", "/api/login", Some(json!({"password": "wrong"})), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) =
        call(&app, "POST", "/api/topics", Some(create.clone()), Some("forged.token")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let token = login(&app).await;
    let (s, v) = call(&app, "POST", "/api/topics", Some(create), Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.as_array().unwrap().iter().all(|r| r["ok"] == true));
    let (_, v) = call(&app, "GET", "/api/topics?q=newtopic", None, None).await;
    assert_eq!(v["total"], 1);
}

#[tokio::test]
async fn reads_can_require_login() {
    let fb = Arc::new(FakeBackend::demo());
    let app = app_with(fb, false);
    let (s, _) = call(&app, "GET", "/api/topics", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = call(&app, "GET", "/api/session", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["readsOpen"], false);
    let token = login(&app).await;
    let (s, _) = call(&app, "GET", "/api/topics", None, Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn send_find_by_key_detail_and_resend() {
    let (app, _) = app();
    let token = login(&app).await;
    let (s, sent) = call(
        &app,
        "POST",
        "/api/topics/TopicTest/send",
        Some(json!({"tags": "T1", "keys": "k-unique-1", "body": "hello console"})),
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sent}");
    let id = sent["msgId"].as_str().unwrap();
    let (_, v) =
        call(&app, "GET", "/api/messages/by-key?topic=TopicTest&key=k-unique-1", None, None).await;
    assert_eq!(v["messages"].as_array().unwrap().len(), 1);
    assert_eq!(v["messages"][0]["msgId"], id);
    let (s, d) =
        call(&app, "GET", &format!("/api/messages/detail?topic=TopicTest&id={id}"), None, None)
            .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["bodyText"], "hello console");
    assert_eq!(d["properties"]["TAGS"], "T1");
    assert!(d["consumedBy"].as_array().unwrap().iter().any(|c| c["group"] == "GroupA"));
    let (s, r) = call(
        &app,
        "POST",
        "/api/messages/resend",
        Some(json!({"topic": "TopicTest", "msgId": id, "group": "GroupA"})),
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["ok"], true);
    let (s, _) =
        call(&app, "GET", "/api/messages/detail?topic=TopicTest&id=0123ABCD", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) =
        call(&app, "GET", "/api/messages/detail?topic=TopicTest&id=not-hex!", None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn message_time_range_is_validated() {
    let (app, _) = app();
    let (s, v) =
        call(&app, "GET", "/api/messages/by-time?topic=TopicTest&begin=10&end=5", None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("before"));
    let now = mq_common::protocol::now_millis();
    let (s, v) = call(
        &app,
        "GET",
        &format!(
            "/api/messages/by-time?topic=TopicTest&begin={}&end={}&limit=10",
            now - 3_600_000,
            now + 1000
        ),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["messages"].as_array().unwrap().len(), 10);
    assert_eq!(v["truncated"], true);
    let ts: Vec<i64> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["storeTimestamp"].as_i64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] >= w[1]), "newest first");
}

#[tokio::test]
async fn reset_preview_then_apply() {
    let (app, _) = app();
    let (s, rows) = call(
        &app,
        "POST",
        "/api/groups/GroupA/reset/preview",
        Some(json!({"topic": "TopicTest", "timestamp": 0})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(rows.as_array().unwrap().iter().all(|r| r["targetOffset"] == 0));
    let token = login(&app).await;
    let (s, r) = call(
        &app,
        "POST",
        "/api/groups/GroupA/reset/apply",
        Some(json!({"topic": "TopicTest", "timestamp": 0})),
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, p) = call(&app, "GET", "/api/groups/GroupA/progress", None, None).await;
    assert!(p["items"].as_array().unwrap().iter().all(|q| q["consumerOffset"] == 0));
}

#[tokio::test]
async fn dlq_browse_and_resend_per_message() {
    let (app, _) = app();
    let (s, v) = call(&app, "GET", "/api/dlq?group=GroupA", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<String> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["msgId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    let token = login(&app).await;
    let (s, r) = call(
        &app,
        "POST",
        "/api/dlq/resend",
        Some(json!({"group": "GroupA", "msgIds": [ids[0], "FFFF"]})),
        Some(&token),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r[0]["ok"], true);
    assert_eq!(r[0]["target"], "TopicTest");
    assert_eq!(r[1]["ok"], false);
    assert!(r[1]["error"].as_str().unwrap().contains("not found"));
}

#[tokio::test]
async fn producers_health_metrics_and_spa_fallback() {
    let (app, _) = app();
    let (s, v) =
        call(&app, "GET", "/api/producers?group=ProducerGroupA&topic=TopicTest", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let (s, _) = call(&app, "GET", "/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, text) = call(&app, "GET", "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.as_str().unwrap().contains("rmq_console_http_requests_total{class=\"2xx\"}"));
    let (s, html) = call(&app, "GET", "/groups/GroupA", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.as_str().unwrap().contains("<title>rmq console</title>"));
    let (s, v) = call(&app, "GET", "/api/nope", None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["kind"], "notFound");
}

#[tokio::test]
async fn thousand_topics_and_five_hundred_groups_load_fast() {
    let fb = Arc::new(FakeBackend::scaled(1000, 500));
    let app = app_with(fb, true);
    let t0 = Instant::now();
    let (s, v) = call(&app, "GET", "/api/topics?size=50", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 1000);
    assert_eq!(v["items"].as_array().unwrap().len(), 50);
    let (_, v) = call(&app, "GET", "/api/topics?page=20&size=50", None, None).await;
    assert_eq!(v["items"][49]["name"], "topic-0999");
    let (s, v) = call(&app, "GET", "/api/groups?size=50", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 500);
    assert_eq!(v["items"].as_array().unwrap().len(), 50);
    let (_, v) = call(&app, "GET", "/api/groups?page=10&size=50", None, None).await;
    assert_eq!(v["items"][49]["name"], "group-0499");
    // Reported, not asserted (no timing assertions): the e2e run checks the real stack.
    eprintln!("1000 topics + 500 groups, 4 paged requests: {:?}", t0.elapsed());
}

async fn raw(app: &Router, req: Request<Body>) -> axum::response::Response {
    app.clone().oneshot(req).await.unwrap()
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let (app, _) = app();
    for uri in ["/", "/api/overview", "/api/nope"] {
        let r = raw(&app, Request::get(uri).body(Body::empty()).unwrap()).await;
        let h = r.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{uri}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{uri}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
    }
}

#[tokio::test]
async fn cross_origin_writes_refused_same_origin_allowed() {
    let (app, _) = app();
    let token = login(&app).await;
    let create = |origin: &str, topic: &str| {
        Request::post("/api/topics")
            .header(header::HOST, "127.0.0.1:8180")
            .header(header::ORIGIN, origin)
            .header(header::COOKIE, format!("rmq_session={token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"name": topic, "readQueues": 2, "writeQueues": 2, "perm": 6}).to_string(),
            ))
            .unwrap()
    };
    let r = raw(&app, create("http://evil.example:8180", "CsrfTopic")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (s, v) = call(&app, "GET", "/api/topics?size=500", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!v.to_string().contains("CsrfTopic"), "a refused write changed nothing");
    let r = raw(&app, create("http://127.0.0.1:8180", "SameOriginTopic")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, v) = call(&app, "GET", "/api/topics?size=500", None, None).await;
    assert!(v.to_string().contains("SameOriginTopic"), "{v}");
}

#[tokio::test]
async fn login_lockout_after_repeated_failures() {
    let (app, _) = app();
    for _ in 0..5 {
        let (s, _) =
            call(&app, "POST", "/api/login", Some(json!({"password": "wrong"})), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Locked out: even the right password is refused, with 429.
    let (s, v) = call(&app, "POST", "/api/login", Some(json!({"password": PW})), None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(v.to_string().contains("too many failed logins"), "{v}");
}
