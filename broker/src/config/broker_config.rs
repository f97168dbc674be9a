//! [`BrokerConfig`]: every broker key with Java's default; store keys are kept as given and
//! handed to the store's own config (`StoreConfig::apply`) when the store is opened.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::PathBuf;

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
    fn parse(v: &str) -> Option<Self> {
        match v.trim() {
            "ASYNC_MASTER" => Some(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Some(BrokerRole::SyncMaster),
            "SLAVE" => Some(BrokerRole::Slave),
            _ => None,
        }
    }
    /// Apache's name.
    pub fn name(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }
}

/// Keys that belong to the message store (`StoreConfig`); recognised here so they are not
/// reported as unknown, and forwarded verbatim to the store.
pub const STORE_KEYS: &[&str] = &[
    "storePathRootDir",
    "storePathCommitLog",
    "storePathConsumeQueue",
    "storePathIndex",
    "storeCheckpoint",
    "abortFile",
    "mappedFileSizeCommitLog",
    "mapedFileSizeCommitLog",
    "mappedFileSizeConsumeQueue",
    "mapedFileSizeConsumeQueue",
    "flushDiskType",
    "flushIntervalCommitLog",
    "flushCommitLogLeastPages",
    "flushCommitLogThoroughInterval",
    "flushIntervalConsumeQueue",
    "flushConsumeQueueLeastPages",
    "syncFlushTimeout",
    "fileReservedTime",
    "deleteWhen",
    "diskMaxUsedSpaceRatio",
    "cleanFileForciblyEnable",
    "cleanResourceInterval",
    "deleteCommitLogFilesInterval",
    "messageIndexEnable",
    "maxHashSlotNum",
    "maxIndexNum",
    "checkCRCOnRecover",
    "messageDelayLevel",
    "warmMapedFileEnable",
    "transientStorePoolEnable",
    "useReentrantLockWhenPutMessage",
    "flushLeastPagesWhenWarmMapedFile",
];

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
    pub broker_ip1: String,
    /// `brokerIP2`: HA address.
    pub broker_ip2: String,
    /// `listenPort` (also served on listenPort−2).
    pub listen_port: u16,
    /// `haListenPort` (advertised only; HA not implemented).
    pub ha_listen_port: u16,
    /// `brokerRole`.
    pub broker_role: BrokerRole,
    /// `autoCreateTopicEnable`.
    pub auto_create_topic_enable: bool,
    /// `autoCreateSubscriptionGroup`.
    pub auto_create_subscription_group: bool,
    /// `defaultTopicQueueNums` (queues of TBW102).
    pub default_topic_queue_nums: i32,
    /// `brokerPermission`.
    pub broker_permission: i32,
    /// `maxMessageSize` (body limit, bytes).
    pub max_message_size: usize,
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
    /// `storePathRootDir` (copy; the store reads it from the store keys).
    pub store_path_root_dir: PathBuf,
    /// `messageDelayLevel` (copy; the scheduler uses it).
    pub message_delay_level: String,
    /// `flushDiskType` (copy, for GET_BROKER_CONFIG).
    pub flush_disk_type: String,
    /// Store keys as given, in order (forwarded to the store config).
    pub store_keys: BTreeMap<String, String>,
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
    /// `configBlackList` (Java's, `configBlackList;brokerConfigPath`): `;`-separated keys
    /// UPDATE_BROKER_CONFIG refuses, besides the always-refused layout keys.
    pub config_black_list: String,
    /// `maxParkedPullsPerConnection` (10,000; rmq's key): long-polling pulls one connection
    /// may have parked at once; more are answered SYSTEM_BUSY (clients retry after 3 s).
    pub max_parked_pulls_per_connection: usize,
    /// The file given with `-c` (not a key): UPDATE_BROKER_CONFIG rewrites it, as Java does.
    pub config_file: Option<PathBuf>,
}

/// Java default delay table.
pub const DEFAULT_DELAY_LEVEL: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

