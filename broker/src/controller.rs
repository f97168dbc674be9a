//! [`BrokerController`]: starts a broker in-process (store, managers, listeners, background
//! tasks, nameserver registration) and shuts it down cleanly. Used by `mqbroker` and tests.

use std::net::SocketAddr;
use std::sync::atomic::AtomicI32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use mq_common::metrics::{Exporter, ExporterType};
use mq_common::protocol::now_millis;
use mq_common::remoting::{ClientConfig, RemotingClient, RemotingServer, ServerConfig};
use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::consumer_manager::ConsumerManager;
use crate::ha::HaService;
use crate::lock_manager::LockManager;
use crate::long_polling::PullHold;
use crate::offset_manager::ConsumerOffsetManager;
use crate::processor::{client_manage, BrokerHandler};
use crate::producer_manager::ProducerManager;
use crate::schedule::{self, ScheduleService};
use crate::stats::BrokerStats;
use crate::store::MessageStore;
use crate::subscription_manager::SubscriptionGroupManager;
use crate::timer::{TimerService, WHEEL_TIMER_TOPIC};
use crate::topic_manager::TopicManager;
use crate::{json_file, namesrv_api, transaction_checker};

/// A running broker.
pub struct BrokerController {
    broker: Arc<Broker>,
    servers: Vec<RemotingServer>,
    grpc: Option<crate::grpc::GrpcServer>,
    tasks: Vec<JoinHandle<()>>,
    metrics: Option<Exporter>,
}

fn bind_host(cfg: &BrokerConfig) -> String {
    if let Some(ip) = cfg.bind_address {
        return ip.to_string();
    }
    // A loopback-advertised broker (tests, local setups) listens on loopback only.
    if cfg.broker_ip1.is_loopback() {
        cfg.broker_ip1.to_string()
    } else {
        "0.0.0.0".to_string()
    }
}

