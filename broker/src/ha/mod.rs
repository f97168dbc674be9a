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
pub mod group_transfer;
pub mod master;
pub mod master_guard;
pub mod metadata_sync;
pub mod slave;
pub mod truncate;
pub mod wire;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
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
    /// Wakes the transfer half when the first report arrives.
    first_report: Notify,
}

impl SlaveLink {
    /// The slave's latest acknowledged offset (-1: none yet).
    pub fn acked(&self) -> i64 {
        self.ack.load(Ordering::Acquire)
    }
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
    role: BrokerRole,
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
    shutdown: CancellationToken,
}

impl HaService {
    /// The service for `cfg`'s role over `store` (nothing runs until [`HaService::start`]).
    pub fn new(cfg: &BrokerConfig, store: Arc<MessageStore>, shutdown: CancellationToken) -> Self {
        let master = MasterInfo {
            ha_addr: cfg.ha.static_master().map(str::to_string),
            ..Default::default()
        };
        HaService {
            cfg: cfg.ha.clone(),
            role: cfg.broker_role,
            local_ip: cfg.broker_ip2,
            store,
            transfer: GroupTransfer::default(),
            connections: AtomicUsize::new(0),
            slaves: Mutex::new(BTreeMap::new()),
            next_link: AtomicU64::new(0),
            data_ready: Notify::new(),
            master: Mutex::new(master),
            client_connected: AtomicBool::new(false),
            master_seen: AtomicI64::new(-1),
            diverged: AtomicBool::new(false),
            diverged_at: AtomicI64::new(-1),
            shutdown,
        }
    }

    /// Start the acceptor on `listener` (every role runs one, as Java does), the SYNC_MASTER
    /// expiry ticker, and on a SLAVE the HA client.
    pub fn start(self: &Arc<Self>, listener: TcpListener) -> Vec<JoinHandle<()>> {
        let mut tasks = vec![tokio::spawn(master::accept_loop(self.clone(), listener))];
        if self.role == BrokerRole::SyncMaster {
            tasks.push(tokio::spawn(expire_loop(self.clone())));
        }
        if self.role == BrokerRole::Slave {
            tasks.push(tokio::spawn(slave::run(self.clone())));
        }
        tasks
    }

    /// The HA keys.
    pub fn config(&self) -> &HaConfig {
        &self.cfg
    }

    /// This broker's role.
    pub fn role(&self) -> BrokerRole {
        self.role
    }

    /// Whether a put that ended with `r` must wait for a slave before it is answered
    /// (SYNC_MASTER, stored, and the sender waits for the store: `WAIT` not false).
    pub fn needs_slave(&self, r: &PutMessageResult) -> bool {
        self.role == BrokerRole::SyncMaster && r.wait_store && r.status.is_stored()
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

    /// Java's `isSlaveOK`: a slave is connected and not too far behind `end`.
    fn slave_ok(&self, end: i64) -> bool {
        self.connections.load(Ordering::Acquire) > 0
            && end - self.transfer.acked() < self.cfg.slave_fallbehind_max
    }

    /// A slave learned (or lost) its master from a name server's register answer. Ignored
    /// when `haMasterAddress` is set (Java's rule).
    pub fn set_master(&self, ha_addr: Option<String>, broker_addr: Option<String>) {
        let mut m = self.master.lock();
        if self.cfg.static_master().is_none() {
            if let Some(a) = ha_addr.filter(|a| !a.is_empty()) {
                if m.ha_addr.as_deref() != Some(&a) {
                    tracing::info!(master_ha = %a, "HA master address from the name server");
                }
                m.ha_addr = Some(a);
            }
        }
        m.broker_addr = broker_addr.filter(|a| !a.is_empty());
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
        let mut v = vec![("brokerRole", self.role.name().to_string())];
        if self.role == BrokerRole::Slave {
            let m = self.master();
            let seen = self.master_seen.load(Ordering::Acquire);
            v.push(("haMasterAddress", m.ha_addr.unwrap_or_default()));
            v.push(("haClientConnected", self.client_connected().to_string()));
            v.push(("haMasterOffsetSeen", seen.to_string()));
            v.push(("haSlaveBehindBytes", (seen - max).max(0).to_string()));
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
        }
        v
    }

    fn add_link(&self, peer: SocketAddr) -> (u64, Arc<SlaveLink>) {
        let id = self.next_link.fetch_add(1, Ordering::Relaxed);
        let link = Arc::new(SlaveLink {
            peer,
            request: AtomicI64::new(-1),
            ack: AtomicI64::new(-1),
            first_report: Notify::new(),
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
