//! [`BrokerConfig`]: every broker key with Java's default, declared once in the key table at
//! the end of this file; the store's keys are declared by [`StoreConfig`] and reached through
//! its `store` field.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use mq_common::config::ConfigValue;

use crate::ha::HaConfig;
use crate::store::StoreConfig;

/// `brokerRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRole {
    /// ASYNC_MASTER (default).
    AsyncMaster,
    /// SYNC_MASTER.
    SyncMaster,
    /// SLAVE.
    Slave,
}

impl BrokerRole {
    /// Apache's name.
    pub fn name(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }
}

impl ConfigValue for BrokerRole {
    fn parse_value(s: &str) -> Result<Self, String> {
        match s.trim() {
            "ASYNC_MASTER" => Ok(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Ok(BrokerRole::SyncMaster),
            "SLAVE" => Ok(BrokerRole::Slave),
            v => Err(format!("'{v}' is not one of ASYNC_MASTER, SYNC_MASTER, SLAVE")),
        }
    }
    fn render_value(&self) -> String {
        self.name().into()
    }
}

/// `brokerPermission`: the PERM_* bits (0..=7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission(pub i32);

impl ConfigValue for Permission {
    fn parse_value(s: &str) -> Result<Self, String> {
        let p: i32 = mq_common::config::parse_num(s)?;
        if !(0..8).contains(&p) {
            return Err(format!("{p} is not a permission (0..7)"));
        }
        Ok(Permission(p))
    }
    fn render_value(&self) -> String {
        self.0.to_string()
    }
}

/// `storeType`: an rmq extension kept so old configs saying `file` still load (the in-memory
/// store it used to select is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreType;

impl ConfigValue for StoreType {
    fn parse_value(s: &str) -> Result<Self, String> {
        match s.trim() {
            "file" => Ok(StoreType),
            v => Err(format!("'{v}' is not supported (only 'file', the persistent store)")),
        }
    }
    fn render_value(&self) -> String {
        "file".into()
    }
}

/// The broker's configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `brokerClusterName`.
    pub broker_cluster_name: String,
    /// `brokerName`.
    pub broker_name: String,
    /// `brokerId` (0 = master).
    pub broker_id: i64,
    /// `namesrvAddr`, `;`-separated.
    pub namesrv_addr: Option<String>,
    /// `brokerIP1`: advertised address (namesrv, offsetMsgId store host).
    pub broker_ip1: IpAddr,
    /// `brokerIP2`: HA address.
    pub broker_ip2: IpAddr,
    /// `bindAddress` (Java's NettyServerConfig key): the address the listeners bind, when it
    /// must differ from the advertised `brokerIP1` (e.g. a proxy or NAT in front of the
    /// broker). Unset: `brokerIP1` when it is a loopback address, else every interface.
    pub bind_address: Option<IpAddr>,
    /// `listenPort` (also served on listenPort−2).
    pub listen_port: u16,
    /// `haListenPort`; 0 (the default) means `listenPort + 1`, resolved at start.
    pub ha_listen_port: u16,
    /// `brokerRole`.
    pub broker_role: BrokerRole,
    /// `autoCreateTopicEnable`.
    pub auto_create_topic_enable: bool,
    /// `autoCreateSubscriptionGroup`.
    pub auto_create_subscription_group: bool,
    /// `autoCreateTopicMaxPerClientPerMinute` (100; rmq's key, Java has none): topics one
    /// client IP may auto-create per minute; sends past it get TOPIC_NOT_EXIST (0 = unlimited).
    pub auto_create_topic_max_per_client_per_minute: u32,
    /// `defaultTopicQueueNums` (queues of TBW102).
    pub default_topic_queue_nums: i32,
    /// `brokerPermission`.
    pub broker_permission: Permission,
    /// `registerNameServerPeriod`, ms (clamped to 10 s..60 s like Java, unless smaller for tests).
    pub register_name_server_period: u64,
    /// `longPollingEnable`.
    pub long_polling_enable: bool,
    /// `shortPollingTimeMills`.
    pub short_polling_time_mills: u64,
    /// `notifyConsumerIdsChangedEnable`.
    pub notify_consumer_ids_changed_enable: bool,
    /// `clientChannelExpiredTime`, ms (120 s).
    pub client_channel_expired_time: u64,
    /// `enablePropertyFilter` (false, as Java): serve SQL92 subscriptions.
    pub enable_property_filter: bool,
    /// `rebalanceLockMaxLiveTime`, ms (60 s): how long an orderly queue lock outlives its last
    /// refresh. Java reads it from the system property `rocketmq.broker.rebalance.lockMaxLiveTime`;
    /// a config key lets tests fail over in seconds after a consumer is killed.
    pub rebalance_lock_max_live_time: u64,
    /// `traceTopicEnable`.
    pub trace_topic_enable: bool,
    /// `msgTraceTopicName`.
    pub msg_trace_topic_name: String,
    /// `clusterTopicEnable`.
    pub cluster_topic_enable: bool,
    /// `brokerTopicEnable`.
    pub broker_topic_enable: bool,
    /// `flushConsumerOffsetInterval`, ms.
    pub flush_consumer_offset_interval: u64,
    /// `flushDelayOffsetInterval`, ms.
    pub flush_delay_offset_interval: u64,
    /// `rejectTransactionMessage`.
    pub reject_transaction_message: bool,
    /// `transactionTimeOut`, ms.
    pub transaction_time_out: u64,
    /// `transactionCheckMax`.
    pub transaction_check_max: i32,
    /// `transactionCheckInterval`, ms.
    pub transaction_check_interval: u64,
    /// `grpcServerPort`: the RocketMQ 5.x gRPC endpoint (8081; 0 = off).
    pub grpc_server_port: u16,
    /// `grpcWorkerLoopNum` (Apache proxy's name): threads serving gRPC connections, each
    /// connection on one of them (0 = one per core, the default).
    pub grpc_worker_loop_num: usize,
    /// `defaultInvisibleTimeMills`: invisible time of messages a push consumer receives
    /// (`auto_renew`), ms (60 s as Apache; rmq does not renew it server-side).
    pub default_invisible_time_mills: u64,
    /// `grpcClientConsumerMaxLongPollingTimeoutMillis` (Apache proxy's name): the longest a
    /// gRPC ReceiveMessage is held waiting for messages, and the long-polling time push
    /// consumers are told in their Settings, ms (20 s; at least 5 s, the shortest hold). The
    /// 5.x push consumers wait for their in-flight receive when they shut down, so this is
    /// also how long their shutdown can take.
    pub grpc_client_consumer_max_long_polling_timeout_millis: u64,
    /// `popReviveIntervalMills`: how often expired POP messages are redelivered, ms (200).
    pub pop_revive_interval_mills: u64,
    /// `storeType` (only `file`).
    pub store_type: StoreType,
    /// `slaveReadEnable`: consumers may be sent to a slave (`suggestWhichBrokerId`), and a
    /// slave serves pulls; false: a slave answers pulls with PULL_RETRY_IMMEDIATELY.
    pub slave_read_enable: bool,
    /// `accessMessageInMemoryMaxRatio` (% of RAM): data further behind the log's end than
    /// this is probably not in the page cache, so consumers of it are sent to a slave.
    pub access_message_in_memory_max_ratio: u64,
    /// `metricsExporterType`: DISABLE (default, as Apache) or PROM (OTLP_GRPC/LOG: warned, off).
    pub metrics_exporter_type: mq_common::metrics::ExporterType,
    /// `metricsPromExporterHost`: bind address of the metrics endpoint ("" = as the listeners).
    pub metrics_prom_exporter_host: String,
    /// `metricsPromExporterPort` (5557, as Apache; 0 picks a free port).
    pub metrics_prom_exporter_port: u16,
    /// `rocketmqHome` (accepted, unused).
    pub rocketmq_home: String,
    /// `serverMaxConnections` (10,000; rmq's key, Java has none): connections past it are
    /// closed at once. Applies to each listener.
    pub server_max_connections: usize,
    /// `serverChannelMaxIdleTimeSeconds` (120, Java's NettyServerConfig key): a client
    /// connection idle this long is closed (0 = never).
    pub server_channel_max_idle_time_seconds: u64,
    /// `writeBufferHighWaterMark` (4 MiB): unwritten response bytes per connection above which
    /// the broker stops reading that connection.
    pub write_buffer_high_water_mark: usize,
    /// `writeBufferLowWaterMark` (1 MiB): ... and at or below which it reads again.
    pub write_buffer_low_water_mark: usize,
    /// `maxParkedPullsPerConnection` (10,000; rmq's key): long-polling pulls one connection
    /// may have parked at once; more are answered SYSTEM_BUSY (clients retry after 3 s).
    pub max_parked_pulls_per_connection: usize,
    /// `configBlackList` (Java's, `configBlackList;brokerConfigPath`): `;`-separated keys
    /// UPDATE_BROKER_CONFIG refuses, besides the always-refused ones (`config/black_list.rs`).
    pub config_black_list: String,
    /// The message store's keys (`storePathRootDir`, `flushDiskType`, `maxMessageSize`, ...).
    pub store: StoreConfig,
    /// The timer-message keys (`timerWheelEnable`, `timerMaxDelaySec`, `timerPrecisionMs`, ...).
    pub timer: crate::timer::TimerConfig,
    /// The replication keys (`haMasterAddress`, `haSendHeartbeatInterval`, `slaveTimeout`, ...).
    pub ha: HaConfig,
    /// The file given with `-c` (not a key): UPDATE_BROKER_CONFIG rewrites it, as Java does.
    pub config_file: Option<std::path::PathBuf>,
    /// Access control and TLS (`aclEnable`, `aclFilePath`, `accessKey`/`secretKey` for the
    /// broker's own requests to name servers, `tlsMode`, ...), shared with the name server.
    pub security: mq_common::config::SecurityConfig,
}

