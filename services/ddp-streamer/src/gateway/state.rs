//! Gateway-wide state: configuration, broker clients, the socket registry and indexes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use mq_client::{Admin, Producer};
use parking_lot::Mutex;

use super::conn::Conn;
use super::extension::GatewayExtension;
use crate::broker::TopicReader;
use crate::config::GatewayConfig;
use crate::dedupe::SeenSet;
use crate::metrics::Metrics;

/// Everything a socket task or the inbox consumer needs.
pub struct Gateway {
    /// Settings.
    pub cfg: GatewayConfig,
    /// Producer for `chat_outgoing`.
    pub producer: Producer,
    /// Direct reader of `chat_inbox` (history, gap-fill).
    pub inbox: TopicReader,
    /// Admin client.
    pub admin: Admin,
    /// Live sockets by connection number.
    pub conns: DashMap<u64, Arc<Conn>>,
    /// Logged-in sockets by user id.
    pub by_uid: DashMap<String, HashSet<u64>>,
    /// Sockets subscribed to `stream-room-messages` of a room, by room id: a room message is
    /// pushed to these, not offered to every socket of the gateway (issue 23: at 5,000
    /// sockets per gateway and 500 room messages/s, that scan made the gateways fall behind).
    pub by_room: DashMap<String, HashSet<u64>>,
    /// Sockets counted against `MAX_CONCURRENT_CONNECTIONS` (includes upgrades in progress).
    pub active: AtomicUsize,
    next_id: AtomicU64,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Message ids already pushed (drops inbox duplicates before any socket sees them).
    pub seen: Mutex<SeenSet>,
    /// Set once the inbox consumer runs.
    pub ready: AtomicBool,
    /// Extensions (presence, later).
    pub extensions: Vec<Arc<dyn GatewayExtension>>,
}

impl Gateway {
    /// Assemble the state.
    pub fn new(
        cfg: GatewayConfig,
        producer: Producer,
        admin: Admin,
        extensions: Vec<Arc<dyn GatewayExtension>>,
    ) -> Arc<Gateway> {
        let inbox = TopicReader::new(
            admin.clone(),
            chat_proto::topics::CHAT_INBOX,
            chat_proto::topics::CG_GATEWAY_READER,
        );
        Arc::new(Gateway {
            seen: Mutex::new(SeenSet::new(cfg.dedupe_cache)),
            cfg,
            producer,
            inbox,
            admin,
            conns: DashMap::new(),
            by_uid: DashMap::new(),
            by_room: DashMap::new(),
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            metrics: Metrics::default(),
            ready: AtomicBool::new(false),
            extensions,
        })
    }

    /// A fresh connection number.
    pub fn next_conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Index `conn` under `uid`.
    pub fn bind_user(&self, uid: &str, conn: u64) {
        index_add(&self.by_uid, uid, conn);
    }

    /// Remove `conn` from `uid`'s index entry.
    pub fn unbind_user(&self, uid: &str, conn: u64) {
        index_remove(&self.by_uid, uid, conn);
    }

    /// Sockets of `uid`.
    pub fn conns_of(&self, uid: &str) -> Vec<Arc<Conn>> {
        self.resolve(&self.by_uid, uid)
    }

    /// Index `conn` as subscribed to room `rid`.
    pub fn join_room(&self, rid: &str, conn: u64) {
        index_add(&self.by_room, rid, conn);
    }

    /// Remove `conn` from room `rid`'s index entry.
    pub fn leave_room(&self, rid: &str, conn: u64) {
        index_remove(&self.by_room, rid, conn);
    }

    /// Sockets subscribed to room `rid`.
    pub fn conns_in_room(&self, rid: &str) -> Vec<Arc<Conn>> {
        self.resolve(&self.by_room, rid)
    }

    fn resolve(&self, index: &DashMap<String, HashSet<u64>>, key: &str) -> Vec<Arc<Conn>> {
        // Copy the ids first: never hold an index shard lock while taking a `conns` one.
        let ids: Vec<u64> = index.get(key).map(|s| s.iter().copied().collect()).unwrap_or_default();
        ids.iter().filter_map(|id| self.conns.get(id).map(|c| c.clone())).collect()
    }
}

fn index_add(index: &DashMap<String, HashSet<u64>>, key: &str, conn: u64) {
    index.entry(key.to_string()).or_default().insert(conn);
}

fn index_remove(index: &DashMap<String, HashSet<u64>>, key: &str, conn: u64) {
    if let Some(mut set) = index.get_mut(key) {
        set.remove(&conn);
    }
    index.remove_if(key, |_, s| s.is_empty());
}
