//! Classic master/slave replication on Java's HA protocol (docs/ha-protocol.md; design in
//! `docs/replication.md`).
//!
//! * [`wire`]: the byte layouts (8-byte slave reports, `[offset][size][bytes]` frames);
//! * [`master`]: the `haListenPort` acceptor and one connection per slave (reads reports,
//!   streams frames that never cross a commit-log file, heartbeats, drops silent or lying
//!   slaves);
//! * [`slave`]: the HA client of a SLAVE (reports its max offset, appends frames through the
//!   store's replication surface, reconnects and resumes);
//! * [`group_transfer`]: SYNC_MASTER waits, batched in one list;
//! * [`config`]: the `ha*` keys;
//! * [`truncate`]: the operator's cut of a diverged slave (`mqbroker --truncate-to`).
//!
//! Controller mode (issue 19) builds on this: its handshake (epoch, broker id) goes in front
//! of the same frame stream, and the in-sync set replaces "any one slave" in
//! [`HaService::after_put`]; the per-slave acknowledged offsets it needs are in
//! [`HaService::slaves`].

pub mod config;
pub mod epoch_cache;
pub mod group_transfer;
pub mod handshake;
pub mod lag;
pub mod master;
pub mod master_guard;
pub mod metadata_sync;
mod read_limit;
pub mod replicas_manager;
pub mod slave;
mod trace;
pub mod truncate;
pub mod wire;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::HaConfig;
use group_transfer::GroupTransfer;

use crate::config::{BrokerConfig, BrokerRole};
use crate::store::{MessageStore, PutMessageResult, PutMessageStatus};

/// One connected slave, as the master sees it.
pub struct SlaveLink {
    /// The slave's address.
    pub peer: SocketAddr,
    /// Its first report: where transfer starts (-1 until it arrives).
    request: AtomicI64,
    /// Its latest report: what it holds (-1 until the first report).
    ack: AtomicI64,
    /// When that report arrived (ms since the epoch; the connection time until then): the
    /// metrics' acknowledgement age.
    acked_at_ms: AtomicI64,
    /// Wakes the transfer half when the first report arrives.
    first_report: Notify,
    /// Controller mode: the slave's broker id from the handshake (-1: classic).
    broker_id: AtomicI64,
    /// Controller mode: when the slave last acknowledged what this master held at its
    /// previous report (Java's `lastCaughtUpTimeMs`).
    caught_up_at: Mutex<Instant>,
    /// The master's end at the slave's previous report.
    prev_master_max: AtomicI64,
    /// Its acknowledgements' lags in time (`lag.rs`).
    lag: lag::LagHistogram,
}

impl SlaveLink {
    /// The slave's latest acknowledged offset (-1: none yet).
    pub fn acked(&self) -> i64 {
        self.ack.load(Ordering::Acquire)
    }

    /// Controller mode: the slave's broker id (-1: not told).
    pub fn broker_id(&self) -> i64 {
        self.broker_id.load(Ordering::Acquire)
    }

    /// When the latest acknowledgement arrived (ms since the epoch), or the connection time
    /// when none has.
    pub fn acked_at_ms(&self) -> i64 {
        self.acked_at_ms.load(Ordering::Relaxed)
    }

    /// Its acknowledgements' lags since it connected.
    pub fn lag(&self) -> &lag::LagHistogram {
        &self.lag
    }

    /// Record an acknowledgement of `offset` (the connection's reader).
    fn set_acked(&self, offset: i64) {
        self.ack.store(offset, Ordering::Release);
        self.acked_at_ms.store(mq_common::protocol::now_millis(), Ordering::Relaxed);
    }
}

/// Controller mode: what this broker knows of its group (from the controllers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupView {
    /// This broker's applied id (0 until known).
    pub my_id: u64,
    /// The master's id, when the group has one.
    pub master_id: Option<u64>,
    /// The master epoch this broker follows or leads.
    pub master_epoch: i32,
    /// The in-sync set and its epoch.
    pub sync_state_set: Vec<u64>,
    /// The in-sync set's epoch.
    pub sync_state_set_epoch: i32,
}