fn local_ip() -> IpAddr {
    // Routing-table lookup only: connect() on UDP sends nothing.
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.255.255.255:1").map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "broker-a".into())
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let ip = local_ip();
        BrokerConfig {
            broker_cluster_name: "DefaultCluster".into(),
            broker_name: host_name(),
            broker_id: 0,
            namesrv_addr: None,
            broker_ip1: ip,
            bind_address: None,
            broker_ip2: ip,
            listen_port: 10911,
            ha_listen_port: 0,
            broker_role: BrokerRole::AsyncMaster,
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            auto_create_topic_max_per_client_per_minute: 100,
            default_topic_queue_nums: 8,
            broker_permission: Permission(6),
            register_name_server_period: 30_000,
            long_polling_enable: true,
            short_polling_time_mills: 1000,
            notify_consumer_ids_changed_enable: true,
            client_channel_expired_time: 120_000,
            enable_property_filter: false,
            rebalance_lock_max_live_time: 60_000,
            trace_topic_enable: false,
            msg_trace_topic_name: "RMQ_SYS_TRACE_TOPIC".into(),
            cluster_topic_enable: true,
            broker_topic_enable: true,
            flush_consumer_offset_interval: 5000,
            flush_delay_offset_interval: 10_000,
            reject_transaction_message: false,
            transaction_time_out: 6000,
            transaction_check_max: 15,
            transaction_check_interval: 60_000,
            grpc_server_port: 8081,
            grpc_worker_loop_num: 0,
            default_invisible_time_mills: 60_000,
            grpc_client_consumer_max_long_polling_timeout_millis: 20_000,
            pop_revive_interval_mills: 200,
            store_type: StoreType,
            metrics_exporter_type: mq_common::metrics::ExporterType::Disable,
            metrics_prom_exporter_host: String::new(),
            metrics_prom_exporter_port: 5557,
            rocketmq_home: String::new(),
            server_max_connections: mq_common::remoting::server::DEFAULT_MAX_CONNECTIONS,
            server_channel_max_idle_time_seconds: 120,
            write_buffer_high_water_mark: mq_common::remoting::server::DEFAULT_WRITE_HIGH_WATER,
            write_buffer_low_water_mark: mq_common::remoting::server::DEFAULT_WRITE_LOW_WATER,
            max_parked_pulls_per_connection: 10_000,
            config_black_list: "configBlackList;brokerConfigPath".into(),
            store: StoreConfig::default(),
            timer: Default::default(),
            slave_read_enable: false,
            access_message_in_memory_max_ratio: 40,
            ha: HaConfig::default(),
            config_file: None,
            security: Default::default(),
        }
    }
}

