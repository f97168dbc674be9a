//! The presence state machine (design §5.1, §5.2), free of I/O so every rule is unit-tested.
//!
//! Time is a monotonic millisecond counter passed in by the caller (`now`), so gateway clock
//! skew never matters and tests control time exactly. The engine only *decides*: it returns
//! [`Out`] items (status events and state snapshots) that the caller publishes in order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chat_proto::ids::shard;
use chat_proto::presence::{compute_status, status_connection, Status};
use chat_proto::presence_bodies::{
    ConnInfo, DefaultStatusBody, Heartbeat, Owner, StateBody, StateDefault, StateUser, StatusEvent,
};

/// Tunables (see `config`).
#[derive(Debug, Clone)]
pub struct EngineCfg {
    /// Presence instance id (owner of events).
    pub instance: String,
    /// This process's epoch.
    pub epoch: String,
    /// Expected gateway batch period (ms); the largest `interval_ms` seen in batches wins.
    pub sync_interval_ms: u64,
    /// Missed batches before a gateway's connections are dropped.
    pub lease_misses: u64,
    /// Per-connection stale threshold (ms).
    pub cache_ttl_ms: u64,
    /// Connections removed per reaper pass.
    pub reaper_batch: usize,
    /// Queue count of the presence topics.
    pub queues: usize,
}

/// Something to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// A status change, for `presence_events` queue `.0`.
    Event(i32, StatusEvent),
    /// A full snapshot of queue `.0`, for `presence_state`.
    State(i32, StateBody),
}

/// Why connections were removed (the `reason` label of `presence_reaped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Idle longer than `CACHE_TTL`.
    Ttl,
    /// The gateway missed its lease.
    GatewayLease,
    /// Missing from the gateway's batch.
    Reconcile,
    /// The gateway restarted (new epoch).
    Epoch,
}

impl Reason {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ttl => "ttl",
            Reason::GatewayLease => "gateway_lease",
            Reason::Reconcile => "reconcile",
            Reason::Epoch => "epoch",
        }
    }
}

#[derive(Debug, Clone)]
struct Conn {
    epoch: String,
    status: Status,
    last_seen: u64,
}

#[derive(Debug, Clone)]
struct User {
    username: String,
    /// Keyed by (gateway, connection id): connection ids are only unique per gateway.
    conns: HashMap<(String, String), Conn>,
    status_default: Status,
    status_text: String,
    published: Status,
    published_text: String,
    dirty: bool,
}

impl User {
    fn new(username: &str) -> User {
        User {
            username: username.to_string(),
            conns: HashMap::new(),
            status_default: Status::Online,
            status_text: String::new(),
            published: Status::Offline,
            published_text: String::new(),
            dirty: true,
        }
    }
    fn connection_status(&self) -> Status {
        status_connection(self.conns.values().map(|c| c.status))
    }
    fn status(&self) -> Status {
        compute_status(self.connection_status(), self.status_default)
    }
    /// Nothing worth remembering: offline, published offline, no manual status.
    fn is_empty(&self) -> bool {
        self.conns.is_empty()
            && self.published == Status::Offline
            && self.status_default == Status::Online
            && self.status_text.is_empty()
    }
}

#[derive(Debug)]
struct QueueState {
    users: HashMap<String, User>,
    /// Until this time no status event is published for the queue (design §5.2-5).
    warm_until: u64,
    n: u64,
    state_dirty: bool,
}

#[derive(Debug)]
struct Gateway {
    epoch: String,
    /// Last batch receive time, or the time the lease was (re)started.
    lease_base: u64,
    interval_ms: u64,
    /// Highest sequence applied per presence queue (the gateway sends each queue in order).
    seqs: HashMap<i32, u64>,
}

/// Counts for `/v1/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Users per published status.
    pub online: usize,
    /// Away users.
    pub away: usize,
    /// Busy users.
    pub busy: usize,
    /// Live connections.
    pub connections: usize,
    /// Queues this instance owns.
    pub owned_queues: Vec<i32>,
    /// Queues still warming up.
    pub warming_up: Vec<i32>,
}

/// A gateway as `/v1/stats` shows it.
#[derive(Debug, Clone)]
pub struct GatewayView {
    /// Instance id.
    pub id: String,
    /// Epoch.
    pub epoch: String,
    /// Live connections.
    pub conns: usize,
    /// Since the last batch (ms).
    pub last_batch_ms_ago: u64,
}