/// What a slave knows about its master.
#[derive(Debug, Clone, Default)]
pub struct MasterInfo {
    /// The master's HA address (`haServerAddr`, or the static `haMasterAddress`).
    pub ha_addr: Option<String>,
    /// The master's remoting address (`masterAddr` from the name server): metadata sync.
    pub broker_addr: Option<String>,
}

/// Replication state of one broker (either side).
pub struct HaService {
    cfg: HaConfig,
    /// The role: fixed by `brokerRole` in classic mode, changed by the controllers'
    /// answers in controller mode ([`HaService::set_role`]).
    role: AtomicU8,
    /// Controller mode: the group as the controllers last described it.
    view: Mutex<GroupView>,
    /// Controller mode: the epoch file.
    pub epochs: Option<Mutex<epoch_cache::EpochCache>>,
    /// Woken when the role, the master or the epoch changes: HA sessions of the old
    /// arrangement end.
    role_changed: Notify,
    /// Address outgoing HA connections are bound to (`brokerIP2`), so rules on source
    /// addresses (fault tests on 127.0.0.x) see this broker.
    local_ip: IpAddr,
    store: Arc<MessageStore>,
    /// SYNC_MASTER waits.
    pub transfer: GroupTransfer,
    /// Java's `connectionCount`.
    connections: AtomicUsize,
    slaves: Mutex<BTreeMap<u64, Arc<SlaveLink>>>,
    next_link: AtomicU64,
    /// Woken by SYNC_MASTER puts so transfer halves send at once (ASYNC_MASTER: ≤ 100 ms).
    data_ready: Notify,
    /// Master side: the commit-log end over time, which turns reports into lags (`lag.rs`).
    timeline: lag::EndTimeline,
    /// `ha_trace` on: when the first put since the transfer half's last pass woke it (µs, 0:
    /// none since).
    notified_at_us: AtomicI64,
    /// Slave side: where the master is.
    master: Mutex<MasterInfo>,
    /// Slave side: connected to the master now.
    client_connected: AtomicBool,
    /// Slave side: the master's offset from its last frame header (lag = this − own max).
    master_seen: AtomicI64,
    /// Slave side: the master's bytes differ from this log (replication refused).
    diverged: AtomicBool,
    /// Slave side: the first offset where they were seen to differ (-1: none).
    diverged_at: AtomicI64,
    /// Controller mode: a controller pushed a role change (NOTIFY_BROKER_ROLE_CHANGED); the
    /// replicas manager asks the leader at once.
    sync_now: Notify,
    /// Controller mode, master: consumers' read limit (see `read_limit.rs`).
    read_limit: read_limit::ReadLimit,
    shutdown: CancellationToken,
}

impl HaService {
    /// The service for `cfg`'s role over `store` (nothing runs until [`HaService::start`]).
    pub fn new(
        cfg: &BrokerConfig,
        store: Arc<MessageStore>,
        shutdown: CancellationToken,
    ) -> Result<Self, String> {
        let master = MasterInfo {
            ha_addr: cfg.ha.static_master().map(str::to_string),
            ..Default::default()
        };
        let epochs = if cfg.ha.enable_controller_mode {
            let path = cfg.store.store_path_root_dir.join("epochFileCheckpoint");
            Some(Mutex::new(epoch_cache::EpochCache::load(&path)?))
        } else {
            None
        };
        // Controller mode starts as a replica that accepts no writes until the controllers
        // say otherwise.
        let role = if epochs.is_some() { BrokerRole::Slave } else { cfg.broker_role };
        Ok(HaService {
            cfg: cfg.ha.clone(),
            role: AtomicU8::new(role_code(role)),
            view: Mutex::new(GroupView::default()),
            epochs,
            role_changed: Notify::new(),
            local_ip: cfg.broker_ip2,
            store,
            transfer: GroupTransfer::default(),
            connections: AtomicUsize::new(0),
            slaves: Mutex::new(BTreeMap::new()),
            next_link: AtomicU64::new(0),
            data_ready: Notify::new(),
            timeline: lag::EndTimeline::default(),
            notified_at_us: AtomicI64::new(0),
            master: Mutex::new(master),
            client_connected: AtomicBool::new(false),
            master_seen: AtomicI64::new(-1),
            diverged: AtomicBool::new(false),
            diverged_at: AtomicI64::new(-1),
            sync_now: Notify::new(),
            read_limit: read_limit::ReadLimit::default(),
            shutdown,
        })
    }

