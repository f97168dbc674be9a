//! The gateway side of presence (design §4.2, §4.7, §5): a [`GatewayExtension`] that
//!
//! * publishes `open`/`close` at login/logout/socket close and a batch per presence queue
//!   every `SYNC_INTERVAL` (see [`super::presence_lanes`]);
//! * answers `UserPresence:online`, `UserPresence:away`, `UserPresence:setDefaultStatus` and
//!   `setUserStatus`;
//! * serves `stream-user-presence` from a status cache warmed from `presence_state` and kept
//!   current by a broadcasting consumer of `presence_events`.
//!
//! * with `PRESENCE_BROADCAST_ALL=true`, also `stream-notify-logged` `user-status` (every
//!   status change to every subscriber; off by default because it is O(n²)).
//!
//! Settings: `SYNC_INTERVAL` (5000 ms), `PRESENCE_QUEUES` (8), `MAX_PRESENCE_WATCH` (500),
//! `PRESENCE_BROADCAST_ALL` (false), `PRESENCE` (`off` disables the extension).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context;
use chat_proto::ddp::{server, MeteorError};
use chat_proto::ids::{shard, validate_uid};
use chat_proto::presence::{Status, MAX_STATUS_TEXT};
use chat_proto::presence_bodies::{
    ConnInfo, DefaultStatusBody, StatusEvent, CG_PRESENCE_GATEWAY, CG_PRESENCE_STATE_READER,
    PG_PRESENCE_GATEWAY, PRESENCE_EVENTS, PRESENCE_HEARTBEAT, PRESENCE_QUEUES, PRESENCE_STATE,
};
use chat_proto::presence_cache::StatusCache;
use futures::future::BoxFuture;
use mq_client::{Admin, ConsumeFromWhere, MessageExt, MessageModel, Producer, PushConsumer};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::conn::Conn;
use super::extension::{GatewayExtension, SessionInfo};
use super::presence_lanes::{self, ConnTable, Job, LaneCtx};
use super::presence_state::read_last_state;
use crate::broker::{ensure_topics, TopicReader};
use crate::clients::{ServiceClients, PRESENCE_PULL};
use crate::config::GatewayConfig;
use crate::env::{flag, var};
use crate::offsets_dir::OffsetsDir;

/// A session watching every user's status: its socket and its subscription ids.
type AllWatcher = (Weak<Conn>, HashSet<String>);

/// The DDP collection / subscription name of presence streams.
pub const STREAM_USER_PRESENCE: &str = "stream-user-presence";
/// Rocket.Chat's all-users status stream (event `user-status`).
pub const STREAM_NOTIFY_LOGGED: &str = "stream-notify-logged";

/// Presence settings of a gateway.
#[derive(Debug, Clone)]
pub struct PresenceSettings {
    /// `SYNC_INTERVAL` ms (5000).
    pub sync_interval: Duration,
    /// `PRESENCE_QUEUES` (8).
    pub queues: i32,
    /// `MAX_PRESENCE_WATCH` (500): uids one socket may watch.
    pub max_watch: usize,
    /// `PRESENCE_BROADCAST_ALL` (false): allow `stream-notify-logged` `user-status`.
    pub broadcast_all: bool,
}

impl PresenceSettings {
    /// From the environment; `None` when `PRESENCE=off`.
    pub fn from_env() -> anyhow::Result<Option<PresenceSettings>> {
        if matches!(std::env::var("PRESENCE").as_deref(), Ok("off" | "false" | "0")) {
            return Ok(None);
        }
        Ok(Some(PresenceSettings {
            sync_interval: Duration::from_millis(var::<u64>("SYNC_INTERVAL", 5000)?.max(1)),
            queues: var::<u64>("PRESENCE_QUEUES", PRESENCE_QUEUES as u64)? as i32,
            max_watch: var("MAX_PRESENCE_WATCH", 500usize)?,
            broadcast_all: flag("PRESENCE_BROADCAST_ALL"),
        }))
    }
}

/// One socket's presence subscriptions.
struct Watch {
    conn: Weak<Conn>,
    uids: HashSet<String>,
    subs: HashSet<String>,
}

