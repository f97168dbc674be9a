//! The HA keys (Java's `MessageStoreConfig` names and defaults, docs/ha-protocol.md §1).
//! Declared in the broker's key table (`config/broker_config.rs`) as `ha.<field>`.

use std::time::Duration;

/// Timings and limits of classic master/slave replication.
#[derive(Debug, Clone)]
pub struct HaConfig {
    /// `haMasterAddress`: a static master HA address (`host:port`) for a SLAVE; when set,
    /// addresses learned from the name servers are ignored.
    pub master_address: Option<String>,
    /// `haSendHeartbeatInterval`, ms: slave report / master heartbeat interval (5 s).
    pub heartbeat_interval: u64,
    /// `haHousekeepingInterval`, ms: a peer silent this long is dropped (20 s).
    pub housekeeping_interval: u64,
    /// `haTransferBatchSize`: the largest frame body (32 KiB).
    pub transfer_batch_size: usize,
    /// `haSlaveFallbehindMax` (5.x `haMaxGapNotInSync`): a SYNC_MASTER answers
    /// SLAVE_NOT_AVAILABLE when its best slave is this many bytes behind or more (256 MiB).
    pub slave_fallbehind_max: i64,
    /// `slaveTimeout`, ms: how long a SYNC_MASTER send waits for a slave (4.9.x: 3 s).
    pub slave_timeout: u64,
    /// `haMetadataSyncInterval`, ms (rmq; Java's fixed 10 s): a slave's metadata sync period.
    pub metadata_sync_interval: u64,
    /// `enableControllerMode` (false): take the role from the controllers (issue 19,
    /// `replicas_manager.rs`) instead of `brokerRole` / `brokerId`.
    pub enable_controller_mode: bool,
    /// `controllerAddr`: the controllers, `host:port;host:port`.
    pub controller_addr: String,
    /// `syncBrokerMetadataPeriod`, ms (5 s): how often the group's master and epoch are read
    /// from the controller; a role change is also pushed (NOTIFY_BROKER_ROLE_CHANGED, 1008)
    /// and read at once.
    pub sync_broker_metadata_period: u64,
    /// `checkSyncStateSetPeriod`, ms (5 s): a master's in-sync set upkeep period.
    pub check_sync_state_set_period: u64,
    /// `controllerHeartBeatTimeoutMills`, ms (rmq 6 s, Java 10 s): the heartbeat timeout the
    /// controllers apply to this broker, and the lease of a master that hears from no
    /// controller. Shorter than Java's so an isolated (silent) master is replaced within 10 s:
    /// this timeout, plus the controllers' scan (1 s), plus the push to the new master.
    pub controller_heartbeat_timeout: u64,
    /// `brokerHeartbeatInterval`, ms (1 s): heartbeats to every controller.
    pub broker_heartbeat_interval: u64,
    /// `sendHeartbeatTimeoutMillis`, ms (1 s): timeout of one controller request.
    pub send_heartbeat_timeout: u64,
    /// `allAckInSyncStateSet` (false): a send waits for every member of the in-sync set.
    pub all_ack_in_sync_state_set: bool,
    /// `inSyncReplicas` (1): replicas (the master included) a send waits for when
    /// `allAckInSyncStateSet` is false.
    pub in_sync_replicas: usize,
    /// `minInSyncReplicas` (1): a master whose in-sync set is smaller refuses sends.
    pub min_in_sync_replicas: usize,
    /// `haMaxTimeSlaveNotCatchup`, ms (15 s): an in-sync replica this long behind is removed.
    pub max_time_slave_not_catchup: u64,
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            master_address: None,
            heartbeat_interval: 5000,
            housekeeping_interval: 20_000,
            transfer_batch_size: 32 * 1024,
            slave_fallbehind_max: 256 * 1024 * 1024,
            slave_timeout: 3000,
            metadata_sync_interval: 10_000,
            enable_controller_mode: false,
            controller_addr: String::new(),
            sync_broker_metadata_period: 5000,
            check_sync_state_set_period: 5000,
            controller_heartbeat_timeout: 6_000,
            broker_heartbeat_interval: 1000,
            send_heartbeat_timeout: 1000,
            all_ack_in_sync_state_set: false,
            in_sync_replicas: 1,
            min_in_sync_replicas: 1,
            max_time_slave_not_catchup: 15_000,
        }
    }
}

impl HaConfig {
    /// `haSendHeartbeatInterval` (at least 10 ms).
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval.max(10))
    }

    /// `haHousekeepingInterval` (at least 50 ms).
    pub fn housekeeping(&self) -> Duration {
        Duration::from_millis(self.housekeeping_interval.max(50))
    }

    /// `slaveTimeout`.
    pub fn slave_wait(&self) -> Duration {
        Duration::from_millis(self.slave_timeout)
    }

    /// The static master address, if one of at least 6 characters is set (Java's rule).
    pub fn static_master(&self) -> Option<&str> {
        self.master_address.as_deref().map(str::trim).filter(|a| a.len() >= 6)
    }

    /// `controllerAddr` split on `;`.
    pub fn controllers(&self) -> Vec<String> {
        self.controller_addr
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// A duration key in ms, at least 10 ms (tests use short ones).
    pub fn ms(v: u64) -> Duration {
        Duration::from_millis(v.max(10))
    }

    /// Relations between values.
    pub fn validate(&self) -> Result<(), String> {
        if self.transfer_batch_size == 0 || self.transfer_batch_size > 16 * 1024 * 1024 {
            return Err("haTransferBatchSize: must be 1..=16777216".into());
        }
        if self.slave_fallbehind_max <= 0 {
            return Err("haSlaveFallbehindMax: must be > 0".into());
        }
        if self.enable_controller_mode && self.controllers().is_empty() {
            return Err("enableControllerMode=true needs controllerAddr (host:port;...)".into());
        }
        if self.in_sync_replicas == 0 || self.min_in_sync_replicas == 0 {
            return Err("inSyncReplicas and minInSyncReplicas: must be >= 1".into());
        }
        Ok(())
    }
}
