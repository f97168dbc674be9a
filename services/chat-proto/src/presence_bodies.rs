//! Presence topics, tags, groups and the JSON bodies they carry (design §5.3, §5.4).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::presence::Status;

/// Gateways → presence: open/close/status events and per-queue batches.
pub const PRESENCE_HEARTBEAT: &str = "presence_heartbeat";
/// Presence → every gateway (broadcast): status changes.
pub const PRESENCE_EVENTS: &str = "presence_events";
/// Presence → itself and gateways: the last message of each queue is that queue's full state.
pub const PRESENCE_STATE: &str = "presence_state";
/// Default queue count of the presence topics (fixed at creation).
pub const PRESENCE_QUEUES: i32 = 8;

/// Tag of a connection open.
pub const TAG_OPEN: &str = "open";
/// Tag of a connection close.
pub const TAG_CLOSE: &str = "close";
/// Tag of a connection status change (online/away).
pub const TAG_CONN_STATUS: &str = "conn_status";
/// Tag of a manual default status.
pub const TAG_DEFAULT_STATUS: &str = "default_status";
/// Tag of a per-queue batch heartbeat.
pub const TAG_BATCH: &str = "batch";
/// Tag of a status event on `presence_events`.
pub const TAG_STATUS: &str = "status";
/// Tag of a state snapshot on `presence_state`.
pub const TAG_STATE: &str = "state";

/// Consumer group of the presence service on `presence_heartbeat` (clustering, orderly).
pub const CG_PRESENCE: &str = "cg_presence";
/// Consumer group of the gateways on `presence_events` (broadcasting).
pub const CG_PRESENCE_GATEWAY: &str = "cg_presence_gateway";
/// Consumer group of presence instances on `presence_events` (broadcasting read-model).
pub const CG_PRESENCE_READMODEL: &str = "cg_presence_readmodel";
/// Group name used for direct reads of `presence_state` (never commits offsets).
pub const CG_PRESENCE_STATE_READER: &str = "cg_presence_state_reader";
/// Producer group of the gateways' presence producer.
pub const PG_PRESENCE_GATEWAY: &str = "pg_presence_gateway";
/// Producer group of the presence service.
pub const PG_PRESENCE: &str = "pg_presence";

/// Key of a user's events: `u:<uid>`.
pub fn user_key(uid: &str) -> String {
    format!("u:{uid}")
}

/// Key of a gateway's batches: `gw:<id>`.
pub fn gateway_key(gw: &str) -> String {
    format!("gw:{gw}")
}

/// Key of a state snapshot: `state:q<q>`.
pub fn state_key(queue: i32) -> String {
    format!("state:q{queue}")
}

/// One connection as a gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnInfo {
    /// Connection (DDP session) id, unique per gateway.
    pub id: String,
    /// User id.
    pub uid: String,
    /// Display name.
    #[serde(default)]
    pub username: String,
    /// `online` or `away`.
    pub status: Status,
}

/// A body on `presence_heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Heartbeat {
    /// Authoritative list of a gateway's connections for the users of one queue.
    Batch(BatchBody),
    /// A connection logged in.
    Open(ConnEvent),
    /// A connection closed or logged out.
    Close(ConnEvent),
    /// `UserPresence:online` / `:away` on one connection.
    ConnStatus(ConnEvent),
    /// `UserPresence:setDefaultStatus` / `setUserStatus`.
    DefaultStatus(DefaultStatusBody),
}

impl Heartbeat {
    /// The message tag of this body.
    pub fn tag(&self) -> &'static str {
        match self {
            Heartbeat::Batch(_) => TAG_BATCH,
            Heartbeat::Open(_) => TAG_OPEN,
            Heartbeat::Close(_) => TAG_CLOSE,
            Heartbeat::ConnStatus(_) => TAG_CONN_STATUS,
            Heartbeat::DefaultStatus(_) => TAG_DEFAULT_STATUS,
        }
    }
}

/// `batch` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchBody {
    /// Schema version (1).
    pub v: u32,
    /// Gateway instance id.
    pub gw: String,
    /// Gateway process epoch (new at every start).
    pub epoch: String,
    /// Per-(gw, epoch) sequence number shared with connection events.
    pub seq: u64,
    /// Presence queue the listed users hash to.
    pub queue: i32,
    /// The gateway's `SYNC_INTERVAL`.
    pub interval_ms: u64,
    /// Every live connection of this gateway whose uid hashes to `queue`.
    pub conns: Vec<ConnInfo>,
}