/// One user as `/v1/status` shows it (owner view).
#[derive(Debug, Clone)]
pub struct UserView {
    /// Display name.
    pub username: String,
    /// Published status.
    pub status: Status,
    /// Status text.
    pub status_text: String,
    /// Reduced connection status.
    pub status_connection: Status,
    /// Manual default.
    pub status_default: Status,
    /// (connection id, gateway, status, ms since seen).
    pub connections: Vec<(String, String, Status, u64)>,
}

/// The presence state of the queues this instance owns.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineCfg,
    queues: BTreeMap<i32, QueueState>,
    gateways: HashMap<String, Gateway>,
    blind: bool,
    /// Connections removed, by reason.
    pub reaped: BTreeMap<Reason, u64>,
    /// Status events produced.
    pub events_out: u64,
}

impl Engine {
    /// An engine owning no queue yet.
    pub fn new(cfg: EngineCfg) -> Engine {
        Engine {
            cfg,
            queues: BTreeMap::new(),
            gateways: HashMap::new(),
            blind: false,
            reaped: BTreeMap::new(),
            events_out: 0,
        }
    }

    /// Lease length in ms: misses × the largest batch interval announced (or configured).
    pub fn lease_ms(&self) -> u64 {
        let interval = self
            .gateways
            .values()
            .map(|g| g.interval_ms)
            .max()
            .unwrap_or(0)
            .max(self.cfg.sync_interval_ms);
        self.cfg.lease_misses * interval
    }

    /// The presence queue of `uid`.
    pub fn queue_of(&self, uid: &str) -> i32 {
        shard(uid, self.cfg.queues) as i32
    }

    /// Whether queue `q` has been restored and is being maintained here.
    pub fn owns(&self, q: i32) -> bool {
        self.queues.contains_key(&q)
    }

    /// Whether the engine is blind (broker unreachable).
    pub fn is_blind(&self) -> bool {
        self.blind
    }

    /// Take ownership of queue `q`, restoring manual statuses and the last published statuses
    /// from its last snapshot, and start its warm-up (no events until batches had time to
    /// arrive, so a restart never publishes false offline events).
    pub fn restore(&mut self, q: i32, state: Option<&StateBody>, now: u64) {
        let mut users = HashMap::new();
        if let Some(s) = state {
            for (uid, u) in &s.users {
                let mut user = User::new(&u.username);
                user.status_default = u.status_default;
                user.published = u.status;
                user.published_text = u.status_text.clone();
                user.status_text = u.status_text.clone();
                users.insert(uid.clone(), user);
            }
            for (uid, d) in &s.defaults {
                let mut user = User::new(&d.username);
                user.status_default = d.status_default;
                user.status_text = d.status_text.clone();
                user.published_text = d.status_text.clone();
                users.insert(uid.clone(), user);
            }
        }
        let warm_until = now + self.lease_ms();
        self.queues.insert(q, QueueState { users, warm_until, n: 0, state_dirty: true });
    }

    /// Give up queue `q` (rebalanced away): forget it without publishing anything.
    pub fn release(&mut self, q: i32) {
        self.queues.remove(&q);
    }

    /// Mark the engine blind (no successful broker contact) or sighted again. Coming back
    /// restarts every lease and TTL and re-enters warm-up, so an outage never turns everyone
    /// offline (design §5.2-6).
    pub fn set_blind(&mut self, blind: bool, now: u64) {
        if blind == self.blind {
            return;
        }
        self.blind = blind;
        if !blind {
            let lease = self.lease_ms();
            // Gateways and our consumer both need a moment to reconnect: every lease gets a
            // whole extra lease of grace on top of the warm-up.
            for g in self.gateways.values_mut() {
                g.lease_base = now + lease;
            }
            for qs in self.queues.values_mut() {
                qs.warm_until = qs.warm_until.max(now + lease);
                for u in qs.users.values_mut() {
                    for c in u.conns.values_mut() {
                        c.last_seen = now;
                    }
                }
            }
        }
    }