/// The presence extension of a gateway.
pub struct GatewayPresence {
    settings: PresenceSettings,
    conns: ConnTable,
    lanes: Vec<mpsc::UnboundedSender<Job>>,
    gw: String,
    producer: Producer,
    cache: Mutex<StatusCache>,
    /// Session id → watch set.
    watches: Mutex<HashMap<String, Watch>>,
    /// uid → sessions watching it.
    watchers: Mutex<HashMap<String, HashSet<String>>>,
    /// Sessions subscribed to `stream-notify-logged` `user-status` (session → socket, sub ids).
    all_watchers: Mutex<HashMap<String, AllWatcher>>,
    consumer: Mutex<Option<PushConsumer>>,
    /// Offsets of the presence-events consumer; removed after the consumer shut down.
    offsets_dir: Mutex<Option<OffsetsDir>>,
    batch_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Presence messages that could not be published.
    pub failed: Arc<AtomicU64>,
}

impl GatewayPresence {
    /// Create topics if needed, start the producer, the lanes, the batch timer and the
    /// warm status cache.
    pub async fn start(
        cfg: &GatewayConfig,
        settings: PresenceSettings,
    ) -> anyhow::Result<Arc<GatewayPresence>> {
        let c = &cfg.common;
        let admin = Admin::connect(&c.namesrv).await.context("connect to the nameserver")?;
        ensure_topics(
            &admin,
            &[PRESENCE_HEARTBEAT, PRESENCE_EVENTS, PRESENCE_STATE],
            settings.queues,
            c.create_topics,
            Duration::from_secs(60),
        )
        .await?;
        let clients = ServiceClients::from_common(c);
        let unique = clients.instance.clone();
        let clients = clients.named(format!("{unique}-presence"));
        let producer = clients.producer(PG_PRESENCE_GATEWAY, 1, "presence producer").await?;
        // Epochs order lexically by start time, so presence can tell a restart from a straggler.
        let epoch =
            format!("{:013}-{:08x}", mq_common::protocol::now_millis(), rand::random::<u32>());
        let conns: ConnTable = Arc::default();
        let failed = Arc::new(AtomicU64::new(0));
        let lanes = presence_lanes::start(LaneCtx {
            producer: producer.clone(),
            gw: c.instance_id.clone(),
            epoch,
            queues: settings.queues as usize,
            interval_ms: settings.sync_interval.as_millis() as u64,
            conns: conns.clone(),
            seq: Arc::new(AtomicU64::new(0)),
            failed: failed.clone(),
        });
        let offsets_dir = OffsetsDir::new(&c.offsets_dir, "chat-gateway-presence", &unique);
        let offsets_path = offsets_dir.path().to_path_buf();
        let p = Arc::new(GatewayPresence {
            settings: settings.clone(),
            conns,
            lanes,
            gw: c.instance_id.clone(),
            producer,
            cache: Mutex::new(StatusCache::default()),
            watches: Mutex::new(HashMap::new()),
            watchers: Mutex::new(HashMap::new()),
            all_watchers: Mutex::new(HashMap::new()),
            consumer: Mutex::new(None),
            offsets_dir: Mutex::new(Some(offsets_dir)),
            batch_task: Mutex::new(None),
            failed,
        });

        // Cache: consumer first (from the last offset), then the snapshots; entries set by
        // events in between are newer and win (StatusCache::apply_state).
        let pc = p.clone();
        let consumer = clients
            .orderly_consumer(
                CG_PRESENCE_GATEWAY,
                PRESENCE_EVENTS,
                MessageModel::Broadcasting,
                PRESENCE_PULL,
            )
            .consume_from(ConsumeFromWhere::Last)
            .offset_store_dir(Some(offsets_path))
            .shutdown_timeout(Duration::from_secs(2))
            .start(move |m: MessageExt| {
                let pc = pc.clone();
                async move {
                    match serde_json::from_slice::<StatusEvent>(&m.body) {
                        Ok(e) => pc.on_status(&e),
                        Err(e) => tracing::warn!(error = %e, "malformed presence event ignored"),
                    }
                    Ok(())
                }
            })
            .await
            .context("start presence_events consumer")?;
        *p.consumer.lock() = Some(consumer);
        let reader = TopicReader::new(admin, PRESENCE_STATE, CG_PRESENCE_STATE_READER);
        for q in 0..settings.queues {
            match read_last_state(&reader, q).await {
                Ok(Some(s)) => p.cache.lock().apply_state(&s),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(queue = q, error = %e, "presence_state unreadable; cache starts cold for this queue")
                }
            }
        }