// The key table. `live` keys are read where they act, so an UPDATE_BROKER_CONFIG applies at
// once (Java reads them at use time; see `config/live.rs` for the evidence); the others are
// read at startup. `inert` keys are Apache's and accepted so their configs load unchanged.
mq_common::config_keys!(BrokerConfig {
    broker_cluster_name: "brokerClusterName", important;
    broker_name: "brokerName", important;
    broker_id: "brokerId", important;
    namesrv_addr: "namesrvAddr", important;
    broker_ip1: "brokerIP1", important;
    broker_ip2: "brokerIP2";
    bind_address: "bindAddress";
    listen_port: "listenPort", important;
    ha_listen_port: "haListenPort";
    broker_role: "brokerRole", important;
    auto_create_topic_enable: "autoCreateTopicEnable", important, live;
    auto_create_subscription_group: "autoCreateSubscriptionGroup", important, live;
    auto_create_topic_max_per_client_per_minute: "autoCreateTopicMaxPerClientPerMinute";
    default_topic_queue_nums: "defaultTopicQueueNums";
    broker_permission: "brokerPermission", live;
    register_name_server_period: "registerNameServerPeriod";
    long_polling_enable: "longPollingEnable", live;
    short_polling_time_mills: "shortPollingTimeMills", live;
    notify_consumer_ids_changed_enable: "notifyConsumerIdsChangedEnable", live;
    client_channel_expired_time: "clientChannelExpiredTime", live;
    enable_property_filter: "enablePropertyFilter", live;
    rebalance_lock_max_live_time: "rebalanceLockMaxLiveTime"
        | "rocketmq.broker.rebalance.lockMaxLiveTime";
    trace_topic_enable: "traceTopicEnable";
    msg_trace_topic_name: "msgTraceTopicName";
    cluster_topic_enable: "clusterTopicEnable";
    broker_topic_enable: "brokerTopicEnable";
    flush_consumer_offset_interval: "flushConsumerOffsetInterval";
    flush_delay_offset_interval: "flushDelayOffsetInterval";
    reject_transaction_message: "rejectTransactionMessage", live;
    transaction_time_out: "transactionTimeOut", live;
    transaction_check_max: "transactionCheckMax", live;
    transaction_check_interval: "transactionCheckInterval", live;
    grpc_server_port: "grpcServerPort", important;
    grpc_worker_loop_num: "grpcWorkerLoopNum";
    default_invisible_time_mills: "defaultInvisibleTimeMills";
    grpc_client_consumer_max_long_polling_timeout_millis:
        "grpcClientConsumerMaxLongPollingTimeoutMillis";
    pop_revive_interval_mills: "popReviveIntervalMills";
    store_type: "storeType";
    metrics_exporter_type: "metricsExporterType", important;
    metrics_prom_exporter_host: "metricsPromExporterHost";
    metrics_prom_exporter_port: "metricsPromExporterPort", important;
    rocketmq_home: "rocketmqHome";
    server_max_connections: "serverMaxConnections";
    server_channel_max_idle_time_seconds: "serverChannelMaxIdleTimeSeconds";
    write_buffer_high_water_mark: "writeBufferHighWaterMark";
    write_buffer_low_water_mark: "writeBufferLowWaterMark";
    max_parked_pulls_per_connection: "maxParkedPullsPerConnection";
    config_black_list: "configBlackList";
    slave_read_enable: "slaveReadEnable", live;
    access_message_in_memory_max_ratio: "accessMessageInMemoryMaxRatio";
    ha.master_address: "haMasterAddress";
    ha.heartbeat_interval: "haSendHeartbeatInterval";
    ha.housekeeping_interval: "haHousekeepingInterval";
    ha.transfer_batch_size: "haTransferBatchSize";
    ha.slave_fallbehind_max: "haSlaveFallbehindMax" | "haMaxGapNotInSync";
    ha.slave_timeout: "slaveTimeout";
    ha.metadata_sync_interval: "haMetadataSyncInterval";
    ha.enable_controller_mode: "enableControllerMode", important;
    ha.controller_addr: "controllerAddr", important;
    ha.sync_broker_metadata_period: "syncBrokerMetadataPeriod";
    ha.check_sync_state_set_period: "checkSyncStateSetPeriod";
    ha.controller_heartbeat_timeout: "controllerHeartBeatTimeoutMills";
    ha.broker_heartbeat_interval: "brokerHeartbeatInterval";
    ha.send_heartbeat_timeout: "sendHeartbeatTimeoutMillis";
    ha.all_ack_in_sync_state_set: "allAckInSyncStateSet";
    ha.in_sync_replicas: "inSyncReplicas";
    ha.min_in_sync_replicas: "minInSyncReplicas";
    ha.max_time_slave_not_catchup: "haMaxTimeSlaveNotCatchup";
}
nested: store;
nested: security;
nested: timer;
inert: "offsetCheckInSlave", "filterSupportRetry", "sendMessageThreadPoolNums",
    "pullMessageThreadPoolNums", "useEpollNativeSelector", "compressedRegister",
    "forceRegister", "waitTimeMillsInSendQueue", "enableDLegerCommitLog";
);