    /// Apply one `presence_heartbeat` message read from queue `q`. `age_ms` is how old the
    /// broker says it is: a heartbeat older than `CACHE_TTL` (backlog catch-up) renews nothing.
    pub fn apply(&mut self, q: i32, hb: &Heartbeat, now: u64, age_ms: u64) -> Vec<Out> {
        if !self.owns(q) {
            return Vec::new();
        }
        let renew = age_ms <= self.cfg.cache_ttl_ms;
        match hb {
            Heartbeat::DefaultStatus(d) => return self.default_status(d, now),
            Heartbeat::Batch(b) => {
                if !self.gateway_guard(&b.gw, &b.epoch, q, b.seq, now) {
                    return Vec::new();
                }
                let g = self.gateways.get_mut(&b.gw).expect("guard inserted it");
                g.interval_ms = g.interval_ms.max(b.interval_ms);
                if renew {
                    g.lease_base = now;
                }
                let listed: BTreeSet<(&str, &str)> =
                    b.conns.iter().map(|c| (c.uid.as_str(), c.id.as_str())).collect();
                let (mut reconciled, mut old_epoch) = (0u64, 0u64);
                let qs = self.queues.get_mut(&q).expect("owned");
                for (uid, u) in qs.users.iter_mut() {
                    let before = u.conns.len();
                    u.conns.retain(|(gw, id), c| {
                        let keep = gw != &b.gw || listed.contains(&(uid.as_str(), id.as_str()));
                        if !keep {
                            if c.epoch == b.epoch {
                                reconciled += 1
                            } else {
                                old_epoch += 1
                            }
                        }
                        keep
                    });
                    if u.conns.len() != before {
                        u.dirty = true;
                    }
                }
                *self.reaped.entry(Reason::Reconcile).or_default() += reconciled;
                *self.reaped.entry(Reason::Epoch).or_default() += old_epoch;
                for c in &b.conns {
                    self.upsert(q, &b.gw, &b.epoch, c, now, renew);
                }
            }
            Heartbeat::Open(e) | Heartbeat::ConnStatus(e) => {
                if !self.gateway_guard(&e.gw, &e.epoch, q, e.seq, now) {
                    return Vec::new();
                }
                self.upsert(q, &e.gw, &e.epoch, &e.conn, now, renew);
            }
            Heartbeat::Close(e) => {
                if !self.gateway_guard(&e.gw, &e.epoch, q, e.seq, now) {
                    return Vec::new();
                }
                if let Some(u) =
                    self.queues.get_mut(&q).and_then(|qs| qs.users.get_mut(&e.conn.uid))
                {
                    if u.conns.remove(&(e.gw.clone(), e.conn.id.clone())).is_some() {
                        u.dirty = true;
                    }
                }
            }
        }
        self.flush(q, now)
    }

    /// Epoch and sequence checks; registers new gateways. False = drop the message.
    fn gateway_guard(&mut self, gw: &str, epoch: &str, q: i32, seq: u64, now: u64) -> bool {
        let interval = self.cfg.sync_interval_ms;
        let g = self.gateways.entry(gw.to_string()).or_insert_with(|| Gateway {
            epoch: epoch.to_string(),
            lease_base: now,
            interval_ms: interval,
            seqs: HashMap::new(),
        });
        // Epochs start with a zero-padded start time, so they order lexically.
        if epoch < g.epoch.as_str() {
            return false;
        }
        if epoch > g.epoch.as_str() {
            // The gateway restarted. Its old connections are purged by the new process's
            // first batch of each queue (reconcile), not here: users who reconnect before
            // that batch never flap offline.
            g.epoch = epoch.to_string();
            g.seqs.clear();
            g.lease_base = now;
        }
        let last = g.seqs.entry(q).or_insert(0);
        if seq <= *last {
            return false; // duplicate or stale (redelivery)
        }
        *last = seq;
        true
    }

