//! The overview API's controller view against a real controller group (issue 19): 3
//! `mqcontroller`, a name server and 3 `mqbroker`s in controller mode (the broker tests'
//! helpers). `/api/overview` lists the group with its master, epochs and every replica's
//! offset and in-sync state, as the controllers and brokers report them; after the master is
//! made master through `POST /api/controller/elect` (the console's "Make master" button) the
//! brokers follow it, and after that master is killed -9 the view shows the next master, a
//! higher epoch and the killed one out of the set.

#[path = "../../broker/tests/common/controller_group.rs"]
mod controller_group;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use controller_group::*;
use http_body_util::BodyExt;
use mq_console::auth::Auth;
use mq_console::backend::remote::RemoteBackend;
use mq_console::{router, AppState};
use mq_test_support::wait_until;
use serde_json::Value;
use tower::ServiceExt;

async fn overview(app: &Router) -> Value {
    let req = Request::get("/api/overview").body(Body::empty()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

/// The cluster `GROUP` is in, as the overview lists it.
async fn v_cluster(app: &Router) -> Value {
    let v = overview(app).await;
    let g = v["controllerGroups"].as_array().unwrap().iter().find(|g| g["brokerName"] == GROUP);
    g.unwrap()["cluster"].clone()
}

/// The overview's entry for `GROUP` once its master is `master` with `in_sync` members.
async fn wait_view(app: &Router, master: &str, in_sync: usize) -> Value {
    wait_until(&format!("overview shows master {master}, {in_sync} in sync"), T, || async {
        let v = overview(app).await;
        let g = v["controllerGroups"].as_array()?.iter().find(|g| g["brokerName"] == GROUP)?;
        let n = g["replicas"].as_array()?.iter().filter(|r| r["inSync"] == true).count();
        (g["masterAddr"] == master && n == in_sync).then(|| g.clone())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_shows_controller_groups_and_follows_a_failover() {
    let started = std::time::Instant::now();
    let mut g = Group::start(Timings::Fast, false, &[]).await;
    let master = g.wait_master(None).await;
    let backend =
        Arc::new(RemoteBackend::new(vec![g.ns.clone()], Duration::from_secs(2), Duration::ZERO));
    let app = router(AppState::new(backend, Auth::with_password("pw", 1000, true)));

    let v = wait_view(&app, &master, 3).await;
    println!("{v:#}");
    assert_eq!(v["masterEpoch"].as_i64(), Some(1), "{v}");
    assert!(v["error"].is_null(), "{v}");
    let replicas = v["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 3, "{v}");
    for r in replicas {
        assert_eq!(r["alive"], true, "{r}");
        assert!(r["maxOffset"].as_i64().is_some(), "each replica's offset: {r}");
        assert_eq!(r["master"] == true, r["addr"] == master.as_str(), "{r}");
    }

    // Make another in-sync replica master from the console (admin): the controllers elect it,
    // the brokers follow (the name server routes it), the set grows back to 3.
    let target = replicas.iter().find(|r| r["master"] == false).unwrap().clone();
    let login = Request::post("/api/login")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"password":"pw"}"#))
        .unwrap();
    let resp = app.clone().oneshot(login).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let token = v["token"].as_str().unwrap().to_string();
    let body = serde_json::json!({"cluster": v_cluster(&app).await, "brokerName": GROUP, "brokerId": target["brokerId"]});
    let elect = Request::post("/api/controller/elect")
        .header("content-type", "application/json")
        .header("cookie", format!("rmq_session={token}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(elect).await.unwrap();
    let status = resp.status();
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    let elected = target["addr"].as_str().unwrap().to_string();
    assert_eq!(v["masterAddr"], elected.as_str(), "{v}");
    assert_eq!(v["masterEpoch"].as_i64(), Some(2), "{v}");
    assert_eq!(g.wait_master(Some(&master)).await, elected, "the brokers follow the election");
    let v = wait_view(&app, &elected, 3).await;
    println!("after electMaster: {v:#}");
    let master = elected;

    // kill -9 the master: the view follows the controllers.
    g.c.kill(g.name_of(&master));
    let new_master = g.wait_master(Some(&master)).await;
    let v = wait_view(&app, &new_master, 2).await;
    println!("{v:#}");
    assert!(v["masterEpoch"].as_i64().unwrap() >= 3, "{v}");
    let old = v["replicas"].as_array().unwrap().iter().find(|r| r["addr"] == master.as_str());
    let old = old.unwrap_or_else(|| panic!("the old master is still a known replica: {v}"));
    assert_eq!((old["inSync"].as_bool(), old["master"].as_bool()), (Some(false), Some(false)));
    println!("whole test {:?}", started.elapsed());
    drop(g.ctls);
}
