//! Which broker keys UPDATE_BROKER_CONFIG applies at once, and the runtime copies of the
//! ones read on the request path.
//!
//! Apache RocketMQ's `updateBrokerConfig` sets the properties on the in-memory
//! BrokerConfig/MessageStoreConfig; a key "is live" when Java reads it at use time rather than
//! copying it at startup. From the Java sources (broker 4.9/5.x):
//! - read per request or per run (live): `brokerPermission` (every send/pull),
//!   `autoCreateTopicEnable` (`createTopicInSendMessageMethod`), `autoCreateSubscriptionGroup`
//!   (`findSubscriptionGroupConfig`), `maxMessageSize` (`CommitLog.updateMaxMessageSize`
//!   before each put), `longPollingEnable` / `shortPollingTimeMills` (each suspended pull),
//!   `notifyConsumerIdsChangedEnable`, `rejectTransactionMessage` (each send),
//!   `transactionTimeOut` / `transactionCheckMax` (each check run), `transactionCheckInterval`
//!   (the wait before the next run: an update applies after the current wait),
//!   `clientChannelExpiredTime`
//!   (Java 5 `channelExpiredTimeout`, each scan), and the store's `fileReservedTime`,
//!   `deleteWhen`, `diskMaxUsedSpaceRatio`, `cleanFileForciblyEnable` (each clean run);
//! - fixed at startup (restart needed): identity and network (`brokerName`, `brokerId`,
//!   `brokerClusterName`, `brokerIP1/2`, `listenPort`, `haListenPort`, `brokerRole`,
//!   `namesrvAddr`), thread pools, scheduled periods (`registerNameServerPeriod`,
//!   `flushConsumerOffsetInterval`, `flushDelayOffsetInterval`), topics created at boot (`defaultTopicQueueNums`, `clusterTopicEnable`,
//!   `brokerTopicEnable`, `traceTopicEnable`, `msgTraceTopicName`), `messageDelayLevel`
//!   (parsed once by the schedule service), `flushDiskType`, store paths and file sizes.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};

use super::BrokerConfig;

/// What an updated key does in this broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEffect {
    /// Never changed by UPDATE_BROKER_CONFIG (NO_PERMISSION, as Java's `configBlackList`).
    Refused,
    /// Takes effect at once.
    Live,
    /// Recorded (and persisted); takes effect at the next start.
    Restart,
    /// Accepted for compatibility with Apache's configs; rmq has no such feature.
    NoEffect,
}

/// Broker-side live keys (the store's are [`crate::store::LIVE_STORE_KEYS`]).
const LIVE_BROKER_KEYS: &[&str] = &[
    "brokerPermission",
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
    "maxMessageSize",
    "longPollingEnable",
    "shortPollingTimeMills",
    "notifyConsumerIdsChangedEnable",
    "clientChannelExpiredTime",
    "rejectTransactionMessage",
    "transactionTimeOut",
    "transactionCheckMax",
    "transactionCheckInterval",
];

/// Keys UPDATE_BROKER_CONFIG refuses whatever `configBlackList` says (issue 16, B6/B9):
/// - the store's on-disk layout: a commit-log or consume-queue file size, index geometry or
///   store path changed in the running broker's persisted config takes effect at the next
///   start and orphans or misreads every message already stored (and a path can point the
///   broker's writes anywhere its user may write);
/// - Java's always-blacklisted keys (`brokerConfigPath`, `rocketmqHome`, `configBlackList`).
///
/// They are set in the config file (or `--set`) of a stopped broker.
pub const WIRE_REFUSED_KEYS: &[&str] = &[
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
    "maxHashSlotNum",
    "maxIndexNum",
    "brokerConfigPath",
    "rocketmqHome",
    "configBlackList",
];

/// Keys [`BrokerConfig::apply`] accepts but nothing reads.
const NO_EFFECT_KEYS: &[&str] = &[
    "aclEnable",
    "slaveReadEnable",
    "offsetCheckInSlave",
    "enablePropertyFilter",
    "filterSupportRetry",
    "sendMessageThreadPoolNums",
    "pullMessageThreadPoolNums",
    "useEpollNativeSelector",
    "haMasterAddress",
    "haSendHeartbeatInterval",
    "haHousekeepingInterval",
    "haSlaveFallbehindMax",
    "slaveTimeout",
    "compressedRegister",
    "forceRegister",
    "waitTimeMillsInSendQueue",
    "enableDLegerCommitLog",
    "storeType",
];

/// What updating a key does (see the module docs for the Java evidence); `black_list` is the
/// broker's `configBlackList` (`;`-separated keys refused in addition to
/// [`WIRE_REFUSED_KEYS`]).
pub fn key_effect(key: &str, black_list: &str) -> KeyEffect {
    if WIRE_REFUSED_KEYS.contains(&key) || black_list.split(';').any(|k| k.trim() == key) {
        KeyEffect::Refused
    } else if LIVE_BROKER_KEYS.contains(&key) || crate::store::LIVE_STORE_KEYS.contains(&key) {
        KeyEffect::Live
    } else if NO_EFFECT_KEYS.contains(&key) {
        KeyEffect::NoEffect
    } else {
        KeyEffect::Restart
    }
}

/// Runtime copies of the live keys read on the request path: one relaxed atomic load per
/// read (the send path reads `maxMessageSize` per message; a lock there would cost more than
/// the check). Other live keys live where they act: `brokerPermission` in `Broker::perm`,
/// auto-create flags in the topic/group managers, store keys in the store.
#[derive(Debug)]
pub struct LiveSettings {
    max_message_size: AtomicUsize,
    long_polling_enable: AtomicBool,
    short_polling_time_mills: AtomicU64,
    notify_consumer_ids_changed_enable: AtomicBool,
    client_channel_expired_time: AtomicU64,
    reject_transaction_message: AtomicBool,
    transaction_time_out: AtomicU64,
    transaction_check_max: AtomicI32,
    transaction_check_interval: AtomicU64,
}