impl BrokerController {
    /// Start a broker. `listenPort=0` picks a free port (and skips the listenPort−2 listener).
    pub async fn start(mut cfg: BrokerConfig) -> anyhow::Result<BrokerController> {
        if cfg.ha.enable_controller_mode {
            // The controllers decide the role; brokerRole and brokerId are ignored (Java).
            cfg.broker_role = crate::config::BrokerRole::AsyncMaster;
            cfg.broker_id = 0;
        }
        if cfg.broker_role != crate::config::BrokerRole::Slave && cfg.broker_id != 0 {
            tracing::warn!(broker_id = cfg.broker_id, "a master's brokerId must be 0; forcing 0");
            cfg.broker_id = 0;
        }
        let host = bind_host(&cfg);
        let main = TcpListener::bind((host.as_str(), cfg.listen_port)).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {host}:{} (listenPort): {e}", cfg.listen_port)
        })?;
        let fast = if cfg.listen_port > 2 {
            match TcpListener::bind((host.as_str(), cfg.listen_port - 2)).await {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!(port = cfg.listen_port - 2, error = %e, "cannot listen on the fast port (listenPort-2); continuing without it");
                    None
                }
            }
        } else {
            None
        };
        // listenPort=0 (tests) picks a free HA port too; otherwise haListenPort defaults to
        // listenPort + 1 (Java 5.1.1+: a configured value is honoured).
        let ha_port = match (cfg.listen_port, cfg.ha_listen_port) {
            (0, 0) => 0,
            (_, 0) => main.local_addr()?.port().wrapping_add(1),
            (_, p) => p,
        };
        cfg.listen_port = main.local_addr()?.port();
        cfg.validate().map_err(|e| anyhow::anyhow!("invalid broker config: {e}"))?;
        // The broker's own outgoing connections (name servers, master): signed and TLS as
        // configured; the one-master check below uses them too (a plaintext probe of a TLS-only
        // name server would fail and let a second master start).
        let client_config = ClientConfig {
            credentials: cfg.security.credentials(),
            tls: cfg.security.outbound_tls().map_err(|e| anyhow::anyhow!(e))?,
            ..ClientConfig::default()
        };
        if !cfg.ha.enable_controller_mode {
            // Controller mode needs no guard: the controllers elect one master per epoch.
            crate::ha::master_guard::check(&cfg, client_config.clone())
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
        }
        let store_ip = cfg.broker_ip1;
        std::fs::create_dir_all(cfg.store.store_path_root_dir.join("config"))?;
        cfg.security.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        let shutdown = CancellationToken::new();
        let acl = mq_common::acl::server_validator(
            &cfg.security,
            cfg.config_file.as_deref(),
            mq_common::acl::Role::Broker,
            &cfg.msg_trace_topic_name,
            shutdown.clone(),
        )
        .map_err(|e| anyhow::anyhow!("aclEnable=true but {e}"))?;
        let tls = mq_common::remoting::TlsServer::from_config(&cfg.security, shutdown.clone())
            .map_err(|e| anyhow::anyhow!("TLS: {e}"))?;
        // The connection bounds from the config keys (issue 16), with ACL and TLS; the gRPC
        // endpoint checks the same accounts (one reload for both).
        let server_acl = acl.clone();
        let server_config =
            ServerConfig { acl, tls, ..cfg.server_config().map_err(|e| anyhow::anyhow!("{e}"))? };
        // Requests to name servers are signed when accessKey/secretKey are set, and go over
        // TLS with tlsEnable.
        let ha_listener = TcpListener::bind((host.as_str(), ha_port)).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {host}:{ha_port} (haListenPort): {e}")
        })?;
        cfg.ha_listen_port = ha_listener.local_addr()?.port();
        // The gRPC endpoint is optional: a port in use (several brokers on one host with the
        // default) leaves the broker up without it, as with the fast port.
        let grpc_listener = if cfg.grpc_server_port == 0 {
            None
        } else {
            match TcpListener::bind((host.as_str(), cfg.grpc_server_port)).await {
                Ok(l) => {
                    cfg.grpc_server_port = l.local_addr()?.port();
                    Some(l)
                }
                Err(e) => {
                    tracing::warn!(port = cfg.grpc_server_port, error = %e, "cannot listen on grpcServerPort; continuing without the gRPC endpoint");
                    cfg.grpc_server_port = 0;
                    None
                }
            }
        };
        let store = open_store(&cfg)?;
        // Classic mode decides at boot; in controller mode the broker starts as a replica and
        // the timer engine follows the role (`timer::role`, started on promotion).
        let timer_runs = !cfg.is_slave() && !cfg.ha.enable_controller_mode;
        let timer = TimerService::open(&cfg.timer, &store, timer_runs)
            .map_err(|e| anyhow::anyhow!("cannot recover the timer state: {e}"))?;
        // A slave's store is fed by replication only: every put path is refused there.
        store.set_follower(cfg.is_slave());
        let ha = Arc::new(
            HaService::new(&cfg, store.clone(), shutdown.clone())
                .map_err(|e| anyhow::anyhow!(e))?,
        );
        if cfg.ha.enable_controller_mode {
            let client = RemotingClient::new(client_config.clone());
            let id = crate::ha::replicas_manager::broker_id(&cfg, &client, Duration::from_secs(60))
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            client.close_all();
            ha.set_view(crate::ha::GroupView { my_id: id, ..Default::default() });
            ha.set_role(crate::config::BrokerRole::Slave);
        }
        let root = cfg.store.store_path_root_dir.clone();
        let pop = crate::pop::PopService::load(&root, &cfg.broker_name).map_err(|e| {
            anyhow::anyhow!("cannot open the POP state under {}/pop: {e}", root.display())
        })?;
        // Wakes the config writer: topic and group changes are written by it, batched.
        let config_changed = Arc::new(Notify::new());
        let broker = Arc::new(Broker {
            topics: TopicManager::load(&cfg, config_changed.clone()),
            groups: SubscriptionGroupManager::load(&cfg, config_changed.clone()),
            offsets: ConsumerOffsetManager::load(&root),
            consumers: ConsumerManager::default(),
            producers: ProducerManager::default(),
            locks: LockManager::new(cfg.rebalance_lock_max_live_time.min(i64::MAX as u64) as i64),
            pull_hold: PullHold::default(),
            stats: BrokerStats::default(),
            metrics: crate::metrics::BrokerMetrics::new(
                cfg.metrics_exporter_type == ExporterType::Prom,
            ),
            schedule: ScheduleService::load(&root, cfg.delay_levels_ms()),
            timer,
            pop,
            grpc: Default::default(),
            acl: server_acl.clone(),
            store_host: SocketAddr::new(store_ip, cfg.listen_port),
            perm: AtomicI32::new(cfg.broker_permission.0),
            boot_timestamp: now_millis(),
            client: RemotingClient::new(client_config),
            connections: server_config.stats.clone(),
            shutdown,
            ha,
            live_cfg: RwLock::new(cfg.clone()),
            live: crate::config::LiveSettings::new(&cfg),
            store,
            cfg,
        });
        if let Err(e) = broker.topics.persist() {
            tracing::warn!(error = %e, "writing topics.json failed");
        }
        // Weak: the store owns the listener, the broker owns the store.
        let weak: Weak<Broker> = Arc::downgrade(&broker);
        broker.store.set_arrival_listener(Arc::new(
            move |topic: &str, q: i32, off: i64, tags: i64| {
                if let Some(b) = weak.upgrade() {
                    b.ha.on_arrival();
                    b.pull_hold.on_arrival(topic, q, off, tags);
                    b.pop.wake.wake(topic);
                    if topic == WHEEL_TIMER_TOPIC {
                        b.timer.notify_arrival();
                    }
                }
            },
        ));

        let metrics = start_metrics(&broker, &host).await?;
        let handler = Arc::new(BrokerHandler { broker: broker.clone() });
        // Both listeners share one config, so one set of connection counters.
        // rocketmq_rpc_latency: the connections time every request (one clock read each).
        let timer = broker.metrics.enabled().then(|| broker.metrics.rpc.clone() as Arc<_>);
        let server_config = ServerConfig { timer, ..server_config };
        let mut servers = vec![RemotingServer::start(main, handler.clone(), server_config.clone())];
        if let Some(f) = fast {
            servers.push(RemotingServer::start(f, handler, server_config));
        }

        broker.timer.start().map_err(|e| anyhow::anyhow!("cannot start the timer: {e}"))?;
        broker.pop.publish_offsets(&broker);
        let grpc = match grpc_listener {
            Some(l) => {
                // TLS beside plaintext on the gRPC port too, with the same files (Apache's
                // proxy does the same); ALPN h2 as gRPC clients require.
                let tls = mq_common::remoting::TlsServer::from_config_alpn(
                    &broker.cfg.security,
                    broker.shutdown.clone(),
                    &[b"h2"],
                    "gRPC",
                )
                .map_err(|e| anyhow::anyhow!("TLS: {e}"))?;
                Some(crate::grpc::GrpcServer::start(broker.clone(), l, server_acl.clone(), tls)?)
            }
            None => None,
        };
        let revive_every = Duration::from_millis(broker.cfg.pop_revive_interval_mills.max(10));
        let mut tasks = broker.ha.start(ha_listener);
        tasks.push(tokio::spawn(periodic(broker.clone())));
        // As in Java, only a master delivers delayed messages, revives POP messages and checks
        // transactions (a slave's store refuses puts; it gets its metadata from the master).
        if broker.ha.controller_mode() {
            // Either role, by turns: each task idles while the role is not its own.
            tasks.push(tokio::spawn(crate::ha::replicas_manager::run(broker.clone())));
            tasks.push(tokio::spawn(wake_pop_on_read_limit(broker.clone())));
            tasks.push(tokio::spawn(crate::ha::metadata_sync::run(broker.clone())));
            tasks.push(tokio::spawn(crate::pop::revive::run(broker.clone(), revive_every)));
            tasks.push(tokio::spawn(schedule::run(broker.clone())));
            tasks.push(tokio::spawn(transaction_checker::run(broker.clone())));
        } else if broker.cfg.is_slave() {
            tasks.push(tokio::spawn(crate::ha::metadata_sync::run(broker.clone())));
        } else {
            tasks.push(tokio::spawn(crate::pop::revive::run(broker.clone(), revive_every)));
            tasks.push(tokio::spawn(schedule::run(broker.clone())));
            tasks.push(tokio::spawn(transaction_checker::run(broker.clone())));
        }
        let writer_broker = broker.clone();
        tasks.push(tokio::spawn(json_file::run_writer(
            config_changed,
            broker.shutdown.clone(),
            Arc::new(move || persist_tables(&writer_broker)),
        )));
        let registered = namesrv_api::register_each(&broker).await;
        if !broker.cfg.namesrv_list().is_empty() && registered.is_empty() {
            tracing::warn!("no nameserver accepted the registration yet; retrying every registerNameServerPeriod");
        }
        tasks.push(tokio::spawn(namesrv_api::run(broker.clone(), registered)));
        tracing::info!(
            "The broker[{}, {}] boot success. serializeType=JSON and name server is {}",
            broker.cfg.broker_name,
            broker.cfg.broker_addr(),
            broker.cfg.namesrv_addr.as_deref().unwrap_or("")
        );
        Ok(BrokerController { broker, servers, grpc, tasks, metrics })
    }

    /// Shared state (for tests and embedding).
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Address the main listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.servers[0].local_addr()
    }

    /// Address the gRPC endpoint is bound to (None when off).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(|g| g.local_addr())
    }

    /// Address of the Prometheus endpoint, when `metricsExporterType=PROM`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(Exporter::local_addr)
    }

    /// `brokerIP1:listenPort` as advertised.
    pub fn broker_addr(&self) -> String {
        self.broker.cfg.broker_addr()
    }

    /// Stop accepting, answer parked pulls, finish in-flight requests, unregister from the
    /// nameservers, persist configs/offsets, flush and close the store.
    pub async fn shutdown(self) {
        let b = self.broker;
        b.shutdown.cancel();
        b.pull_hold.wake_all();
        b.pop.wake.wake_all();
        // Parked pulls answer on their own tasks; give them a moment to queue the reply.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        while b.pull_hold.parked() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        for s in self.servers {
            s.shutdown().await;
        }
        if let Some(g) = self.grpc {
            g.stopped().await;
        }
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        namesrv_api::unregister_all(&b).await;
        b.timer.shutdown();
        b.pop.sync();
        // Scrapes keep working until here: the last one still sees the broker draining.
        if let Some(m) = self.metrics {
            m.shutdown().await;
        }
        persist_all(&b);
        if let Err(e) = b.store.shutdown() {
            tracing::error!(error = %e, "store shutdown failed");
        }
        b.client.close_all();
        tracing::info!(broker = %b.cfg.broker_name, "broker shut down");
    }
}