impl BrokerConfig {
    /// Delay table in ms.
    pub fn delay_levels_ms(&self) -> Vec<i64> {
        self.store.delay_levels_ms()
    }

    /// `brokerIP1:listenPort`.
    pub fn broker_addr(&self) -> String {
        format!("{}:{}", self.broker_ip1, self.listen_port)
    }

    /// Nameserver addresses.
    pub fn namesrv_list(&self) -> Vec<String> {
        self.namesrv_addr
            .as_deref()
            .unwrap_or("")
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// True for SLAVE.
    pub fn is_slave(&self) -> bool {
        self.broker_role == BrokerRole::Slave
    }

    /// Relations between values that each parse on their own (checked at load and before
    /// an UPDATE_BROKER_CONFIG is applied, so a restart-only value that could not start the
    /// broker is refused when it is set).
    pub fn validate(&self) -> Result<(), String> {
        if self.store.max_message_size == 0 {
            return Err("maxMessageSize: must be > 0".into());
        }
        for a in self.namesrv_list() {
            let port = a.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p > 0) {
                return Err(format!("namesrvAddr: '{a}' is not host:port"));
            }
        }
        if self.is_slave() && self.broker_id <= 0 {
            return Err("Slave's brokerId must be > 0".into());
        }
        if self.grpc_worker_loop_num > MAX_GRPC_WORKERS {
            return Err(format!(
                "grpcWorkerLoopNum: {} threads is more than {MAX_GRPC_WORKERS} (0 = one per core)",
                self.grpc_worker_loop_num
            ));
        }
        self.ha.validate()?;
        self.server_config().map(|_| ())
    }