fn local_ip() -> String {
    // Routing-table lookup only: connect() on UDP sends nothing.
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.255.255.255:1").map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .to_string()
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
        let home =
            std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        BrokerConfig {
            broker_cluster_name: "DefaultCluster".into(),
            broker_name: host_name(),
            broker_id: 0,
            namesrv_addr: None,
            broker_ip1: ip.clone(),
            broker_ip2: ip,
            listen_port: 10911,
            ha_listen_port: 10912,
            broker_role: BrokerRole::AsyncMaster,
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            default_topic_queue_nums: 8,
            broker_permission: 6,
            max_message_size: 4 * 1024 * 1024,
            register_name_server_period: 30_000,
            long_polling_enable: true,
            short_polling_time_mills: 1000,
            notify_consumer_ids_changed_enable: true,
            client_channel_expired_time: 120_000,
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
            store_path_root_dir: home.join("store"),
            message_delay_level: DEFAULT_DELAY_LEVEL.into(),
            flush_disk_type: "ASYNC_FLUSH".into(),
            store_keys: BTreeMap::new(),
            rocketmq_home: String::new(),
            server_max_connections: mq_common::remoting::server::DEFAULT_MAX_CONNECTIONS,
            server_channel_max_idle_time_seconds: 120,
            write_buffer_high_water_mark: mq_common::remoting::server::DEFAULT_WRITE_HIGH_WATER,
            write_buffer_low_water_mark: mq_common::remoting::server::DEFAULT_WRITE_LOW_WATER,
            max_parked_pulls_per_connection: 10_000,
            config_black_list: "configBlackList;brokerConfigPath".into(),
            config_file: None,
        }
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{key}: '{v}' is not a boolean (true/false)")),
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
    v.trim().parse::<T>().map_err(|_| format!("{key}: '{v}' is not a valid number"))
}

/// Parse a delay table like `1s 5s 2m 1h 1d` into ms per level.
pub fn parse_delay_levels(s: &str) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        // Split before the last character (not byte: the unit may be any char).
        let cut = tok.char_indices().last().map(|(i, _)| i).unwrap_or(0);
        let (num, unit) = tok.split_at(cut);
        let mult = match unit {
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(format!("messageDelayLevel: '{tok}' needs a unit s/m/h/d")),
        };
        let n: i64 = num
            .parse()
            .map_err(|_| format!("messageDelayLevel: '{tok}' is not a number with a unit"))?;
        if n < 0 {
            return Err(format!("messageDelayLevel: '{tok}' is negative"));
        }
        out.push(n * mult);
    }
    if out.is_empty() {
        return Err("messageDelayLevel: empty".into());
    }
    Ok(out)
}