        let pb = p.clone();
        *p.batch_task.lock() = Some(tokio::spawn(async move {
            // The first batch waits one interval: after a restart, clients reconnecting in
            // that window are re-added by `open` before the batch purges the old epoch.
            let first = tokio::time::Instant::now() + pb.settings.sync_interval;
            let mut iv = tokio::time::interval_at(first, pb.settings.sync_interval);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                iv.tick().await;
                for lane in &pb.lanes {
                    let _ = lane.send(Job::Batch);
                }
            }
        }));
        tracing::info!(gw = %p.gw, queues = settings.queues, interval = ?settings.sync_interval, "presence extension started");
        Ok(p)
    }

    fn lane(&self, uid: &str) -> &mpsc::UnboundedSender<Job> {
        &self.lanes[shard(uid, self.lanes.len())]
    }

    /// A status event from presence: update the cache and push to watchers.
    fn on_status(&self, e: &StatusEvent) {
        if !self.cache.lock().apply_event(e) {
            return;
        }
        {
            let all = self.all_watchers.lock();
            if !all.is_empty() {
                let frame = server::stream_event(
                    STREAM_NOTIFY_LOGGED,
                    "user-status",
                    vec![
                        json!(e.uid),
                        json!(e.username),
                        json!(e.status_num),
                        json!(e.status_text),
                        json!(e.username),
                        json!([]),
                    ],
                );
                for (c, _) in all.values() {
                    if let Some(c) = c.upgrade() {
                        c.send(&frame);
                    }
                }
            }
        }
        let sessions: Vec<String> = self
            .watchers
            .lock()
            .get(&e.uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        if sessions.is_empty() {
            return;
        }
        let frame = presence_frame(&e.uid, &e.username, e.status, &e.status_text);
        let watches = self.watches.lock();
        for s in sessions {
            if let Some(c) = watches.get(&s).and_then(|w| w.conn.upgrade()) {
                c.send(&frame);
            }
        }
    }

    fn set_conn_status(&self, s: &SessionInfo, status: Status) -> Result<Value, MeteorError> {
        let info = {
            let mut conns = self.conns.lock();
            let c =
                conns.get_mut(&s.session).ok_or_else(|| MeteorError::new(401, "not-logged-in"))?;
            c.status = status;
            c.clone()
        };
        let _ = self.lane(&info.uid).send(Job::Conn("conn_status", info));
        Ok(Value::Bool(true))
    }

    fn set_default(
        &self,
        s: &SessionInfo,
        status: Option<&Value>,
        text: Option<&Value>,
    ) -> BoxFuture<'static, Result<Value, MeteorError>> {
        let Some(uid) = s.uid.clone() else {
            return Box::pin(async { Err(MeteorError::new(401, "not-logged-in")) });
        };
        let Some(status) = status.and_then(Value::as_str).and_then(Status::parse) else {
            return Box::pin(async { Err(MeteorError::new(400, "invalid-status")) });
        };
        let text = match text {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(t)) if t.chars().count() <= MAX_STATUS_TEXT => t.clone(),
            _ => return Box::pin(async { Err(MeteorError::new(400, "invalid-status-text")) }),
        };
        let body = DefaultStatusBody {
            v: 1,
            uid: uid.clone(),
            username: s.username.clone().unwrap_or_else(|| uid.clone()),
            status_default: status,
            status_text: text,
            gw: self.gw.clone(),
        };
        let (tx, rx) = oneshot::channel();
        let _ = self.lane(&uid).send(Job::Default(body, tx));
        Box::pin(async move {
            match rx.await {
                Ok(true) => Ok(Value::Bool(true)),
                _ => Err(MeteorError::new(503, "broker-unavailable")),
            }
        })
    }

    fn drop_watch(&self, session: &str) {
        if let Some(w) = self.watches.lock().remove(session) {
            let mut by_uid = self.watchers.lock();
            for u in w.uids {
                if let Some(set) = by_uid.get_mut(&u) {
                    set.remove(session);
                    if set.is_empty() {
                        by_uid.remove(&u);
                    }
                }
            }
        }
    }
}