    /// The client listeners' settings: connection cap, idle timeout, output bounds.
    pub fn server_config(&self) -> Result<mq_common::remoting::ServerConfig, String> {
        mq_common::remoting::ServerConfig::from_keys(
            self.server_max_connections,
            self.server_channel_max_idle_time_seconds,
            self.write_buffer_high_water_mark,
            self.write_buffer_low_water_mark,
            mq_common::protocol::frame::DEFAULT_MAX_FRAME,
        )
    }
}

/// Most gRPC worker threads `grpcWorkerLoopNum` may ask for (each is an OS thread).
pub const MAX_GRPC_WORKERS: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::config::{ConfigKeys, KeyEffect};

    /// A thread count no machine needs is refused with the key's name, not tried.
    #[test]
    fn too_many_grpc_workers_refused() {
        let mut c = BrokerConfig::default();
        assert!(c.validate().is_ok());
        c.apply("grpcWorkerLoopNum", "100000").unwrap();
        let e = c.validate().unwrap_err();
        assert!(e.contains("grpcWorkerLoopNum"), "{e}");
        c.apply("grpcWorkerLoopNum", "4").unwrap();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn apply_and_refuse() {
        let mut c = BrokerConfig::default();
        assert_eq!(c.apply("listenPort", "20911"), Ok(true));
        assert_eq!(c.apply("nope", "1"), Ok(false));
        assert!(c.apply("brokerRole", "BOSS").unwrap_err().contains("ASYNC_MASTER"));
        assert!(c.apply("listenPort", "x").is_err());
        assert!(c.apply("brokerIP1", "host").is_err());
        assert!(c.apply("brokerPermission", "9").is_err());
        assert!(c.apply("storeType", "memory").is_err());
        assert_eq!(c.apply("mapedFileSizeCommitLog", "1024"), Ok(true));
        assert_eq!(c.store.mapped_file_size_commit_log, 1024);
        assert_eq!(c.apply("messageDelayLevel", "1s 2s"), Ok(true));
        assert_eq!(c.delay_levels_ms(), vec![1000, 2000]);
        assert!(c.apply("messageDelayLevel", "1x").is_err());
        assert_eq!(c.apply("aclEnable", "true"), Ok(true));
        assert!(c.security.acl_enable);
        assert_eq!(c.apply("transientStorePoolEnable", "true"), Ok(true));
    }

    #[test]
    fn every_key_has_one_effect_and_entries_round_trip() {
        let c = BrokerConfig::default();
        assert_eq!(c.key_effect("autoCreateTopicEnable"), Some(KeyEffect::Live));
        assert_eq!(c.key_effect("fileReservedTime"), Some(KeyEffect::Live));
        assert_eq!(c.key_effect("maxMessageSize"), Some(KeyEffect::Live));
        assert_eq!(c.key_effect("brokerName"), Some(KeyEffect::Restart));
        assert_eq!(c.key_effect("flushDiskType"), Some(KeyEffect::Restart));
        assert_eq!(c.key_effect("offsetCheckInSlave"), Some(KeyEffect::NoEffect));
        assert_eq!(c.key_effect("abortFile"), Some(KeyEffect::NoEffect));
        assert_eq!(c.key_effect("nope"), None);
        let mut d = BrokerConfig::default();
        for e in c.entries() {
            assert_eq!(d.apply(e.key, &e.value), Ok(true), "{}={}", e.key, e.value);
            assert!(c.key_effect(e.key).is_some(), "{}", e.key);
        }
        let keys: Vec<_> = c.entries().iter().map(|e| e.key).collect();
        let unique: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(keys.len(), unique.len(), "a key is declared twice");
    }
}