    fn upsert(&mut self, q: i32, gw: &str, epoch: &str, c: &ConnInfo, now: u64, renew: bool) {
        let qs = self.queues.get_mut(&q).expect("owned");
        let u = qs.users.entry(c.uid.clone()).or_insert_with(|| User::new(&c.username));
        if !c.username.is_empty() {
            u.username = c.username.clone();
        }
        let status = if c.status.is_connection_status() { c.status } else { Status::Online };
        let key = (gw.to_string(), c.id.clone());
        match u.conns.get_mut(&key) {
            Some(existing) => {
                if existing.status != status {
                    existing.status = status;
                    u.dirty = true;
                }
                if renew {
                    existing.last_seen = now;
                }
            }
            None => {
                // An old backlog entry still adds the connection, but as already stale.
                let last_seen =
                    if renew { now } else { now.saturating_sub(self.cfg.cache_ttl_ms + 1) };
                u.conns.insert(key, Conn { epoch: epoch.to_string(), status, last_seen });
                u.dirty = true;
            }
        }
    }

    fn default_status(&mut self, d: &DefaultStatusBody, now: u64) -> Vec<Out> {
        let q = self.queue_of(&d.uid);
        let Some(qs) = self.queues.get_mut(&q) else { return Vec::new() };
        let u = qs.users.entry(d.uid.clone()).or_insert_with(|| User::new(&d.username));
        if !d.username.is_empty() {
            u.username = d.username.clone();
        }
        u.status_default = d.status_default;
        u.status_text = d.status_text.chars().take(chat_proto::presence::MAX_STATUS_TEXT).collect();
        u.dirty = true;
        qs.state_dirty = true;
        let mut out = self.flush(q, now);
        // Manual statuses are durable before they are acknowledged (design §5.2-7).
        out.push(Out::State(q, self.snapshot(q)));
        if let Some(qs) = self.queues.get_mut(&q) {
            qs.state_dirty = false;
        }
        out
    }

