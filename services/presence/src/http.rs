//! HTTP endpoints (design §5.5): `/health`, `/ready`, `/v1/status/{uid}`, `/v1/status?uids=`,
//! `/v1/stats`, `/metrics`. Data never flows through HTTP; this is for probes and operators.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chat_proto::ids::validate_uid;
use serde_json::{json, Value};

use crate::service::Presence;

/// Largest `uids` list of the batch status query.
const MAX_BATCH: usize = 500;

fn health_routes() -> Router<Arc<Presence>> {
    Router::new().route("/health", get(|| async { "ok" })).route("/ready", get(ready))
}

/// All routes. With `STATUS_API_TOKEN`, the `/v1` routes need it as a bearer token.
pub fn router(p: Arc<Presence>) -> Router {
    let v1 = Router::new()
        .route("/v1/status/{uid}", get(status_one))
        .route("/v1/status", get(status_many))
        .route("/v1/stats", get(stats));
    let v1 = match p.cfg.status_token.clone() {
        Some(t) => v1.layer(axum::middleware::from_fn_with_state(Arc::<str>::from(t), bearer)),
        None => v1,
    };
    health_routes().merge(v1).route("/metrics", get(metrics)).with_state(p)
}

/// Refuse (401) a request whose `Authorization: Bearer` is not `token`.
async fn bearer(
    State(token): State<Arc<str>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
        return next.run(req).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({"error": "this endpoint needs Authorization: Bearer <STATUS_API_TOKEN>"})),
    )
        .into_response()
}

/// Compare without an early exit, so the time taken does not tell how much of a guess matched.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serve `PORT` (and `HEALTH_CHECK_PORT` when set) until `shutdown` resolves. Prints
/// `listening on <addr>` on stdout once accepting.
pub async fn serve(
    p: Arc<Presence>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind((p.cfg.bind.as_str(), p.cfg.port)).await?;
    let local = listener.local_addr()?;
    if let Some(hp) = p.cfg.health_port.filter(|hp| *hp != local.port()) {
        let hl = tokio::net::TcpListener::bind((p.cfg.bind.as_str(), hp)).await?;
        println!("health on {}", hl.local_addr()?);
        let app = health_routes().with_state(p.clone());
        tokio::spawn(mq_common::http::serve(hl, app, p.cfg.http, std::future::pending()));
    }
    println!("listening on {local}");
    tracing::info!(%local, instance = %p.cfg.instance_id, "presence-service listening");
    let limits = p.cfg.http;
    mq_common::http::serve(listener, router(p), limits, shutdown).await;
    Ok(())
}

async fn ready(State(p): State<Arc<Presence>>) -> Response {
    match p.not_ready() {
        None => (StatusCode::OK, "ready").into_response(),
        Some(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"ready": false, "reason": reason})))
                .into_response()
        }
    }
}

fn user_json(p: &Presence, uid: &str) -> Value {
    let now = p.now();
    if let Some(u) = p.engine.lock().user(uid, now) {
        return json!({
            "uid": uid, "username": u.username, "status": u.status, "statusNum": u.status.num(), "statusText": u.status_text,
            "statusConnection": u.status_connection, "statusDefault": u.status_default, "owner": true,
            "connections": u.connections.iter().map(|(id, gw, st, ago)| json!({"id": id, "gw": gw, "status": st, "last_seen_ms_ago": ago})).collect::<Vec<_>>(),
        });
    }
    let c = p.readmodel.lock().get(uid);
    json!({"uid": uid, "username": c.username, "status": c.status, "statusNum": c.status.num(), "statusText": c.status_text, "owner": false})
}

async fn status_one(State(p): State<Arc<Presence>>, Path(uid): Path<String>) -> Response {
    if validate_uid(&uid).is_err() {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid uid"}))).into_response();
    }
    Json(user_json(&p, &uid)).into_response()
}