    /// Start the acceptor on `listener` (every role runs one, as Java does), the SYNC_MASTER
    /// expiry ticker, and on a SLAVE the HA client.
    pub fn start(self: &Arc<Self>, listener: TcpListener) -> Vec<JoinHandle<()>> {
        let mut tasks = vec![tokio::spawn(master::accept_loop(self.clone(), listener))];
        // Controller mode may take either role later: both halves run, each idle while the
        // role is not its own.
        let any = self.controller_mode();
        // A controller-mode broker starts as a replica reading nothing until a master's limit
        // arrives (its log may end in a tail a new master replaced).
        self.update_read_limit();
        if any || self.role() == BrokerRole::SyncMaster {
            tasks.push(tokio::spawn(expire_loop(self.clone())));
        }
        if any || self.role() == BrokerRole::Slave {
            tasks.push(tokio::spawn(slave::run(self.clone())));
        }
        tasks
    }

    /// `enableControllerMode`.
    pub fn controller_mode(&self) -> bool {
        self.epochs.is_some()
    }

    /// Controller mode: the group as last seen.
    pub fn view(&self) -> GroupView {
        self.view.lock().clone()
    }

    /// Controller mode: update the group view (the replicas manager does).
    pub fn set_view(&self, v: GroupView) {
        let changed = {
            let mut cur = self.view.lock();
            let changed = cur.master_id != v.master_id || cur.master_epoch != v.master_epoch;
            *cur = v;
            changed
        };
        if changed {
            self.role_changed.notify_waiters();
        }
        // The in-sync set may have changed: what consumers may read follows it.
        self.update_read_limit();
    }

    /// Change the role at run time (controller mode): the store's follower flag follows, HA
    /// sessions of the old role end, a new master forgets acknowledgements of its past.
    pub fn set_role(&self, role: BrokerRole) {
        if role == BrokerRole::Slave && self.role() != BrokerRole::Slave {
            self.keep_read_limit_as_replica();
        }
        let old = self.role.swap(role_code(role), Ordering::AcqRel);
        if old != role_code(role) && role != BrokerRole::Slave {
            self.transfer.reset();
        }
        self.store.set_follower(role == BrokerRole::Slave);
        if old != role_code(role) {
            // A new term's log may end below the old samples (truncated): start afresh.
            self.timeline.clear();
            self.role_changed.notify_waiters();
            if role == BrokerRole::Slave {
                // Waiting sends of a deposed master fail now rather than at their timeout.
                self.transfer.fail_all();
            }
            self.update_read_limit();
        }
    }

    /// Whether sends are accepted: not a slave, and not fenced (controller mode).
    pub fn accepts_writes(&self) -> bool {
        self.role() != BrokerRole::Slave && !self.store.is_follower()
    }

    /// Fence (or unfence) a master: its store refuses puts while it is not sure it still
    /// leads (controller mode: a newer epoch seen, or no controller heard for the lease).
    pub fn set_fenced(&self, fenced: bool) {
        if self.role() != BrokerRole::Slave {
            let was = self.store.is_follower();
            self.store.set_follower(fenced);
            if fenced && !was {
                // Sends waiting for replicas are not acknowledged by a master that may no
                // longer lead: they fail now rather than at their timeout.
                self.transfer.fail_all();
            }
        }
    }