/// `open` / `close` / `conn_status` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnEvent {
    /// Schema version (1).
    pub v: u32,
    /// Gateway instance id.
    pub gw: String,
    /// Gateway process epoch.
    pub epoch: String,
    /// Sequence number.
    pub seq: u64,
    /// The connection.
    pub conn: ConnInfo,
}

/// `default_status` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultStatusBody {
    /// Schema version (1).
    pub v: u32,
    /// User id.
    pub uid: String,
    /// Display name.
    #[serde(default)]
    pub username: String,
    /// New manual default.
    #[serde(rename = "statusDefault")]
    pub status_default: Status,
    /// Status text (≤ 120 characters).
    #[serde(rename = "statusText", default)]
    pub status_text: String,
    /// Gateway that accepted the call.
    #[serde(default)]
    pub gw: String,
}

/// Who produced a status event or state snapshot; `n` increases per (instance, epoch, queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Owner {
    /// Presence instance id.
    pub instance: String,
    /// Presence process epoch.
    pub epoch: String,
    /// Queue.
    #[serde(default)]
    pub queue: i32,
    /// Sequence number.
    pub n: u64,
}

/// `status` body on `presence_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent {
    /// Schema version (1).
    pub v: u32,
    /// Always `status`.
    pub kind: String,
    /// User id.
    pub uid: String,
    /// Display name.
    pub username: String,
    /// Effective status.
    pub status: Status,
    /// Its number.
    pub status_num: u8,
    /// Status text.
    pub status_text: String,
    /// Reduced connection status.
    pub status_connection: Status,
    /// Manual default.
    pub status_default: Status,
    /// Previously published status.
    pub previous_status: Status,
    /// Live connections.
    pub conns: usize,
    /// Publish time (ms).
    pub ts: i64,
    /// Producer identity and sequence.
    pub owner: Owner,
}

/// A user in a state snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateUser {
    /// Display name.
    #[serde(default)]
    pub username: String,
    /// Last published status.
    pub status: Status,
    /// Status text.
    #[serde(default)]
    pub status_text: String,
    /// Manual default.
    #[serde(default = "default_online")]
    pub status_default: Status,
    /// Live connections when written.
    #[serde(default)]
    pub conns: usize,
}

fn default_online() -> Status {
    Status::Online
}

/// An offline user's non-default manual status in a state snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateDefault {
    /// Manual default.
    pub status_default: Status,
    /// Status text.
    #[serde(default)]
    pub status_text: String,
    /// Display name.
    #[serde(default)]
    pub username: String,
}

/// `state` body on `presence_state`: the full state of one queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateBody {
    /// Schema version (1).
    pub v: u32,
    /// Always `state`.
    pub kind: String,
    /// Queue.
    pub queue: i32,
    /// Producer identity and the `n` of the last event included.
    pub owner: Owner,
    /// Non-offline users.
    pub users: BTreeMap<String, StateUser>,
    /// Offline users with a non-default manual status.
    #[serde(default)]
    pub defaults: BTreeMap<String, StateDefault>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_bodies_match_the_design_schema() {
        let j = r#"{"v":1,"kind":"open","gw":"gw-1","epoch":"e1","seq":419,
            "conn":{"id":"9b1e","uid":"alice","username":"alice","status":"online"}}"#;
        let h: Heartbeat = serde_json::from_str(j).unwrap();
        assert_eq!(h.tag(), TAG_OPEN);
        let j = r#"{"v":1,"kind":"default_status","uid":"alice","username":"alice","statusDefault":"busy","statusText":"in a call","gw":"gw-1"}"#;
        let Heartbeat::DefaultStatus(d) = serde_json::from_str(j).unwrap() else { panic!() };
        assert_eq!(d.status_default, Status::Busy);
        let b = Heartbeat::Batch(BatchBody {
            v: 1,
            gw: "g".into(),
            epoch: "e".into(),
            seq: 1,
            queue: 3,
            interval_ms: 5000,
            conns: vec![],
        });
        let s = serde_json::to_value(&b).unwrap();
        assert_eq!(s["kind"], "batch");
        assert_eq!(serde_json::from_value::<Heartbeat>(s).unwrap(), b);
    }
}
