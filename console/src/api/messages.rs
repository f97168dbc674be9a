//! Message pages: by topic + time range, by topic + key, by id (detail), resend to a group;
//! DLQ browse and resend to the original topic.

use axum::extract::{Query, State};
use axum::Json;
use mq_common::protocol::body::system_topics;
use mq_common::protocol::now_millis;
use serde::Deserialize;

use super::bounded;
use crate::auth::Admin;
use crate::backend::{MessageDetail, MessageList, ResendResult};
use crate::error::{ApiResult, AppError};
use crate::state::AppState;

/// Most messages a time-range query returns (the classic dashboard's cap, stated in the reply).
pub const MAX_BY_TIME: usize = 2000;
/// Most messages a key query returns (broker `maxMsgsNumBatch`).
pub const MAX_BY_KEY: usize = 64;

/// Time-range query.
#[derive(Deserialize)]
pub struct TimeQuery {
    topic: String,
    /// ms since the epoch.
    begin: i64,
    /// ms since the epoch (exclusive).
    end: i64,
    limit: Option<usize>,
}

fn check_range(begin: i64, end: i64) -> ApiResult<()> {
    if begin < 0 || end < 0 {
        return Err(AppError::BadRequest("begin and end are ms since the epoch".into()));
    }
    if begin >= end {
        return Err(AppError::BadRequest(format!("begin ({begin}) must be before end ({end})")));
    }
    Ok(())
}

fn check_topic(t: &str) -> ApiResult<()> {
    if t.trim().is_empty() {
        return Err(AppError::BadRequest("topic is required".into()));
    }
    Ok(())
}

/// `GET /api/messages/by-time`.
pub async fn by_time(
    State(st): State<AppState>,
    Query(q): Query<TimeQuery>,
) -> ApiResult<Json<MessageList>> {
    check_topic(&q.topic)?;
    check_range(q.begin, q.end)?;
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_BY_TIME);
    Ok(Json(bounded(&st, st.backend.messages_by_time(&q.topic, q.begin, q.end, limit)).await?))
}

/// Key query.
#[derive(Deserialize)]
pub struct KeyQuery {
    topic: String,
    key: String,
}

/// `GET /api/messages/by-key`.
pub async fn by_key(
    State(st): State<AppState>,
    Query(q): Query<KeyQuery>,
) -> ApiResult<Json<MessageList>> {
    check_topic(&q.topic)?;
    if q.key.trim().is_empty() {
        return Err(AppError::BadRequest("key is required".into()));
    }
    Ok(Json(bounded(&st, st.backend.messages_by_key(&q.topic, q.key.trim(), MAX_BY_KEY)).await?))
}

/// Id query.
#[derive(Deserialize)]
pub struct IdQuery {
    topic: String,
    id: String,
}

/// `GET /api/messages/detail`.
pub async fn detail(
    State(st): State<AppState>,
    Query(q): Query<IdQuery>,
) -> ApiResult<Json<MessageDetail>> {
    check_topic(&q.topic)?;
    let id = q.id.trim();
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AppError::BadRequest("message id must be 1..64 hex characters".into()));
    }
    Ok(Json(bounded(&st, st.backend.message_detail(&q.topic, id)).await?))
}

/// Resend body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendBody {
    topic: String,
    msg_id: String,
    group: String,
}

/// `POST /api/messages/resend` (admin): redeliver to one group.
pub async fn resend(
    _: Admin,
    State(st): State<AppState>,
    Json(b): Json<ResendBody>,
) -> ApiResult<Json<ResendResult>> {
    check_topic(&b.topic)?;
    if b.group.trim().is_empty() {
        return Err(AppError::BadRequest("group is required".into()));
    }
    tracing::info!(topic = %b.topic, msg_id = %b.msg_id, group = %b.group, "resend message to group");
    Ok(Json(bounded(&st, st.backend.resend_to_group(&b.topic, &b.msg_id, &b.group)).await?))
}

/// DLQ browse query (default: the last 3 days).
#[derive(Deserialize)]
pub struct DlqQuery {
    group: String,
    begin: Option<i64>,
    end: Option<i64>,
    limit: Option<usize>,
}

/// `GET /api/dlq?group=`: messages of `%DLQ%<group>`.
pub async fn dlq_list(
    State(st): State<AppState>,
    Query(q): Query<DlqQuery>,
) -> ApiResult<Json<MessageList>> {
    if q.group.trim().is_empty() {
        return Err(AppError::BadRequest("group is required".into()));
    }
    let end = q.end.unwrap_or_else(|| now_millis() + 1);
    let begin = q.begin.unwrap_or(end - 3 * 24 * 3600 * 1000);
    check_range(begin, end)?;
    let limit = q.limit.unwrap_or(200).clamp(1, MAX_BY_TIME);
    let topic = system_topics::dlq_topic(q.group.trim());
    Ok(Json(bounded(&st, st.backend.messages_by_time(&topic, begin, end, limit)).await?))
}

/// DLQ resend body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqResendBody {
    group: String,
    msg_ids: Vec<String>,
}

/// `POST /api/dlq/resend` (admin): resend selected messages (≤ 100) to their original topic.
pub async fn dlq_resend(
    _: Admin,
    State(st): State<AppState>,
    Json(b): Json<DlqResendBody>,
) -> ApiResult<Json<Vec<ResendResult>>> {
    if b.msg_ids.is_empty() || b.msg_ids.len() > 100 {
        return Err(AppError::BadRequest("select 1..=100 messages".into()));
    }
    tracing::info!(group = %b.group, count = b.msg_ids.len(), "resend DLQ messages");
    Ok(Json(bounded(&st, st.backend.dlq_resend(&b.group, &b.msg_ids)).await?))
}
