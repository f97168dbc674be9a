//! Overview page: clusters → brokers with live TPS, controller-mode groups, broker runtime
//! table, TPS history.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::bounded;
use crate::auth::Admin;
use crate::backend::{BrokerFailure, BrokerInfo, ControllerGroup, ElectRequest};
use crate::error::ApiResult;
use crate::sampler::TpsSeries;
use crate::state::AppState;

/// A broker row with the sampler's rates.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerRow {
    #[serde(flatten)]
    info: BrokerInfo,
    in_tps: Option<f64>,
    out_tps: Option<f64>,
}

/// Overview response.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    namesrv: Vec<String>,
    brokers: Vec<BrokerRow>,
    /// Broker groups in controller mode (master, epoch, in-sync set, replicas' offsets).
    controller_groups: Vec<ControllerGroup>,
    failures: Vec<BrokerFailure>,
}

/// `GET /api/overview`.
pub async fn overview(State(st): State<AppState>) -> ApiResult<Json<Overview>> {
    let p = bounded(&st, st.backend.cluster_overview()).await?;
    let rates = st.sampler.latest_brokers();
    let brokers = p
        .items
        .brokers
        .into_iter()
        .map(|info| {
            let r = rates.get(&format!("{}@{}", info.broker_name, info.addr)).copied();
            BrokerRow { in_tps: r.map(|x| x.0), out_tps: r.map(|x| x.1), info }
        })
        .collect();
    let namesrv = if p.items.namesrv.is_empty() { st.namesrv.clone() } else { p.items.namesrv };
    let controller_groups = p.items.controller_groups;
    Ok(Json(Overview { namesrv, brokers, controller_groups, failures: p.failures }))
}

/// `POST /api/controller/elect` (admin): make a replica of a controller-mode group its master;
/// answers the group as its controllers then describe it.
pub async fn elect_master(
    _: Admin,
    State(st): State<AppState>,
    Json(req): Json<ElectRequest>,
) -> ApiResult<Json<ControllerGroup>> {
    let g = bounded(&st, st.backend.elect_master(&req)).await?;
    tracing::info!(cluster = %req.cluster, broker = %req.broker_name, id = req.broker_id, master = ?g.master_broker_id, epoch = g.master_epoch, "electMaster from the console");
    Ok(Json(g))
}

/// `?addr=`.
#[derive(Deserialize)]
pub struct AddrQuery {
    addr: String,
}

/// `GET /api/brokers/runtime?addr=`: the broker's raw runtime table.
pub async fn broker_runtime(
    State(st): State<AppState>,
    Query(q): Query<AddrQuery>,
) -> ApiResult<Json<BTreeMap<String, String>>> {
    Ok(Json(bounded(&st, st.backend.broker_runtime(&q.addr)).await?))
}

/// `?top=`.
#[derive(Deserialize)]
pub struct TpsQuery {
    top: Option<usize>,
}

/// `GET /api/tps`: sampled history for the charts.
pub async fn tps(State(st): State<AppState>, Query(q): Query<TpsQuery>) -> Json<TpsSeries> {
    Json(st.sampler.series(q.top.unwrap_or(5).min(20)))
}
