//! HTTP routes of the gateway and the connection cap.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{State, WebSocketUpgrade};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chat_proto::jwt::{self, Claims};
use serde::Deserialize;
use serde_json::json;

use super::state::Gateway;

/// The demo page (plain HTML + JS, no CDN).
const DEMO_HTML: &str = include_str!("demo.html");

/// All routes.
pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/websocket", get(upgrade))
        .route("/health", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/stats", get(stats))
        .route("/", get(|| async { Html(DEMO_HTML) }))
        .route("/dev/token", post(dev_token))
        .with_state(gw)
}

/// Initial WebSocket read buffer per socket.
const READ_BUFFER: usize = 4096;

async fn upgrade(State(gw): State<Arc<Gateway>>, ws: WebSocketUpgrade) -> Response {
    // Count before upgrading so concurrent upgrades cannot overshoot the cap.
    let prev = gw.active.fetch_add(1, Ordering::SeqCst);
    if prev >= gw.cfg.max_connections {
        gw.active.fetch_sub(1, Ordering::SeqCst);
        gw.metrics.inc("ddp_connections_refused_total");
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    }
    let g = gw.clone();
    ws.max_message_size(1 << 20)
        // tungstenite's 128 KiB default read buffer is zero-filled on the first read, so it
        // was resident for every idle socket (issue 23: ~130 KiB per connection). DDP frames
        // are small; a larger one grows the buffer for as long as it needs.
        .read_buffer_size(READ_BUFFER)
        .on_failed_upgrade(move |_| {
            g.active.fetch_sub(1, Ordering::SeqCst);
        })
        .on_upgrade(move |socket| super::conn::serve(gw, socket))
}

async fn ready(State(gw): State<Arc<Gateway>>) -> Response {
    if gw.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": "inbox consumer not started"})),
        )
            .into_response()
    }
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    gw.metrics.set("ddp_connections", gw.conns.len() as i64);
    gw.metrics.set("ddp_users", gw.by_uid.len() as i64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], gw.metrics.render()).into_response()
}

async fn stats(State(gw): State<Arc<Gateway>>) -> Json<serde_json::Value> {
    Json(json!({
        "instance": gw.cfg.common.instance_id,
        "connections": gw.conns.len(),
        "users": gw.by_uid.len(),
        "ready": gw.ready.load(Ordering::SeqCst),
    }))
}

#[derive(Deserialize)]
struct DevTokenReq {
    user: String,
    #[serde(default)]
    ttl_s: Option<i64>,
}

/// `POST /dev/token {"user":"alice"}` → `{"token": ...}`; only with `DEV_LOGIN=1`. Mints an
/// ordinary user token (all `r_` rooms and the user's DMs) for the demo page.
async fn dev_token(State(gw): State<Arc<Gateway>>, Json(req): Json<DevTokenReq>) -> Response {
    if !gw.cfg.dev_login {
        return (StatusCode::NOT_FOUND, "dev login is disabled (set DEV_LOGIN=1)").into_response();
    }
    if chat_proto::ids::validate_uid(&req.user).is_err() {
        return (StatusCode::BAD_REQUEST, "user must match [A-Za-z0-9-]{1,64}").into_response();
    }
    let now = mq_common::protocol::now_millis() / 1000;
    let claims = Claims::new(
        &req.user,
        &gw.cfg.common.jwt_audience,
        now,
        req.ttl_s.unwrap_or(12 * 3600).clamp(1, 7 * 86400),
        Claims::default_user_scopes(),
    );
    Json(json!({"token": jwt::sign(&claims, &gw.cfg.common.jwt_secret), "user": req.user}))
        .into_response()
}