/// Start the Prometheus endpoint when `metricsExporterType=PROM`. A port that cannot be bound
/// stops the broker (as a busy listenPort does): silently missing metrics would hide outages.
async fn start_metrics(b: &Arc<Broker>, listen_host: &str) -> anyhow::Result<Option<Exporter>> {
    let cfg = &b.cfg;
    match cfg.metrics_exporter_type {
        ExporterType::Disable => return Ok(None),
        ExporterType::Prom => {}
        other => {
            tracing::warn!(
                metricsExporterType = other.name(),
                "only PROM (or DISABLE) is supported; metrics are off"
            );
            return Ok(None);
        }
    }
    let host = if cfg.metrics_prom_exporter_host.is_empty() {
        listen_host
    } else {
        cfg.metrics_prom_exporter_host.as_str()
    };
    let registry = Arc::new(crate::metrics::collector::registry(b));
    let e = Exporter::start(host, cfg.metrics_prom_exporter_port, registry).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {host}:{} (metricsPromExporterPort): {e}",
            cfg.metrics_prom_exporter_port
        )
    })?;
    tracing::info!(addr = %e.local_addr(), "Prometheus metrics at http://{}/metrics", e.local_addr());
    Ok(Some(e))
}

/// Open (recover) and start the persistent message store the configuration describes.
fn open_store(cfg: &BrokerConfig) -> anyhow::Result<Arc<MessageStore>> {
    let s = MessageStore::open(cfg.store.clone())
        .map_err(|e| anyhow::anyhow!("cannot open the message store: {e}"))?;
    s.start().map_err(|e| anyhow::anyhow!("cannot start the message store: {e}"))?;
    Ok(s)
}