    /// Completes when the role, the master or the epoch changes.
    pub fn role_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.role_changed.notified()
    }

    /// The id to register with the name servers: 0 for a master (Java's `MASTER_ID`),
    /// the controller-applied id for a controller-mode replica, else `brokerId`.
    pub fn namesrv_broker_id(&self, configured: i64) -> i64 {
        if !self.controller_mode() {
            return configured;
        }
        if self.role() == BrokerRole::Slave {
            self.view.lock().my_id as i64
        } else {
            0
        }
    }

    /// Controller mode: the other in-sync members' connections' acknowledged offsets
    /// (-1 for a member with no connection).
    fn member_acks(&self) -> Vec<i64> {
        let v = self.view.lock().clone();
        let links = self.slaves();
        v.sync_state_set
            .iter()
            .filter(|id| **id != v.my_id)
            .map(|id| {
                links
                    .iter()
                    .filter(|l| l.broker_id() == *id as i64)
                    .map(|l| l.acked())
                    .max()
                    .unwrap_or(-1)
            })
            .collect()
    }

    /// Controller mode: how many other replicas a send waits for (`allAckInSyncStateSet`:
    /// every other member of the in-sync set; else `inSyncReplicas` − 1).
    fn acks_needed(&self) -> usize {
        if self.cfg.all_ack_in_sync_state_set {
            let v = self.view.lock();
            v.sync_state_set.iter().filter(|id| **id != v.my_id).count()
        } else {
            self.cfg.in_sync_replicas.saturating_sub(1)
        }
    }

    /// Controller mode: the offset the needed replicas all hold (`i64::MAX` when none is
    /// needed); what SYNC waits complete on.
    pub fn quorum_acked(&self) -> i64 {
        let need = self.acks_needed();
        if need == 0 {
            return i64::MAX;
        }
        let mut acks = self.member_acks();
        acks.sort_unstable_by(|a, b| b.cmp(a));
        acks.get(need - 1).copied().unwrap_or(-1)
    }

    /// Controller mode: what every in-sync member holds (the master's own end when it is
    /// alone): a replica that reached it may join the set.
    pub fn confirm_offset(&self) -> i64 {
        let max = self.store.get_max_phy_offset();
        self.member_acks().into_iter().min().map_or(max, |m| m.min(max))
    }

    /// Controller mode: a replica that has no master address to follow yet.
    pub fn master_unknown(&self) -> bool {
        self.role() == BrokerRole::Slave && self.master.lock().ha_addr.is_none()
    }

    /// Controller mode: complete the waits the in-sync set now covers (after it shrank).
    pub fn recheck_waits(&self) {
        // The set changed: the offset every member holds is recomputed from scratch.
        self.transfer.reset();
        let q = self.quorum_acked();
        self.transfer.on_ack(if q == i64::MAX { self.store.get_max_phy_offset() } else { q });
        self.update_read_limit();
    }

    /// A message reached its queue (the store's arrival listener, after every put path's
    /// append): sample the commit-log end, so reports become lags (`lag.rs`). Only a master
    /// with a slave connected pays more than two atomic loads.
    pub fn on_arrival(&self) {
        if self.connection_count() > 0 && self.role() != BrokerRole::Slave {
            self.timeline.record(self.store.get_max_phy_offset());
        }
    }

    /// Time a slave's acknowledgement that advanced it to `offset` into its lag histogram
    /// (after the waits it covers were completed: off their path).
    fn record_ack_lag(&self, link: &SlaveLink, offset: i64) {
        let now = self.timeline.now_ns();
        if let Some((us, lower_bound)) = self.timeline.lag_us(offset, now) {
            link.lag.record(us, lower_bound);
        }
    }

    /// A slave's acknowledgement arrived: complete the waits it covers.
    fn on_slave_ack(&self, link: &SlaveLink, offset: i64) {
        if !self.controller_mode() {
            return self.transfer.on_ack(offset);
        }
        let max = self.store.get_max_phy_offset();
        if offset >= link.prev_master_max.swap(max, Ordering::AcqRel).min(max) {
            *link.caught_up_at.lock() = Instant::now();
        }
        let q = self.quorum_acked();
        if q != i64::MAX {
            self.transfer.on_ack(q);
        }
        self.update_read_limit();
    }
    /// The HA keys.
    pub fn config(&self) -> &HaConfig {
        &self.cfg
    }

    /// This broker's role.
    pub fn role(&self) -> BrokerRole {
        role_from_code(self.role.load(Ordering::Acquire))
    }

    /// Whether a put that ended with `r` must wait for a slave before it is answered
    /// (SYNC_MASTER, stored, and the sender waits for the store: `WAIT` not false).
    pub fn needs_slave(&self, r: &PutMessageResult) -> bool {
        self.role() == BrokerRole::SyncMaster
            && r.wait_store
            && r.status.is_stored()
            && (!self.controller_mode() || self.acks_needed() > 0)
    }

    /// Answer a put once a slave holds it (SYNC_MASTER, docs/ha-protocol.md §5):
    /// SLAVE_NOT_AVAILABLE at once when no slave is connected or the best one is
    /// `haSlaveFallbehindMax` behind,
    /// FLUSH_SLAVE_TIMEOUT after `slaveTimeout`, else the store's status. `f` runs once, on
    /// this thread or on the task that reads the slave's acknowledgement; it must not block.
    pub fn after_put(
        &self,
        r: PutMessageResult,
        f: impl FnOnce(PutMessageResult) + Send + 'static,
    ) {
        if !self.needs_slave(&r) {
            return f(r);
        }
        let end = r.end_offset();
        if !self.slave_ok(end) {
            return f(with_replica_status(r, PutMessageStatus::SlaveNotAvailable));
        }
        self.data_ready.notify_waiters();
        if trace::on() {
            let _ = self.notified_at_us.compare_exchange(
                0,
                trace::now_us(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
        let deadline = Instant::now() + self.cfg.slave_wait();
        self.transfer.wait(
            end,
            deadline,
            Box::new(move |ok| {
                f(if ok { r } else { with_replica_status(r, PutMessageStatus::FlushSlaveTimeout) })
            }),
        );
    }

    /// [`HaService::after_put`] for an async caller.
    pub async fn replicated(&self, r: PutMessageResult) -> PutMessageResult {
        if !self.needs_slave(&r) {
            return r;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let fallback = with_replica_status(r.clone(), PutMessageStatus::FlushSlaveTimeout);
        self.after_put(r, move |r| {
            let _ = tx.send(r);
        });
        rx.await.unwrap_or(fallback)
    }

    /// Controller mode: the in-sync set is smaller than `minInSyncReplicas`, so a send is
    /// refused before it is stored (Java's `IN_SYNC_REPLICAS_NOT_ENOUGH`, checked in
    /// `CommitLog.asyncPutMessage` before the append).
    pub fn in_sync_replicas_not_enough(&self) -> bool {
        self.controller_mode()
            && self.role() == BrokerRole::SyncMaster
            && self.view.lock().sync_state_set.len() < self.cfg.min_in_sync_replicas
    }

    /// Java's `isSlaveOK`: a slave is connected and not too far behind `end`.
    fn slave_ok(&self, end: i64) -> bool {
        if self.controller_mode() {
            // The in-sync set decides: too small a set refuses (`minInSyncReplicas`); a
            // member that is not connected makes the send wait (and the set shrink).
            return self.view.lock().sync_state_set.len() >= self.cfg.min_in_sync_replicas;
        }
        self.connections.load(Ordering::Acquire) > 0
            && end - self.transfer.acked() < self.cfg.slave_fallbehind_max
    }

    /// A slave learned (or lost) its master from a name server's register answer. Ignored
    /// when `haMasterAddress` is set (Java's rule).
    pub fn set_master(&self, ha_addr: Option<String>, broker_addr: Option<String>) {
        let mut m = self.master.lock();
        if self.cfg.static_master().is_none() && !self.controller_mode() {
            if let Some(a) = ha_addr.filter(|a| !a.is_empty()) {
                if m.ha_addr.as_deref() != Some(&a) {
                    tracing::info!(master_ha = %a, "HA master address from the name server");
                }
                m.ha_addr = Some(a);
            }
        }
        m.broker_addr = broker_addr.filter(|a| !a.is_empty());
    }

    /// Controller mode: the master named by the controllers (`None`: no master now).
    pub fn set_master_from_controller(&self, ha_addr: Option<String>, broker_addr: Option<String>) {
        let changed = {
            let mut m = self.master.lock();
            let changed = m.ha_addr != ha_addr;
            m.ha_addr = ha_addr;
            m.broker_addr = broker_addr;
            changed
        };
        if changed {
            self.role_changed.notify_waiters();
        }
    }

    /// What this slave knows about its master.
    pub fn master(&self) -> MasterInfo {
        self.master.lock().clone()
    }

    /// Connected slaves (master side).
    pub fn slaves(&self) -> Vec<Arc<SlaveLink>> {
        self.slaves.lock().values().cloned().collect()
    }

    /// Connected slaves count (Java's `connectionCount`).
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Slave side: connected to the master now.
    pub fn client_connected(&self) -> bool {
        self.client_connected.load(Ordering::Acquire)
    }

    /// Slave side: the last master refused because its log differs from ours.
    pub fn diverged(&self) -> bool {
        self.diverged.load(Ordering::Acquire)
    }

    /// Slave side: the first offset at which the refused master's bytes differed from this
    /// log (-1 when not diverged): where `mqbroker --truncate-to` cuts an operator's slave to.
    pub fn diverged_at(&self) -> i64 {
        if self.diverged() {
            self.diverged_at.load(Ordering::Acquire)
        } else {
            -1
        }
    }

    /// Replication figures for GET_BROKER_RUNTIME_INFO and metrics (`brokerStatus`).
    pub fn status(&self) -> Vec<(&'static str, String)> {
        let max = self.store.get_max_phy_offset();
        let mut v = vec![("brokerRole", self.role().name().to_string())];
        if let Some(e) = &self.epochs {
            let g = self.view();
            v.push(("controllerBrokerId", g.my_id.to_string()));
            v.push(("masterEpoch", g.master_epoch.to_string()));
            v.push(("epochEntries", e.lock().entries().len().to_string()));
            let sss: Vec<String> = g.sync_state_set.iter().map(u64::to_string).collect();
            v.push(("syncStateSet", sss.join(",")));
            v.push(("writable", self.accepts_writes().to_string()));
            // Where the console (and operators) find this group's controllers.
            v.push(("controllerAddr", self.cfg.controller_addr.clone()));
        }
        if self.role() == BrokerRole::Slave {
            let m = self.master();
            let seen = self.master_seen.load(Ordering::Acquire);
            v.push(("haMasterAddress", m.ha_addr.unwrap_or_default()));
            v.push(("haClientConnected", self.client_connected().to_string()));
            v.push(("haMasterOffsetSeen", seen.to_string()));
            v.push(("haSlaveBehindBytes", self.slave_behind_bytes().to_string()));
            v.push(("haDiverged", self.diverged().to_string()));
            v.push(("haDivergedAt", self.diverged_at().to_string()));
        } else {
            let slaves = self.slaves();
            let list: Vec<String> = slaves
                .iter()
                .map(|s| format!("{}:{}:{}", s.peer, s.acked(), (max - s.acked().max(0)).max(0)))
                .collect();
            v.push(("haConnectionCount", self.connection_count().to_string()));
            v.push(("haPush2SlaveMaxOffset", self.transfer.acked().to_string()));
            v.push(("haSlaves", list.join(";")));
            // Lags in time of each slave's acknowledgements (µs, since it connected): the
            // summary for operators, the buckets for tools that diff two readings.
            let lags: Vec<String> =
                slaves.iter().map(|s| format!("{}:{}", s.peer, s.lag.summary())).collect();
            v.push(("haSlaveAckLag", lags.join(";")));
            let buckets: Vec<String> =
                slaves.iter().map(|s| format!("{}={}", s.peer, s.lag.buckets_listing())).collect();
            v.push(("haSlaveAckLagHistogram", buckets.join(";")));
        }
        v
    }

    /// Slave side: bytes the master's last frame showed beyond this log (0 before any).
    pub fn slave_behind_bytes(&self) -> i64 {
        let seen = self.master_seen.load(Ordering::Acquire);
        (seen - self.store.get_max_phy_offset()).max(0)
    }

    fn add_link(&self, peer: SocketAddr) -> (u64, Arc<SlaveLink>) {
        let id = self.next_link.fetch_add(1, Ordering::Relaxed);
        let link = Arc::new(SlaveLink {
            peer,
            request: AtomicI64::new(-1),
            ack: AtomicI64::new(-1),
            acked_at_ms: AtomicI64::new(mq_common::protocol::now_millis()),
            first_report: Notify::new(),
            broker_id: AtomicI64::new(-1),
            // Not caught up until a report says so.
            caught_up_at: Mutex::new(
                Instant::now().checked_sub(Duration::from_secs(3600)).unwrap_or_else(Instant::now),
            ),
            prev_master_max: AtomicI64::new(i64::MAX),
            lag: lag::LagHistogram::default(),
        });
        self.slaves.lock().insert(id, link.clone());
        self.connections.fetch_add(1, Ordering::AcqRel);
        (id, link)
    }

    fn remove_link(&self, id: u64) {
        if self.slaves.lock().remove(&id).is_some() {
            self.connections.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Sleep `d` unless shutting down; false when shutting down.
    pub(crate) async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    /// Controller mode: a controller says the group's master changed; the replicas manager
    /// reads the group from the leader now (the push itself is not trusted for the role).
    pub fn role_change_notified(&self) {
        self.sync_now.notify_one();
    }

    /// [`HaService::pause`] that also ends early on a role-change push: `None` on shutdown,
    /// `Some(true)` when woken by a push.
    pub(crate) async fn pause_or_push(&self, d: Duration) -> Option<bool> {
        tokio::select! {
            _ = self.shutdown.cancelled() => None,
            _ = self.sync_now.notified() => Some(true),
            _ = tokio::time::sleep(d) => Some(false),
        }
    }
}

fn role_code(r: BrokerRole) -> u8 {
    match r {
        BrokerRole::AsyncMaster => 0,
        BrokerRole::SyncMaster => 1,
        BrokerRole::Slave => 2,
    }
}

fn role_from_code(c: u8) -> BrokerRole {
    match c {
        0 => BrokerRole::AsyncMaster,
        1 => BrokerRole::SyncMaster,
        _ => BrokerRole::Slave,
    }
}

/// The store's status, replaced by a replica failure (the message stays stored; Java fills
/// the response header as for success).
fn with_replica_status(mut r: PutMessageResult, s: PutMessageStatus) -> PutMessageResult {
    r.status = s;
    r
}

/// Fail SYNC_MASTER waits past `slaveTimeout` (a few times per timeout; idle when none wait).
async fn expire_loop(ha: Arc<HaService>) {
    let tick =
        (ha.cfg.slave_wait() / 10).clamp(Duration::from_millis(5), Duration::from_millis(100));
    while ha.pause(tick).await {
        ha.transfer.expire(Instant::now());
    }
    ha.transfer.fail_all();
}