/// The Rocket.Chat `stream-user-presence` frame for one user.
pub fn presence_frame(uid: &str, username: &str, status: Status, text: &str) -> Value {
    json!({"msg": "changed", "collection": STREAM_USER_PRESENCE, "id": uid,
           "fields": {"uid": uid, "args": [username, status.num(), text], "eventName": uid}})
}

fn uid_list(v: Option<&Value>) -> Result<Vec<String>, MeteorError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .filter(|s| validate_uid(s).is_ok())
                    .map(str::to_string)
                    .ok_or_else(|| MeteorError::new(400, "invalid-uid"))
            })
            .collect(),
        _ => Err(MeteorError::new(400, "invalid-params")),
    }
}

impl GatewayExtension for GatewayPresence {
    fn on_login(&self, s: &SessionInfo) {
        let Some(uid) = s.uid.clone() else { return };
        let info = ConnInfo {
            id: s.session.clone(),
            username: s.username.clone().unwrap_or_else(|| uid.clone()),
            uid: uid.clone(),
            status: Status::Online,
        };
        self.conns.lock().insert(s.session.clone(), info.clone());
        let _ = self.lane(&uid).send(Job::Conn("open", info));
    }

    fn on_logout(&self, s: &SessionInfo) {
        if let Some(info) = self.conns.lock().remove(&s.session) {
            let _ = self.lane(&info.uid).send(Job::Conn("close", info));
        }
        self.drop_watch(&s.session);
        self.all_watchers.lock().remove(&s.session);
    }