/// The config writer's work: the tables that change on the request path.
fn persist_tables(b: &Broker) {
    for (what, r) in
        [("topics.json", b.topics.persist()), ("subscriptionGroup.json", b.groups.persist())]
    {
        if let Err(e) = r {
            tracing::error!(file = what, error = %e, "persisting failed");
        }
    }
}

fn persist_all(b: &Broker) {
    for (what, r) in [
        ("consumerOffset.json", b.offsets.persist()),
        ("delayOffset.json", b.schedule.persist()),
        ("topics.json", b.topics.persist()),
        ("subscriptionGroup.json", b.groups.persist()),
    ] {
        if let Err(e) = r {
            tracing::error!(file = what, error = %e, "persisting failed");
        }
    }
}

/// Once a second: stats sample; every flushConsumerOffsetInterval: offsets; every 10 s:
/// client channel expiry.
/// Controller mode: POP receives that found only messages the replicas did not hold yet
/// wait for an arrival; wake them when the read limit moves up (pulls re-check on their own:
/// a parked pull behind unread queue entries is answered at once).
async fn wake_pop_on_read_limit(b: Arc<Broker>) {
    loop {
        tokio::select! {
            _ = b.shutdown.cancelled() => return,
            _ = b.ha.read_limit_advanced() => b.pop.wake.wake_all(),
        }
    }
}

async fn periodic(b: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let offset_every = Duration::from_millis(b.cfg.flush_consumer_offset_interval.max(100));
    let mut last_offsets = tokio::time::Instant::now();
    let mut last_scan = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = b.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        b.stats.sample(now_millis());
        if last_offsets.elapsed() >= offset_every {
            if let Err(e) = b.offsets.persist() {
                tracing::warn!(error = %e, "persisting consumerOffset.json failed");
            }
            last_offsets = tokio::time::Instant::now();
        }
        if last_scan.elapsed() >= Duration::from_secs(10) {
            client_manage::scan_expired(&b);
            last_scan = tokio::time::Instant::now();
        }
    }
}
