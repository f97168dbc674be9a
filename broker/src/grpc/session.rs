//! gRPC client sessions, keyed by the `x-mq-client-id` header: the client's last Settings, its
//! Telemetry stream (for server-pushed commands such as transaction checks) and when it was
//! last heard from. A session outlives stream restarts; it ends on NotifyClientTermination or
//! after `clientChannelExpiredTime` without any call.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use mq_common::protocol::now_millis;
use mq_grpc_proto::v2::{Settings, TelemetryCommand};
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// gRPC session ids live above every remoting channel id (those count up from 1).
static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1 << 62);

/// Sender half of a Telemetry stream.
pub type TelemetrySender = mpsc::Sender<Result<TelemetryCommand, tonic::Status>>;

/// One client.
pub struct Session {
    /// Process-unique id (see [`crate::client_link::ClientLink::id`]).
    pub id: u64,
    /// `x-mq-client-id`.
    pub client_id: String,
    /// `x-mq-language`.
    pub language: String,
    /// `x-mq-client-version`.
    pub version: String,
    peer: Mutex<SocketAddr>,
    settings: Mutex<Option<Settings>>,
    telemetry: Mutex<Option<TelemetrySender>>,
    last_seen: AtomicI64,
    closed: AtomicBool,
}

impl Session {
    /// The client's address (of its latest call).
    pub fn peer(&self) -> SocketAddr {
        *self.peer.lock()
    }

    /// True once terminated or expired.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// End the session (its Telemetry stream is closed).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.telemetry.lock().take();
    }

    /// Last call, ms.
    pub fn last_seen(&self) -> i64 {
        self.last_seen.load(Ordering::Relaxed)
    }

    /// The client's Settings as last merged (None before the first Settings).
    pub fn settings(&self) -> Option<Settings> {
        self.settings.lock().clone()
    }

    /// Store merged Settings.
    pub fn set_settings(&self, s: Settings) {
        *self.settings.lock() = Some(s);
    }

    /// Attach the Telemetry stream.
    pub fn set_telemetry(&self, tx: TelemetrySender) {
        *self.telemetry.lock() = Some(tx);
    }

    /// Detach `tx` if it is still the current stream.
    pub fn drop_telemetry(&self, tx: &TelemetrySender) {
        let mut t = self.telemetry.lock();
        if t.as_ref().is_some_and(|cur| cur.same_channel(tx)) {
            t.take();
        }
    }

    /// Push a command on the Telemetry stream; false if there is none or it is full.
    pub fn push(&self, cmd: TelemetryCommand) -> bool {
        match self.telemetry.lock().as_ref() {
            Some(tx) => tx.try_send(Ok(cmd)).is_ok(),
            None => false,
        }
    }

    /// True while a Telemetry stream is attached.
    pub fn has_telemetry(&self) -> bool {
        self.telemetry.lock().as_ref().is_some_and(|t| !t.is_closed())
    }
}

/// All sessions.
#[derive(Default)]
pub struct Sessions {
    map: DashMap<String, Arc<Session>>,
}

impl Sessions {
    /// The session of `client_id`, created on first sight; refreshes `last_seen` and the peer.
    pub fn touch(
        &self,
        client_id: &str,
        peer: SocketAddr,
        language: &str,
        version: &str,
    ) -> Arc<Session> {
        let now = now_millis();
        if let Some(s) = self.map.get(client_id) {
            if !s.is_closed() {
                s.last_seen.store(now, Ordering::Relaxed);
                *s.peer.lock() = peer;
                return s.clone();
            }
        }
        let s = Arc::new(Session {
            id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
            client_id: client_id.to_string(),
            language: language.to_string(),
            version: version.to_string(),
            peer: Mutex::new(peer),
            settings: Mutex::new(None),
            telemetry: Mutex::new(None),
            last_seen: AtomicI64::new(now),
            closed: AtomicBool::new(false),
        });
        self.map.insert(client_id.to_string(), s.clone());
        s
    }

    /// Existing session.
    pub fn get(&self, client_id: &str) -> Option<Arc<Session>> {
        self.map.get(client_id).map(|s| s.clone())
    }

    /// End and forget a session.
    pub fn remove(&self, client_id: &str) -> Option<Arc<Session>> {
        let s = self.map.remove(client_id).map(|(_, s)| s)?;
        s.close();
        Some(s)
    }

    /// Sessions silent since before `deadline` (ms): removed and returned.
    pub fn expire(&self, deadline: i64) -> Vec<Arc<Session>> {
        let old: Vec<String> = self
            .map
            .iter()
            .filter(|s| s.last_seen() < deadline && !s.has_telemetry())
            .map(|s| s.key().clone())
            .collect();
        old.iter().filter_map(|k| self.remove(k)).collect()
    }

    /// Ids of the open sessions.
    pub fn live_ids(&self) -> std::collections::HashSet<u64> {
        self.map.iter().filter(|s| !s.is_closed()).map(|s| s.id).collect()
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
