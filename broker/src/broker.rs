//! [`Broker`]: the shared state every processor works on (config, store, managers). One
//! `Arc<Broker>` per running broker; no global lock — each table has its own concurrent map.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use mq_common::protocol::body::{PERM_READ, PERM_WRITE};
use mq_common::remoting::{ConnectionStats, RemotingClient};
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;

use crate::config::{BrokerConfig, LiveSettings};
use crate::consumer_manager::ConsumerManager;
use crate::ha::HaService;
use crate::lock_manager::LockManager;
use crate::long_polling::PullHold;
use crate::offset_manager::ConsumerOffsetManager;
use crate::producer_manager::ProducerManager;
use crate::schedule::ScheduleService;
use crate::stats::BrokerStats;
use crate::store::MessageStore;
use crate::subscription_manager::SubscriptionGroupManager;
use crate::timer::TimerService;
use crate::topic_manager::TopicManager;

/// Shared broker state.
pub struct Broker {
    /// Configuration as started (hot-path reads).
    pub cfg: BrokerConfig,
    /// Configuration including runtime updates (GET/UPDATE_BROKER_CONFIG).
    pub live_cfg: RwLock<BrokerConfig>,
    /// Runtime values of the live keys read on the request path (`config/live.rs`); read
    /// these, not `cfg`, for any key UPDATE_BROKER_CONFIG applies at once.
    pub live: LiveSettings,
    /// The message store.
    pub store: Arc<MessageStore>,
    /// Master/slave replication (either side).
    pub ha: Arc<HaService>,
    /// Topics.
    pub topics: TopicManager,
    /// Subscription groups.
    pub groups: SubscriptionGroupManager,
    /// Consumer offsets.
    pub offsets: ConsumerOffsetManager,
    /// Online consumers.
    pub consumers: ConsumerManager,
    /// Online producers.
    pub producers: ProducerManager,
    /// Orderly locks.
    pub locks: LockManager,
    /// Parked pulls.
    pub pull_hold: PullHold,
    /// Counters.
    pub stats: BrokerStats,
    /// POP consumption state (gRPC and remoting POP requests).
    pub pop: crate::pop::PopService,
    /// gRPC sessions, pending transactions, RPC counters.
    pub grpc: crate::grpc::GrpcState,
    /// Prometheus metrics (request-path counters; gauges are computed per scrape).
    pub metrics: crate::metrics::BrokerMetrics,
    /// The ACL check (`aclEnable`), also run by processors on a message they found by
    /// commit-log offset (`processor::found`): the request's names were checked before
    /// dispatch, the record's topic only becomes known there.
    pub acl: Option<Arc<mq_common::acl::AclValidator>>,
    /// Delay-level scheduler.
    pub schedule: ScheduleService,
    /// Timer messages (`TIMER_DELIVER_MS` & co.): every put path calls `timer.intercept`.
    pub timer: TimerService,
    /// `brokerIP1:listenPort`, the store host written into records and offsetMsgIds.
    pub store_host: SocketAddr,
    /// `brokerPermission` (changeable at runtime).
    pub perm: AtomicI32,
    /// Boot time, ms.
    pub boot_timestamp: i64,
    /// Client for nameserver calls and broker-initiated requests.
    pub client: RemotingClient,
    /// Connection counters of the client listeners (both ports).
    pub connections: Arc<ConnectionStats>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

impl Broker {
    /// `brokerPermission` allows writes (a slave's role refuses them separately, with
    /// Java's SERVICE_NOT_AVAILABLE).
    pub fn writable(&self) -> bool {
        self.perm.load(Ordering::Relaxed) & PERM_WRITE != 0
    }

    /// A replica now: fixed by `brokerRole`, or by the controllers in controller mode.
    pub fn is_slave(&self) -> bool {
        self.ha.role() == crate::config::BrokerRole::Slave
    }

    /// Broker serves reads.
    pub fn readable(&self) -> bool {
        self.perm.load(Ordering::Relaxed) & PERM_READ != 0
    }
}
