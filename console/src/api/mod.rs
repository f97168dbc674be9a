//! The JSON API (`/api/...`), one file per page family, plus `/health` and `/metrics`.

mod cluster;
mod groups;
mod messages;
mod ops;
mod producers;
mod session;
mod topics;

use std::future::Future;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

use crate::backend::{BResult, BrokerFailure};
use crate::error::{ApiResult, AppError};
use crate::state::AppState;

/// The whole HTTP app: API, health, metrics and the embedded UI.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/session", get(session::session))
        .route("/login", post(session::login))
        .route("/logout", post(session::logout))
        .route("/overview", get(cluster::overview))
        .route("/brokers/runtime", get(cluster::broker_runtime))
        .route("/controller/elect", post(cluster::elect_master))
        .route("/tps", get(cluster::tps))
        .route("/topics", get(topics::list).post(topics::create))
        .route("/topics/{topic}", axum::routing::delete(topics::delete))
        .route("/topics/{topic}/route", get(topics::route))
        .route("/topics/{topic}/status", get(topics::status))
        .route("/topics/{topic}/consumers", get(topics::consumers))
        .route("/topics/{topic}/send", post(topics::send))
        .route("/groups", get(groups::list).post(groups::create))
        .route("/groups/{group}", axum::routing::delete(groups::delete))
        .route("/groups/{group}/members", get(groups::members))
        .route("/groups/{group}/progress", get(groups::progress))
        .route("/groups/{group}/reset/preview", post(groups::reset_preview))
        .route("/groups/{group}/reset/apply", post(groups::reset_apply))
        .route("/messages/by-time", get(messages::by_time))
        .route("/messages/by-key", get(messages::by_key))
        .route("/messages/detail", get(messages::detail))
        .route("/messages/resend", post(messages::resend))
        .route("/dlq", get(messages::dlq_list))
        .route("/dlq/resend", post(messages::dlq_resend))
        .route("/producers", get(producers::connections))
        .layer(middleware::from_fn_with_state(state.clone(), require_read));
    Router::new()
        .nest("/api", api)
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .fallback(crate::assets::static_handler)
        .layer(middleware::from_fn_with_state(state.clone(), crate::guard::harden))
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

/// Reads need a session unless they are open (`readOnlyOpen`, `loginRequired`).
async fn require_read(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let p = req.uri().path();
    let exempt = p.ends_with("/session") || p.ends_with("/login") || p.ends_with("/logout");
    if !exempt && !st.auth.reads_open() && !st.auth.is_logged_in(req.headers()) {
        return Err(AppError::Unauthorized);
    }
    Ok(next.run(req).await)
}

async fn count(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    st.metrics.record(resp.status().as_u16());
    resp
}

/// Run backend work with the request deadline.
pub(crate) async fn bounded<T>(st: &AppState, f: impl Future<Output = BResult<T>>) -> ApiResult<T> {
    match tokio::time::timeout(st.request_timeout, f).await {
        Ok(r) => r.map_err(AppError::from),
        Err(_) => Err(AppError::Timeout(st.request_timeout.as_secs())),
    }
}

/// Resolve paging query parameters (`page` from 1, default 1; `size` 1..=500, default 50).
/// (Not a flattened struct: serde's `flatten` breaks numeric fields in query strings.)
pub(crate) fn resolve_page(page: Option<usize>, size: Option<usize>) -> ApiResult<(usize, usize)> {
    let page = page.unwrap_or(1);
    let size = size.unwrap_or(50);
    if page == 0 || size == 0 || size > 500 {
        return Err(AppError::BadRequest("page must be ≥ 1 and size 1..=500".into()));
    }
    Ok((page, size))
}

/// One page of a server-side paged list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page<T> {
    items: Vec<T>,
    total: usize,
    page: usize,
    size: usize,
    failures: Vec<BrokerFailure>,
}

/// Cut one page out of a filtered list.
pub(crate) fn paginate<T>(
    all: Vec<T>,
    page: usize,
    size: usize,
    failures: Vec<BrokerFailure>,
) -> Page<T> {
    let total = all.len();
    let items = all.into_iter().skip((page - 1) * size).take(size).collect();
    Page { items, total, page, size, failures }
}