    /// Periodic work: gateway leases, the TTL reaper, warm-up ends, snapshots of changed
    /// queues. Does nothing while blind.
    pub fn tick(&mut self, now: u64) -> Vec<Out> {
        if self.blind {
            return Vec::new();
        }
        let lease = self.lease_ms();
        let expired: Vec<String> = self
            .gateways
            .iter()
            .filter(|(_, g)| now.saturating_sub(g.lease_base) > lease)
            .map(|(id, _)| id.clone())
            .collect();
        for gw in &expired {
            tracing::info!(gw, lease_ms = lease, "gateway lease expired: dropping its connections");
            self.gateways.remove(gw);
            let mut removed = 0u64;
            for qs in self.queues.values_mut() {
                for u in qs.users.values_mut() {
                    let before = u.conns.len();
                    u.conns.retain(|(cgw, _), _| cgw != gw);
                    if u.conns.len() != before {
                        removed += (before - u.conns.len()) as u64;
                        u.dirty = true;
                    }
                }
            }
            *self.reaped.entry(Reason::GatewayLease).or_default() += removed;
        }
        // Connection TTL reaper, bounded per pass like Rocket.Chat's PresenceReaper.
        let cutoff = now.saturating_sub(self.cfg.cache_ttl_ms);
        let mut budget = self.cfg.reaper_batch;
        'reap: for qs in self.queues.values_mut() {
            for u in qs.users.values_mut() {
                let stale: Vec<(String, String)> = u
                    .conns
                    .iter()
                    .filter(|(_, c)| c.last_seen < cutoff)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in stale {
                    if budget == 0 {
                        break 'reap;
                    }
                    u.conns.remove(&k);
                    u.dirty = true;
                    budget -= 1;
                    *self.reaped.entry(Reason::Ttl).or_default() += 1;
                }
            }
        }
        let qids: Vec<i32> = self.queues.keys().copied().collect();
        let mut out = Vec::new();
        for q in qids {
            out.extend(self.flush(q, now));
            let qs = self.queues.get_mut(&q).expect("listed");
            if qs.state_dirty && now >= qs.warm_until {
                qs.state_dirty = false;
                out.push(Out::State(q, self.snapshot(q)));
            }
        }
        out
    }

    /// Publish what changed in queue `q` (nothing while it warms up or while blind).
    fn flush(&mut self, q: i32, now: u64) -> Vec<Out> {
        let blind = self.blind;
        let Some(qs) = self.queues.get_mut(&q) else { return Vec::new() };
        if blind || now < qs.warm_until {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (uid, u) in qs.users.iter_mut() {
            if !u.dirty {
                continue;
            }
            u.dirty = false;
            let status = u.status();
            if status == u.published && u.status_text == u.published_text {
                continue;
            }
            qs.n += 1;
            qs.state_dirty = true;
            out.push(Out::Event(
                q,
                StatusEvent {
                    v: 1,
                    kind: "status".into(),
                    uid: uid.clone(),
                    username: u.username.clone(),
                    status,
                    status_num: status.num(),
                    status_text: u.status_text.clone(),
                    status_connection: u.connection_status(),
                    status_default: u.status_default,
                    previous_status: u.published,
                    conns: u.conns.len(),
                    ts: mq_common::protocol::now_millis(),
                    owner: Owner {
                        instance: self.cfg.instance.clone(),
                        epoch: self.cfg.epoch.clone(),
                        queue: q,
                        n: qs.n,
                    },
                },
            ));
            u.published = status;
            u.published_text = u.status_text.clone();
        }
        qs.users.retain(|_, u| !u.is_empty() || u.dirty);
        self.events_out += out.len() as u64;
        out
    }

    /// The full state of queue `q` (what a restart restores).
    pub fn snapshot(&self, q: i32) -> StateBody {
        let mut users = BTreeMap::new();
        let mut defaults = BTreeMap::new();
        let (n, list) = match self.queues.get(&q) {
            Some(qs) => (qs.n, Some(&qs.users)),
            None => (0, None),
        };
        for (uid, u) in list.into_iter().flatten() {
            if u.published != Status::Offline {
                users.insert(
                    uid.clone(),
                    StateUser {
                        username: u.username.clone(),
                        status: u.published,
                        status_text: u.published_text.clone(),
                        status_default: u.status_default,
                        conns: u.conns.len(),
                    },
                );
            } else if u.status_default != Status::Online || !u.status_text.is_empty() {
                defaults.insert(
                    uid.clone(),
                    StateDefault {
                        status_default: u.status_default,
                        status_text: u.status_text.clone(),
                        username: u.username.clone(),
                    },
                );
            }
        }
        StateBody {
            v: 1,
            kind: "state".into(),
            queue: q,
            owner: Owner {
                instance: self.cfg.instance.clone(),
                epoch: self.cfg.epoch.clone(),
                queue: q,
                n,
            },
            users,
            defaults,
        }
    }

    /// The owner view of `uid`, if its queue is owned here.
    pub fn user(&self, uid: &str, now: u64) -> Option<UserView> {
        let qs = self.queues.get(&self.queue_of(uid))?;
        let Some(u) = qs.users.get(uid) else {
            return Some(UserView {
                username: uid.into(),
                status: Status::Offline,
                status_text: String::new(),
                status_connection: Status::Offline,
                status_default: Status::Online,
                connections: vec![],
            });
        };
        Some(UserView {
            username: u.username.clone(),
            status: u.published,
            status_text: u.published_text.clone(),
            status_connection: u.connection_status(),
            status_default: u.status_default,
            connections: u
                .conns
                .iter()
                .map(|((gw, id), c)| {
                    (id.clone(), gw.clone(), c.status, now.saturating_sub(c.last_seen))
                })
                .collect(),
        })
    }

    /// Counts over the owned queues (published statuses).
    pub fn stats(&self, now: u64) -> Stats {
        let mut s = Stats::default();
        for (q, qs) in &self.queues {
            s.owned_queues.push(*q);
            if now < qs.warm_until {
                s.warming_up.push(*q);
            }
            for u in qs.users.values() {
                s.connections += u.conns.len();
                match u.published {
                    Status::Online => s.online += 1,
                    Status::Away => s.away += 1,
                    Status::Busy => s.busy += 1,
                    Status::Offline => {}
                }
            }
        }
        s
    }

    /// Gateways with their connection counts.
    pub fn gateways(&self, now: u64) -> Vec<GatewayView> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for qs in self.queues.values() {
            for u in qs.users.values() {
                for (gw, _) in u.conns.keys() {
                    *counts.entry(gw.as_str()).or_default() += 1;
                }
            }
        }
        let mut v: Vec<GatewayView> = self
            .gateways
            .iter()
            .map(|(id, g)| GatewayView {
                id: id.clone(),
                epoch: g.epoch.clone(),
                conns: counts.get(id.as_str()).copied().unwrap_or(0),
                last_batch_ms_ago: now.saturating_sub(g.lease_base),
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
