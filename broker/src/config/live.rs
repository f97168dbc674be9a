//! The runtime copies of the broker's live keys read on the request path, and why those keys
//! are live. Which keys are live is declared in the key table (`broker_config.rs`, flag
//! `live`; the store's in `store/config.rs`); [`ConfigKeys::key_effect`] answers it.
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
//!   (Java 5 `channelExpiredTimeout`, each scan), `enablePropertyFilter` (each pull, heartbeat
//!   and CHECK_CLIENT_CONFIG), and the store's `fileReservedTime`,
//!   `deleteWhen`, `diskMaxUsedSpaceRatio`, `cleanFileForciblyEnable` (each clean run);
//! - fixed at startup (restart needed): identity and network (`brokerName`, `brokerId`,
//!   `brokerClusterName`, `brokerIP1/2`, `listenPort`, `haListenPort`, `brokerRole`,
//!   `namesrvAddr`), thread pools, scheduled periods (`registerNameServerPeriod`,
//!   `flushConsumerOffsetInterval`, `flushDelayOffsetInterval`), topics created at boot (`defaultTopicQueueNums`, `clusterTopicEnable`,
//!   `brokerTopicEnable`, `traceTopicEnable`, `msgTraceTopicName`), `messageDelayLevel`
//!   (parsed once by the schedule service), `flushDiskType`, store paths and file sizes, and
//!   the timer keys (`timerWheelEnable`, `timerMaxDelaySec`, `timerPrecisionMs`, ...: the
//!   timer engine is built from them at start).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

#[cfg(doc)]
use mq_common::config::ConfigKeys;

use super::BrokerConfig;

/// Runtime copies of the live keys read on the request path: one relaxed atomic load per
/// read (a lock there would cost more than the check). Other live keys live where they act:
/// `brokerPermission` in `Broker::perm`, auto-create flags in the topic/group managers, store
/// keys (`maxMessageSize` included) in the store.
#[derive(Debug)]
pub struct LiveSettings {
    long_polling_enable: AtomicBool,
    short_polling_time_mills: AtomicU64,
    notify_consumer_ids_changed_enable: AtomicBool,
    client_channel_expired_time: AtomicU64,
    enable_property_filter: AtomicBool,
    reject_transaction_message: AtomicBool,
    transaction_time_out: AtomicU64,
    transaction_check_max: AtomicI32,
    transaction_check_interval: AtomicU64,
}

impl LiveSettings {
    /// Initial values from the configuration the broker started with.
    pub fn new(cfg: &BrokerConfig) -> Self {
        LiveSettings {
            long_polling_enable: AtomicBool::new(cfg.long_polling_enable),
            short_polling_time_mills: AtomicU64::new(cfg.short_polling_time_mills),
            notify_consumer_ids_changed_enable: AtomicBool::new(
                cfg.notify_consumer_ids_changed_enable,
            ),
            client_channel_expired_time: AtomicU64::new(cfg.client_channel_expired_time),
            enable_property_filter: AtomicBool::new(cfg.enable_property_filter),
            reject_transaction_message: AtomicBool::new(cfg.reject_transaction_message),
            transaction_time_out: AtomicU64::new(cfg.transaction_time_out),
            transaction_check_max: AtomicI32::new(cfg.transaction_check_max),
            transaction_check_interval: AtomicU64::new(cfg.transaction_check_interval),
        }
    }

    /// Copy every value from `cfg` (already validated by [`BrokerConfig::apply`]).
    pub fn store_from(&self, cfg: &BrokerConfig) {
        let r = Ordering::Relaxed;
        self.long_polling_enable.store(cfg.long_polling_enable, r);
        self.short_polling_time_mills.store(cfg.short_polling_time_mills, r);
        self.notify_consumer_ids_changed_enable.store(cfg.notify_consumer_ids_changed_enable, r);
        self.client_channel_expired_time.store(cfg.client_channel_expired_time, r);
        self.enable_property_filter.store(cfg.enable_property_filter, r);
        self.reject_transaction_message.store(cfg.reject_transaction_message, r);
        self.transaction_time_out.store(cfg.transaction_time_out, r);
        self.transaction_check_max.store(cfg.transaction_check_max, r);
        self.transaction_check_interval.store(cfg.transaction_check_interval, r);
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
    /// `enablePropertyFilter`: SQL92 subscriptions are served.
    pub fn enable_property_filter(&self) -> bool {
        self.enable_property_filter.load(Ordering::Relaxed)
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
    fn live_settings_follow_the_config() {
        let mut c = BrokerConfig::default();
        let l = LiveSettings::new(&c);
        mq_common::config::ConfigKeys::apply(&mut c, "longPollingEnable", "false").unwrap();
        l.store_from(&c);
        assert!(!l.long_polling_enable());
    }
}
