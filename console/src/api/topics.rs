//! Topic pages: list (search, kind filter, paging), create/update, delete, route, per-queue
//! status, consumer groups with lag, send a test message.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{bounded, paginate, resolve_page, Page};
use crate::auth::Admin;
use crate::backend::{
    BrokerFailure, BrokerOpResult, Lag, Partial, QueueStatus, SendRequest, SendResult, TopicCreate,
    TopicKind, TopicRoute, TopicSummary,
};
use crate::error::{ApiResult, AppError};
use crate::state::AppState;

/// List filters.
#[derive(Deserialize)]
pub struct ListQuery {
    /// Substring (case-insensitive).
    q: Option<String>,
    /// Comma-separated kinds: normal,retry,dlq,system (default normal).
    kinds: Option<String>,
    page: Option<usize>,
    size: Option<usize>,
}

fn parse_kinds(s: Option<&str>) -> ApiResult<Vec<TopicKind>> {
    let s = s.unwrap_or("normal");
    s.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| match k {
            "normal" => Ok(TopicKind::Normal),
            "retry" => Ok(TopicKind::Retry),
            "dlq" => Ok(TopicKind::Dlq),
            "system" => Ok(TopicKind::System),
            "all" => Ok(TopicKind::Normal),
            other => Err(AppError::BadRequest(format!(
                "unknown topic kind '{other}' (normal, retry, dlq, system)"
            ))),
        })
        .collect()
}

/// `GET /api/topics`.
pub async fn list(
    State(st): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<TopicSummary>>> {
    let (page, size) = resolve_page(q.page, q.size)?;
    let all_kinds = q.kinds.as_deref() == Some("all");
    let kinds = parse_kinds(q.kinds.as_deref())?;
    let needle = q.q.unwrap_or_default().to_lowercase();
    let p = bounded(&st, st.backend.list_topics()).await?;
    let mut items: Vec<TopicSummary> = p
        .items
        .into_iter()
        .filter(|t| {
            (all_kinds || kinds.contains(&t.kind))
                && (needle.is_empty() || t.name.to_lowercase().contains(&needle))
        })
        .collect();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(paginate(items, page, size, p.failures)))
}

/// `POST /api/topics` (admin).
pub async fn create(
    _: Admin,
    State(st): State<AppState>,
    Json(req): Json<TopicCreate>,
) -> ApiResult<Json<Vec<BrokerOpResult>>> {
    if !(1..=1024).contains(&req.read_queues) || !(1..=1024).contains(&req.write_queues) {
        return Err(AppError::BadRequest("queue counts must be 1..=1024".into()));
    }
    if !(0..8).contains(&req.perm) {
        return Err(AppError::BadRequest(
            "perm must be 0..=7 (2 write, 4 read, 6 read+write)".into(),
        ));
    }
    tracing::info!(topic = %req.name, "create/update topic");
    Ok(Json(bounded(&st, st.backend.create_topic(&req)).await?))
}

/// `DELETE /api/topics/{topic}` (admin).
pub async fn delete(
    _: Admin,
    State(st): State<AppState>,
    Path(topic): Path<String>,
) -> ApiResult<Json<Vec<BrokerOpResult>>> {
    tracing::info!(%topic, "delete topic");
    Ok(Json(bounded(&st, st.backend.delete_topic(&topic)).await?))
}

/// `GET /api/topics/{topic}/route`.
pub async fn route(
    State(st): State<AppState>,
    Path(topic): Path<String>,
) -> ApiResult<Json<TopicRoute>> {
    Ok(Json(bounded(&st, st.backend.topic_route(&topic)).await?))
}

/// `GET /api/topics/{topic}/status`.
pub async fn status(
    State(st): State<AppState>,
    Path(topic): Path<String>,
) -> ApiResult<Json<Partial<Vec<QueueStatus>>>> {
    let mut p = bounded(&st, st.backend.topic_status(&topic)).await?;
    p.items.sort_by(|a, b| a.broker_name.cmp(&b.broker_name).then(a.queue_id.cmp(&b.queue_id)));
    Ok(Json(p))
}

/// A group consuming a topic.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConsumer {
    group: String,
    lag: Lag,
}

/// Consumers response.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumers {
    items: Vec<TopicConsumer>,
    failures: Vec<BrokerFailure>,
}

/// `GET /api/topics/{topic}/consumers`.
pub async fn consumers(
    State(st): State<AppState>,
    Path(topic): Path<String>,
) -> ApiResult<Json<Consumers>> {
    let p = bounded(&st, st.backend.topic_consumers(&topic)).await?;
    Ok(Json(Consumers {
        items: p.items.into_iter().map(|(group, lag)| TopicConsumer { group, lag }).collect(),
        failures: p.failures,
    }))
}

/// Send body (topic from the path).
#[derive(Deserialize)]
pub struct SendBody {
    tags: Option<String>,
    keys: Option<String>,
    body: String,
}

/// `POST /api/topics/{topic}/send` (admin).
pub async fn send(
    _: Admin,
    State(st): State<AppState>,
    Path(topic): Path<String>,
    Json(b): Json<SendBody>,
) -> ApiResult<Json<SendResult>> {
    if b.body.is_empty() {
        return Err(AppError::BadRequest("message body must not be empty".into()));
    }
    if b.body.len() > 4 * 1024 * 1024 {
        return Err(AppError::BadRequest("message body over 4 MiB".into()));
    }
    let req = SendRequest {
        topic,
        tags: b.tags.filter(|s| !s.is_empty()),
        keys: b.keys.filter(|s| !s.is_empty()),
        body: b.body,
    };
    Ok(Json(bounded(&st, st.backend.send_message(&req)).await?))
}