impl LiveSettings {
    /// Initial values from the configuration the broker started with.
    pub fn new(cfg: &BrokerConfig) -> Self {
        LiveSettings {
            max_message_size: AtomicUsize::new(cfg.max_message_size),
            long_polling_enable: AtomicBool::new(cfg.long_polling_enable),
            short_polling_time_mills: AtomicU64::new(cfg.short_polling_time_mills),
            notify_consumer_ids_changed_enable: AtomicBool::new(
                cfg.notify_consumer_ids_changed_enable,
            ),
            client_channel_expired_time: AtomicU64::new(cfg.client_channel_expired_time),
            reject_transaction_message: AtomicBool::new(cfg.reject_transaction_message),
            transaction_time_out: AtomicU64::new(cfg.transaction_time_out),
            transaction_check_max: AtomicI32::new(cfg.transaction_check_max),
            transaction_check_interval: AtomicU64::new(cfg.transaction_check_interval),
        }
    }

    /// Copy every value from `cfg` (already validated by [`BrokerConfig::apply`]).
    pub fn store_from(&self, cfg: &BrokerConfig) {
        let r = Ordering::Relaxed;
        self.max_message_size.store(cfg.max_message_size, r);
        self.long_polling_enable.store(cfg.long_polling_enable, r);
        self.short_polling_time_mills.store(cfg.short_polling_time_mills, r);
        self.notify_consumer_ids_changed_enable.store(cfg.notify_consumer_ids_changed_enable, r);
        self.client_channel_expired_time.store(cfg.client_channel_expired_time, r);
        self.reject_transaction_message.store(cfg.reject_transaction_message, r);
        self.transaction_time_out.store(cfg.transaction_time_out, r);
        self.transaction_check_max.store(cfg.transaction_check_max, r);
        self.transaction_check_interval.store(cfg.transaction_check_interval, r);
    }

    /// `maxMessageSize` (body bytes).
    pub fn max_message_size(&self) -> usize {
        self.max_message_size.load(Ordering::Relaxed)
    }
    /// `longPollingEnable`.
    pub fn long_polling_enable(&self) -> bool {
        self.long_polling_enable.load(Ordering::Relaxed)
    }
    /// `shortPollingTimeMills`.
    pub fn short_polling_time_mills(&self) -> u64 {
        self.short_polling_time_mills.load(Ordering::Relaxed)
    }
    /// `notifyConsumerIdsChangedEnable`.
    pub fn notify_consumer_ids_changed_enable(&self) -> bool {
        self.notify_consumer_ids_changed_enable.load(Ordering::Relaxed)
    }
    /// `clientChannelExpiredTime`, ms.
    pub fn client_channel_expired_time(&self) -> u64 {
        self.client_channel_expired_time.load(Ordering::Relaxed)
    }
    /// `rejectTransactionMessage`.
    pub fn reject_transaction_message(&self) -> bool {
        self.reject_transaction_message.load(Ordering::Relaxed)
    }
    /// `transactionTimeOut`, ms.
    pub fn transaction_time_out(&self) -> u64 {
        self.transaction_time_out.load(Ordering::Relaxed)
    }
    /// `transactionCheckMax`.
    pub fn transaction_check_max(&self) -> i32 {
        self.transaction_check_max.load(Ordering::Relaxed)
    }
    /// `transactionCheckInterval`, ms.
    pub fn transaction_check_interval(&self) -> u64 {
        self.transaction_check_interval.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_has_an_effect_class() {
        let bl = "configBlackList;brokerConfigPath;brokerName";
        assert_eq!(key_effect("autoCreateTopicEnable", bl), KeyEffect::Live);
        assert_eq!(key_effect("fileReservedTime", bl), KeyEffect::Live);
        assert_eq!(key_effect("brokerName", ""), KeyEffect::Restart);
        assert_eq!(key_effect("brokerName", bl), KeyEffect::Refused);
        assert_eq!(key_effect("flushDiskType", bl), KeyEffect::Restart);
        assert_eq!(key_effect("messageDelayLevel", bl), KeyEffect::Restart);
        assert_eq!(key_effect("slaveReadEnable", bl), KeyEffect::NoEffect);
        assert_eq!(key_effect("mappedFileSizeCommitLog", ""), KeyEffect::Refused);
        assert_eq!(key_effect("storePathRootDir", ""), KeyEffect::Refused);
        // Every live/no-effect key is one BrokerConfig knows (no typo can hide here).
        let mut c = BrokerConfig::default();
        for k in LIVE_BROKER_KEYS.iter().chain(crate::store::LIVE_STORE_KEYS) {
            let v = c.entries().into_iter().find(|(n, _, _)| n == k).map(|(_, v, _)| v);
            let v = v.unwrap_or_else(|| match *k {
                "deleteWhen" => "04".into(),
                "cleanFileForciblyEnable" => "true".into(),
                _ => "72".into(),
            });
            assert_eq!(c.apply(k, &v), Ok(true), "{k}={v}");
        }
        for k in NO_EFFECT_KEYS {
            let v = if *k == "storeType" { "file" } else { "1" };
            assert_eq!(c.apply(k, v), Ok(true), "{k}");
        }
    }

    #[test]
    fn live_settings_follow_the_config() {
        let mut c = BrokerConfig::default();
        let l = LiveSettings::new(&c);
        c.apply("maxMessageSize", "1024").unwrap();
        c.apply("longPollingEnable", "false").unwrap();
        l.store_from(&c);
        assert_eq!(l.max_message_size(), 1024);
        assert!(!l.long_polling_enable());
    }
}
