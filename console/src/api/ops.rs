//! `/health` and `/metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::state::AppState;

/// Liveness: the console process is up (cluster health is on the overview page).
pub async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Prometheus text for the console itself.
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let (runs, errors) = st.sampler.counters();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], st.metrics.render(runs, errors))
}
