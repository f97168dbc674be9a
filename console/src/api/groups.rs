//! Consumer group pages: list (members, TPS, lag per page row), members, per-queue progress,
//! reset offset by time (preview, then apply), create/update, delete.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{bounded, paginate, resolve_page, Page};
use crate::auth::Admin;
use crate::backend::{
    is_system_group, BrokerOpResult, GroupCreate, GroupMembers, GroupStats, GroupSummary, Lag,
    Partial, QueueProgress, ResetApplied, ResetRow,
};
use crate::error::{ApiResult, AppError};
use crate::state::AppState;

/// List filters.
#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    /// Include internal groups.
    system: Option<bool>,
    page: Option<usize>,
    size: Option<usize>,
}

/// A group row: config plus live stats (or the error that prevented them).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRow {
    #[serde(flatten)]
    summary: GroupSummary,
    members: Option<u32>,
    consume_tps: Option<f64>,
    lag: Lag,
    error: Option<String>,
}

/// `GET /api/groups`: one page, live stats fetched concurrently for the rows of that page only
/// (so 500 groups cost one list call plus `size` stats calls).
pub async fn list(
    State(st): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<GroupRow>>> {
    let (page, size) = resolve_page(q.page, q.size)?;
    let needle = q.q.unwrap_or_default().to_lowercase();
    let show_system = q.system.unwrap_or(false);
    let p = bounded(&st, st.backend.list_groups()).await?;
    let mut items: Vec<GroupSummary> = p
        .items
        .into_iter()
        .map(|mut g| {
            g.system = g.system || is_system_group(&g.name);
            g
        })
        .filter(|g| {
            (show_system || !g.system)
                && (needle.is_empty() || g.name.to_lowercase().contains(&needle))
        })
        .collect();
    items.sort_by(|a, b| a.name.cmp(&b.name));
    let pg = paginate(items, page, size, p.failures);
    let stats = futures::future::join_all(pg.items.iter().map(|g| {
        let st = st.clone();
        let name = g.name.clone();
        async move { bounded(&st, st.backend.group_stats(&name)).await }
    }))
    .await;
    let rows = pg
        .items
        .into_iter()
        .zip(stats)
        .map(|(summary, s)| match s {
            Ok(GroupStats { members, consume_tps, lag, failures }) => {
                let error = (!failures.is_empty()).then(|| {
                    failures
                        .iter()
                        .map(|f| format!("broker {} ({}) failed: {}", f.broker, f.addr, f.error))
                        .collect::<Vec<_>>()
                        .join("; ")
                });
                GroupRow { summary, members, consume_tps, lag, error }
            }
            Err(e) => GroupRow {
                summary,
                members: None,
                consume_tps: None,
                lag: Lag::unknown(e.to_string()),
                error: Some(e.to_string()),
            },
        })
        .collect();
    Ok(Json(Page {
        items: rows,
        total: pg.total,
        page: pg.page,
        size: pg.size,
        failures: pg.failures,
    }))
}

/// `POST /api/groups` (admin).
pub async fn create(
    _: Admin,
    State(st): State<AppState>,
    Json(req): Json<GroupCreate>,
) -> ApiResult<Json<Vec<BrokerOpResult>>> {
    if req.name.trim().is_empty() {
        return Err(AppError::BadRequest("group name is required".into()));
    }
    if !(0..=64).contains(&req.retry_queue_nums) || !(-1..=64).contains(&req.retry_max_times) {
        return Err(AppError::BadRequest("retryQueueNums 0..=64, retryMaxTimes -1..=64".into()));
    }
    tracing::info!(group = %req.name, "create/update group");
    Ok(Json(bounded(&st, st.backend.create_group(&req)).await?))
}

/// `DELETE /api/groups/{group}` (admin).
pub async fn delete(
    _: Admin,
    State(st): State<AppState>,
    Path(group): Path<String>,
) -> ApiResult<Json<Vec<BrokerOpResult>>> {
    tracing::info!(%group, "delete group");
    Ok(Json(bounded(&st, st.backend.delete_group(&group)).await?))
}

/// `GET /api/groups/{group}/members`.
pub async fn members(
    State(st): State<AppState>,
    Path(group): Path<String>,
) -> ApiResult<Json<GroupMembers>> {
    Ok(Json(bounded(&st, st.backend.group_members(&group)).await?))
}

/// Progress plus the group total.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    #[serde(flatten)]
    partial: Partial<Vec<QueueProgress>>,
    total_lag: Lag,
}

/// `GET /api/groups/{group}/progress`.
pub async fn progress(
    State(st): State<AppState>,
    Path(group): Path<String>,
) -> ApiResult<Json<Progress>> {
    let mut p = bounded(&st, st.backend.group_progress(&group)).await?;
    p.items.sort_by(|a, b| {
        (&a.topic, &a.broker_name, a.queue_id).cmp(&(&b.topic, &b.broker_name, b.queue_id))
    });
    let mut total_lag = Lag::sum(p.items.iter().map(|r| &r.lag));
    if !p.failures.is_empty() {
        total_lag = Lag::unknown(format!("{} broker(s) failed", p.failures.len()));
    }
    Ok(Json(Progress { partial: p, total_lag }))
}

/// Reset body.
#[derive(Deserialize)]
pub struct ResetBody {
    topic: Option<String>,
    /// Target time, ms since the epoch.
    timestamp: i64,
}

fn check_ts(b: &ResetBody) -> ApiResult<()> {
    if b.timestamp < 0 {
        return Err(AppError::BadRequest("timestamp must be ms since the epoch".into()));
    }
    Ok(())
}

/// `POST /api/groups/{group}/reset/preview`: where each queue would go (read-only).
pub async fn reset_preview(
    State(st): State<AppState>,
    Path(group): Path<String>,
    Json(b): Json<ResetBody>,
) -> ApiResult<Json<Vec<ResetRow>>> {
    check_ts(&b)?;
    let topic = b.topic.filter(|t| !t.is_empty());
    Ok(Json(bounded(&st, st.backend.reset_preview(&group, topic.as_deref(), b.timestamp)).await?))
}

/// `POST /api/groups/{group}/reset/apply` (admin).
pub async fn reset_apply(
    _: Admin,
    State(st): State<AppState>,
    Path(group): Path<String>,
    Json(b): Json<ResetBody>,
) -> ApiResult<Json<ResetApplied>> {
    check_ts(&b)?;
    let topic = b.topic.filter(|t| !t.is_empty());
    tracing::info!(%group, topic = ?topic, timestamp = b.timestamp, "reset offsets");
    Ok(Json(bounded(&st, st.backend.reset_apply(&group, topic.as_deref(), b.timestamp)).await?))
}