impl BrokerConfig {
    /// Apply one key. `Ok(false)` = unknown key (caller warns), `Err` = invalid value (names
    /// the key).
    pub fn apply(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let v = value.trim();
        match key {
            "brokerClusterName" => self.broker_cluster_name = v.into(),
            "brokerName" => self.broker_name = v.into(),
            "brokerId" => self.broker_id = parse_num(key, v)?,
            "namesrvAddr" => {
                for a in v.split(';').map(str::trim).filter(|a| !a.is_empty()) {
                    let port = a.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
                    if !matches!(port, Some(Ok(p)) if p > 0) {
                        return Err(format!("{key}: '{a}' is not host:port"));
                    }
                }
                self.namesrv_addr = Some(v.to_string()).filter(|s| !s.is_empty())
            }
            "brokerIP1" => {
                v.parse::<IpAddr>().map_err(|_| format!("{key}: '{v}' is not an IP address"))?;
                self.broker_ip1 = v.into()
            }
            "brokerIP2" => {
                v.parse::<IpAddr>().map_err(|_| format!("{key}: '{v}' is not an IP address"))?;
                self.broker_ip2 = v.into()
            }
            "listenPort" => {
                self.listen_port = parse_num(key, v)?;
                self.ha_listen_port = self.listen_port.wrapping_add(1);
            }
            "haListenPort" => self.ha_listen_port = parse_num(key, v)?,
            "brokerRole" => {
                self.broker_role = BrokerRole::parse(v).ok_or_else(|| {
                    format!("{key}: '{v}' is not one of ASYNC_MASTER, SYNC_MASTER, SLAVE")
                })?
            }
            "autoCreateTopicEnable" => self.auto_create_topic_enable = parse_bool(key, v)?,
            "autoCreateSubscriptionGroup" => {
                self.auto_create_subscription_group = parse_bool(key, v)?
            }
            "defaultTopicQueueNums" => self.default_topic_queue_nums = parse_num(key, v)?,
            "brokerPermission" => {
                let p: i32 = parse_num(key, v)?;
                if !(0..8).contains(&p) {
                    return Err(format!("{key}: '{v}' must be 0..7"));
                }
                self.broker_permission = p
            }
            "maxMessageSize" => {
                self.max_message_size = parse_num(key, v)?;
                self.store_keys.insert(key.into(), v.into());
            }
            "registerNameServerPeriod" => self.register_name_server_period = parse_num(key, v)?,
            "longPollingEnable" => self.long_polling_enable = parse_bool(key, v)?,
            "shortPollingTimeMills" => self.short_polling_time_mills = parse_num(key, v)?,
            "notifyConsumerIdsChangedEnable" => {
                self.notify_consumer_ids_changed_enable = parse_bool(key, v)?
            }
            "clientChannelExpiredTime" => self.client_channel_expired_time = parse_num(key, v)?,
            "rebalanceLockMaxLiveTime" | "rocketmq.broker.rebalance.lockMaxLiveTime" => {
                self.rebalance_lock_max_live_time = parse_num(key, v)?
            }
            "traceTopicEnable" => self.trace_topic_enable = parse_bool(key, v)?,
            "msgTraceTopicName" => self.msg_trace_topic_name = v.into(),
            "clusterTopicEnable" => self.cluster_topic_enable = parse_bool(key, v)?,
            "brokerTopicEnable" => self.broker_topic_enable = parse_bool(key, v)?,
            "flushConsumerOffsetInterval" => {
                self.flush_consumer_offset_interval = parse_num(key, v)?
            }
            "flushDelayOffsetInterval" => self.flush_delay_offset_interval = parse_num(key, v)?,
            "rejectTransactionMessage" => self.reject_transaction_message = parse_bool(key, v)?,
            "transactionTimeOut" => self.transaction_time_out = parse_num(key, v)?,
            "transactionCheckMax" => self.transaction_check_max = parse_num(key, v)?,
            "transactionCheckInterval" => self.transaction_check_interval = parse_num(key, v)?,
            "rocketmqHome" => self.rocketmq_home = v.into(),
            "serverMaxConnections" => self.server_max_connections = parse_num(key, v)?,
            "serverChannelMaxIdleTimeSeconds" => {
                self.server_channel_max_idle_time_seconds = parse_num(key, v)?
            }
            "writeBufferHighWaterMark" => self.write_buffer_high_water_mark = parse_num(key, v)?,
            "writeBufferLowWaterMark" => self.write_buffer_low_water_mark = parse_num(key, v)?,
            "configBlackList" => self.config_black_list = v.into(),
            "maxParkedPullsPerConnection" => {
                self.max_parked_pulls_per_connection = parse_num(key, v)?
            }
            // rmq extension kept so old configs saying `file` still load; the in-memory store
            // it used to select is gone.
            "storeType" => {
                if v != "file" {
                    return Err(format!(
                        "{key}: '{v}' is not supported (only 'file', the persistent store)"
                    ));
                }
            }
            // Accepted for compatibility with Apache's sample configs; no effect here.
            "aclEnable"
            | "slaveReadEnable"
            | "offsetCheckInSlave"
            | "enablePropertyFilter"
            | "filterSupportRetry"
            | "sendMessageThreadPoolNums"
            | "pullMessageThreadPoolNums"
            | "useEpollNativeSelector"
            | "haMasterAddress"
            | "haSendHeartbeatInterval"
            | "haHousekeepingInterval"
            | "haSlaveFallbehindMax"
            | "slaveTimeout"
            | "compressedRegister"
            | "forceRegister"
            | "waitTimeMillsInSendQueue"
            | "enableDLegerCommitLog" => {}
            k if STORE_KEYS.contains(&k) => {
                match k {
                    "storePathRootDir" => self.store_path_root_dir = PathBuf::from(v),
                    "messageDelayLevel" => {
                        parse_delay_levels(v)?;
                        self.message_delay_level = v.into()
                    }
                    "flushDiskType" => {
                        if v != "ASYNC_FLUSH" && v != "SYNC_FLUSH" {
                            return Err(format!(
                                "{key}: '{v}' is not one of ASYNC_FLUSH, SYNC_FLUSH"
                            ));
                        }
                        self.flush_disk_type = v.into()
                    }
                    _ => {}
                }
                self.store_keys.insert(k.into(), v.into());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `(key, value, important)` for every key, for `-p`/`-m` and GET_BROKER_CONFIG.
    pub fn entries(&self) -> Vec<(&'static str, String, bool)> {
        let mut v: Vec<(&'static str, String, bool)> = vec![
            ("brokerClusterName", self.broker_cluster_name.clone(), true),
            ("brokerName", self.broker_name.clone(), true),
            ("brokerId", self.broker_id.to_string(), true),
            ("namesrvAddr", self.namesrv_addr.clone().unwrap_or_default(), true),
            ("brokerIP1", self.broker_ip1.clone(), true),
            ("brokerIP2", self.broker_ip2.clone(), false),
            ("listenPort", self.listen_port.to_string(), true),
            ("haListenPort", self.ha_listen_port.to_string(), false),
            ("brokerRole", self.broker_role.name().into(), true),
            ("autoCreateTopicEnable", self.auto_create_topic_enable.to_string(), true),
            ("autoCreateSubscriptionGroup", self.auto_create_subscription_group.to_string(), true),
            ("defaultTopicQueueNums", self.default_topic_queue_nums.to_string(), false),
            ("brokerPermission", self.broker_permission.to_string(), false),
            ("maxMessageSize", self.max_message_size.to_string(), false),
            ("registerNameServerPeriod", self.register_name_server_period.to_string(), false),
            ("longPollingEnable", self.long_polling_enable.to_string(), false),
            ("shortPollingTimeMills", self.short_polling_time_mills.to_string(), false),
            (
                "notifyConsumerIdsChangedEnable",
                self.notify_consumer_ids_changed_enable.to_string(),
                false,
            ),
            ("clientChannelExpiredTime", self.client_channel_expired_time.to_string(), false),
            ("rebalanceLockMaxLiveTime", self.rebalance_lock_max_live_time.to_string(), false),
            ("traceTopicEnable", self.trace_topic_enable.to_string(), false),
            ("msgTraceTopicName", self.msg_trace_topic_name.clone(), false),
            ("clusterTopicEnable", self.cluster_topic_enable.to_string(), false),
            ("brokerTopicEnable", self.broker_topic_enable.to_string(), false),
            ("flushConsumerOffsetInterval", self.flush_consumer_offset_interval.to_string(), false),
            ("flushDelayOffsetInterval", self.flush_delay_offset_interval.to_string(), false),
            ("rejectTransactionMessage", self.reject_transaction_message.to_string(), false),
            ("transactionTimeOut", self.transaction_time_out.to_string(), false),
            ("transactionCheckMax", self.transaction_check_max.to_string(), false),
            ("transactionCheckInterval", self.transaction_check_interval.to_string(), false),
            ("storePathRootDir", self.store_path_root_dir.display().to_string(), true),
            ("messageDelayLevel", self.message_delay_level.clone(), false),
            ("flushDiskType", self.flush_disk_type.clone(), true),
            ("serverMaxConnections", self.server_max_connections.to_string(), false),
            (
                "serverChannelMaxIdleTimeSeconds",
                self.server_channel_max_idle_time_seconds.to_string(),
                false,
            ),
            ("writeBufferHighWaterMark", self.write_buffer_high_water_mark.to_string(), false),
            ("writeBufferLowWaterMark", self.write_buffer_low_water_mark.to_string(), false),
            ("configBlackList", self.config_black_list.clone(), false),
            (
                "maxParkedPullsPerConnection",
                self.max_parked_pulls_per_connection.to_string(),
                false,
            ),
        ];
        for (k, val) in &self.store_keys {
            if let Some(known) = STORE_KEYS.iter().find(|s| **s == k.as_str()) {
                if !v.iter().any(|(n, _, _)| n == known) {
                    v.push((known, val.clone(), false));
                }
            }
        }
        v
    }

    /// The message-store configuration: the store keys given (Apache names) applied over the
    /// defaults, with the root dir, max message size and delay levels taken from here.
    pub fn store_config(&self) -> Result<crate::store::StoreConfig, String> {
        let mut sc = crate::store::StoreConfig::default();
        sc.apply("storePathRootDir", &self.store_path_root_dir.display().to_string())?;
        sc.apply("maxMessageSize", &self.max_message_size.to_string())?;
        sc.apply("messageDelayLevel", &self.message_delay_level)?;
        for (k, v) in &self.store_keys {
            if !sc.apply(k, v)? {
                tracing::debug!(key = %k, "store key not used by this store");
            }
        }
        Ok(sc)
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

    /// Delay table in ms.
    pub fn delay_levels_ms(&self) -> Vec<i64> {
        parse_delay_levels(&self.message_delay_level).unwrap_or_default()
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_and_refuse() {
        let mut c = BrokerConfig::default();
        assert_eq!(c.apply("listenPort", "20911"), Ok(true));
        assert_eq!(c.ha_listen_port, 20912);
        assert_eq!(c.apply("nope", "1"), Ok(false));
        assert!(c.apply("brokerRole", "BOSS").unwrap_err().contains("brokerRole"));
        assert!(c.apply("listenPort", "x").unwrap_err().contains("listenPort"));
        assert_eq!(c.apply("mapedFileSizeCommitLog", "1024"), Ok(true));
        assert_eq!(c.apply("messageDelayLevel", "1s 2s"), Ok(true));
        assert_eq!(c.delay_levels_ms(), vec![1000, 2000]);
        assert!(c.apply("messageDelayLevel", "1x").is_err());
        assert!(c.apply("messageDelayLevel", "1µ").is_err());
    }
}