    fn method(
        &self,
        conn: &Arc<Conn>,
        name: &str,
        params: &[Value],
    ) -> Option<BoxFuture<'static, Result<Value, MeteorError>>> {
        let s = conn.info();
        let r: BoxFuture<'static, Result<Value, MeteorError>> = match name {
            "UserPresence:online" | "UserPresence:away" => {
                let st = if name.ends_with("online") { Status::Online } else { Status::Away };
                let r = self.set_conn_status(&s, st);
                Box::pin(async move { r })
            }
            "UserPresence:setDefaultStatus" => self.set_default(&s, params.first(), None),
            "setUserStatus" => self.set_default(&s, params.first(), params.get(1)),
            _ => return None,
        };
        Some(r)
    }

    fn subscribe(
        &self,
        conn: &Arc<Conn>,
        sub_id: &str,
        name: &str,
        params: &[Value],
    ) -> Option<Result<(), MeteorError>> {
        if name == STREAM_NOTIFY_LOGGED {
            if params.first().and_then(Value::as_str) != Some("user-status") {
                return None;
            }
            if conn.uid().is_none() {
                return Some(Err(MeteorError::new(401, "not-logged-in")));
            }
            if !self.settings.broadcast_all {
                return Some(Err(MeteorError::new(
                    403,
                    "presence broadcast is disabled (PRESENCE_BROADCAST_ALL)",
                )));
            }
            let mut all = self.all_watchers.lock();
            all.entry(conn.session.clone())
                .or_insert_with(|| (Arc::downgrade(conn), HashSet::new()))
                .1
                .insert(sub_id.to_string());
            return Some(Ok(()));
        }
        if name != STREAM_USER_PRESENCE {
            return None;
        }
        let s = conn.info();
        if s.uid.is_none() {
            return Some(Err(MeteorError::new(401, "not-logged-in")));
        }
        let edit = params.get(1);
        let (added, removed) = match (
            uid_list(edit.and_then(|e| e.get("added"))),
            uid_list(edit.and_then(|e| e.get("removed"))),
        ) {
            (Ok(a), Ok(r)) => (a, r),
            (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
        };
        let mut watches = self.watches.lock();
        let w = watches.entry(s.session.clone()).or_insert_with(|| Watch {
            conn: Arc::downgrade(conn),
            uids: HashSet::new(),
            subs: HashSet::new(),
        });
        let mut new_uids = w.uids.clone();
        for u in &removed {
            new_uids.remove(u);
        }
        new_uids.extend(added.iter().cloned());
        if new_uids.len() > self.settings.max_watch {
            return Some(Err(MeteorError::new(
                400,
                format!("too many watched users (max {})", self.settings.max_watch),
            )));
        }
        w.subs.insert(sub_id.to_string());
        let (gone, fresh): (Vec<String>, Vec<String>) = (
            w.uids.difference(&new_uids).cloned().collect(),
            new_uids.difference(&w.uids).cloned().collect(),
        );
        w.uids = new_uids;
        drop(watches);
        {
            let mut by_uid = self.watchers.lock();
            for u in gone {
                if let Some(set) = by_uid.get_mut(&u) {
                    set.remove(&s.session);
                    if set.is_empty() {
                        by_uid.remove(&u);
                    }
                }
            }
            for u in &fresh {
                by_uid.entry(u.clone()).or_default().insert(s.session.clone());
            }
        }
        // The current cached status of every newly watched user (design §4.2).
        let cache = self.cache.lock();
        for u in &added {
            let c = cache.get(u);
            conn.send(&presence_frame(u, &c.username, c.status, &c.status_text));
        }
        Some(Ok(()))
    }

    fn unsubscribe(&self, conn: &Arc<Conn>, sub_id: &str) {
        {
            let mut all = self.all_watchers.lock();
            if let Some((_, subs)) = all.get_mut(&conn.session) {
                if subs.remove(sub_id) && subs.is_empty() {
                    all.remove(&conn.session);
                }
            }
        }
        let last = {
            let mut watches = self.watches.lock();
            match watches.get_mut(&conn.session) {
                Some(w) => {
                    w.subs.remove(sub_id);
                    w.subs.is_empty()
                }
                None => false,
            }
        };
        if last {
            self.drop_watch(&conn.session);
        }
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        if let Some(t) = self.batch_task.lock().take() {
            t.abort();
        }
        // Every connection still registered gets its close (SIGTERM: users go offline now,
        // not after a lease), then wait until each lane has sent what it holds.
        let rest: Vec<ConnInfo> = self.conns.lock().drain().map(|(_, c)| c).collect();
        for c in rest {
            let _ = self.lane(&c.uid).send(Job::Conn("close", c));
        }
        let flushes: Vec<oneshot::Receiver<()>> = self
            .lanes
            .iter()
            .map(|l| {
                let (tx, rx) = oneshot::channel();
                let _ = l.send(Job::Flush(tx));
                rx
            })
            .collect();
        let consumer = self.consumer.lock().take();
        let producer = self.producer.clone();
        let dir = self.offsets_dir.lock().take();
        Box::pin(async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(flushes))
                    .await;
            if let Some(c) = consumer {
                c.shutdown().await;
            }
            producer.shutdown().await;
            drop(dir);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_frame_matches_rocket_chat() {
        let f = presence_frame("alice", "Alice", Status::Busy, "in a call");
        assert_eq!(f["msg"], "changed");
        assert_eq!(f["collection"], STREAM_USER_PRESENCE);
        assert_eq!(f["id"], "alice");
        assert_eq!(f["fields"]["eventName"], "alice");
        assert_eq!(f["fields"]["args"], json!(["Alice", 3, "in a call"]));
    }

    #[test]
    fn watch_lists_are_validated() {
        assert_eq!(
            uid_list(Some(&json!(["a", "b-2"]))).unwrap(),
            vec!["a".to_string(), "b-2".to_string()]
        );
        assert!(uid_list(None).unwrap().is_empty());
        assert!(uid_list(Some(&json!(["bad uid"]))).is_err());
        assert!(uid_list(Some(&json!("a"))).is_err());
    }
}
