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

    /// Relations between values.
    pub fn validate(&self) -> Result<(), String> {
        if self.transfer_batch_size == 0 || self.transfer_batch_size > 16 * 1024 * 1024 {
            return Err("haTransferBatchSize: must be 1..=16777216".into());
        }
        if self.slave_fallbehind_max <= 0 {
            return Err("haSlaveFallbehindMax: must be > 0".into());
        }
        Ok(())
    }
}