async fn status_many(
    State(p): State<Arc<Presence>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let uids: Vec<&str> =
        q.get("uids").map(|s| s.split(',').filter(|u| !u.is_empty()).collect()).unwrap_or_default();
    if uids.is_empty() || uids.len() > MAX_BATCH || uids.iter().any(|u| validate_uid(u).is_err()) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("uids must list 1..={MAX_BATCH} valid user ids")})),
        )
            .into_response();
    }
    Json(Value::Array(uids.iter().map(|u| user_json(&p, u)).collect())).into_response()
}

async fn stats(State(p): State<Arc<Presence>>) -> Json<Value> {
    let now = p.now();
    let e = p.engine.lock();
    let s = e.stats(now);
    let gws: Vec<Value> = e.gateways(now).iter().map(|g| json!({"id": g.id, "epoch": g.epoch, "conns": g.conns, "last_batch_ms_ago": g.last_batch_ms_ago})).collect();
    let (ro, ra, rb) = p.readmodel.lock().counts();
    Json(json!({
        "users": {"online": s.online, "away": s.away, "busy": s.busy},
        "online": s.online, "away": s.away, "busy": s.busy,
        "connections": s.connections,
        "gateways": gws,
        "owned_queues": s.owned_queues,
        "warming_up": !s.warming_up.is_empty(),
        "blind": e.is_blind(),
        "cluster_users": {"online": ro, "away": ra, "busy": rb},
    }))
}

async fn metrics(State(p): State<Arc<Presence>>) -> Response {
    let now = p.now();
    let e = p.engine.lock();
    let s = e.stats(now);
    let mut out = String::new();
    out.push_str("# HELP presence_users Users per published status (owned queues).\n# TYPE presence_users gauge\n");
    for (st, n) in [("online", s.online), ("away", s.away), ("busy", s.busy)] {
        out.push_str(&format!("presence_users{{status=\"{st}\"}} {n}\n"));
    }
    out.push_str(&format!("# HELP presence_connections Live connections.\n# TYPE presence_connections gauge\npresence_connections {}\n", s.connections));
    out.push_str(&format!("# HELP presence_gateways Gateways holding a lease.\n# TYPE presence_gateways gauge\npresence_gateways {}\n", e.gateways(now).len()));
    out.push_str("# HELP presence_reaped_total Connections removed, by reason.\n# TYPE presence_reaped_total counter\n");
    for r in [
        crate::engine::Reason::Ttl,
        crate::engine::Reason::GatewayLease,
        crate::engine::Reason::Reconcile,
        crate::engine::Reason::Epoch,
    ] {
        out.push_str(&format!(
            "presence_reaped_total{{reason=\"{}\"}} {}\n",
            r.as_str(),
            e.reaped.get(&r).copied().unwrap_or(0)
        ));
    }
    out.push_str(&format!("# HELP presence_events_published_total Status events decided.\n# TYPE presence_events_published_total counter\npresence_events_published_total {}\n", e.events_out));
    out.push_str(&format!(
        "# HELP presence_publish_failed_total Messages dropped after retries.\n# TYPE presence_publish_failed_total counter\npresence_publish_failed_total {}\n",
        p.publisher.dropped.load(Ordering::Relaxed)
    ));
    let max_ago = e.gateways(now).iter().map(|g| g.last_batch_ms_ago).max().unwrap_or(0);
    out.push_str(&format!("# HELP presence_heartbeat_lag_seconds Oldest gateway batch age.\n# TYPE presence_heartbeat_lag_seconds gauge\npresence_heartbeat_lag_seconds {:.3}\n", max_ago as f64 / 1000.0));
    out.push_str(&format!("# HELP presence_warmup Queues warming up.\n# TYPE presence_warmup gauge\npresence_warmup {}\n", s.warming_up.len()));
    out.push_str(&format!("# HELP presence_blind 1 while the broker is unreachable.\n# TYPE presence_blind gauge\npresence_blind {}\n", e.is_blind() as u8));
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}
