//! Producer page: online connections of a producer group on a topic.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use super::bounded;
use crate::backend::{Partial, ProducerConn};
use crate::error::{ApiResult, AppError};
use crate::state::AppState;

/// Query.
#[derive(Deserialize)]
pub struct ProducerQuery {
    group: String,
    topic: String,
}

/// `GET /api/producers?group=&topic=`.
pub async fn connections(
    State(st): State<AppState>,
    Query(q): Query<ProducerQuery>,
) -> ApiResult<Json<Partial<Vec<ProducerConn>>>> {
    if q.group.trim().is_empty() || q.topic.trim().is_empty() {
        return Err(AppError::BadRequest("producer group and topic are required".into()));
    }
    Ok(Json(bounded(&st, st.backend.producer_connections(q.group.trim(), q.topic.trim())).await?))
}
