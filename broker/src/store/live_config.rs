//! Store settings that UPDATE_BROKER_CONFIG changes while the store runs.
//!
//! Apache RocketMQ reads these from `MessageStoreConfig` at use time (the clean service on
//! every run, the commit log's encoder on every put), so `mqadmin updateBrokerConfig` takes
//! effect without a restart. Everything else in [`StoreConfig`] is fixed at open. Kept apart
//! from `StoreConfig` (immutable, read lock-free everywhere) so a live value costs one atomic
//! load where it is read.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use parking_lot::RwLock;

use super::config::StoreConfig;
use super::store::MessageStore;

/// Store keys [`MessageStore::update_live`] applies at once.
pub const LIVE_STORE_KEYS: &[&str] = &[
    "fileReservedTime",
    "deleteWhen",
    "diskMaxUsedSpaceRatio",
    "cleanFileForciblyEnable",
    "maxMessageSize",
];

/// Current values of the [`LIVE_STORE_KEYS`].
#[derive(Debug)]
pub struct LiveStoreConfig {
    file_reserved_time: AtomicU64,
    delete_when: RwLock<String>,
    disk_max_used_space_ratio: AtomicU32,
    clean_file_forcibly_enable: AtomicBool,
    max_message_size: AtomicUsize,
}

impl LiveStoreConfig {
    /// Initial values from the configuration the store was opened with.
    pub(crate) fn new(cfg: &StoreConfig) -> Self {
        LiveStoreConfig {
            file_reserved_time: AtomicU64::new(cfg.file_reserved_time),
            delete_when: RwLock::new(cfg.delete_when.clone()),
            disk_max_used_space_ratio: AtomicU32::new(cfg.disk_max_used_space_ratio),
            clean_file_forcibly_enable: AtomicBool::new(cfg.clean_file_forcibly_enable),
            max_message_size: AtomicUsize::new(cfg.max_message_size),
        }
    }

    /// `fileReservedTime`, hours.
    pub fn file_reserved_time(&self) -> u64 {
        self.file_reserved_time.load(Ordering::Relaxed)
    }

    /// `deleteWhen`, `;`-separated hours.
    pub fn delete_when(&self) -> String {
        self.delete_when.read().clone()
    }

    /// `diskMaxUsedSpaceRatio`, percent.
    pub fn disk_max_used_space_ratio(&self) -> u32 {
        self.disk_max_used_space_ratio.load(Ordering::Relaxed)
    }

    /// `cleanFileForciblyEnable`.
    pub fn clean_file_forcibly_enable(&self) -> bool {
        self.clean_file_forcibly_enable.load(Ordering::Relaxed)
    }

    /// `maxMessageSize`, body bytes.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size.load(Ordering::Relaxed)
    }
}

impl MessageStore {
    /// The live settings (see the module docs).
    pub fn live_config(&self) -> &LiveStoreConfig {
        &self.live
    }

    /// Apply one of the [`LIVE_STORE_KEYS`] now. `Ok(false)`: not a live key (nothing
    /// changed); `Err`: invalid value, naming the key. Validation reuses
    /// [`StoreConfig::apply`] so the file and the live path accept the same values.
    pub fn update_live(&self, key: &str, value: &str) -> Result<bool, String> {
        if !LIVE_STORE_KEYS.contains(&key) {
            return Ok(false);
        }
        let mut probe = self.config().clone();
        probe.apply(key, value)?;
        let l = &self.live;
        match key {
            "fileReservedTime" => {
                l.file_reserved_time.store(probe.file_reserved_time, Ordering::Relaxed)
            }
            "deleteWhen" => *l.delete_when.write() = probe.delete_when,
            "diskMaxUsedSpaceRatio" => l
                .disk_max_used_space_ratio
                .store(probe.disk_max_used_space_ratio, Ordering::Relaxed),
            "cleanFileForciblyEnable" => l
                .clean_file_forcibly_enable
                .store(probe.clean_file_forcibly_enable, Ordering::Relaxed),
            "maxMessageSize" => {
                if probe.max_message_size == 0 {
                    return Err(format!("{key}: must be > 0"));
                }
                l.max_message_size.store(probe.max_message_size, Ordering::Relaxed)
            }
            _ => return Ok(false),
        }
        tracing::info!(key, value, "store setting updated live");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_keys_apply_and_validate() {
        let dir = tempfile::tempdir().unwrap();
        let cfg =
            StoreConfig { store_path_root_dir: dir.path().to_path_buf(), ..StoreConfig::default() };
        let store = MessageStore::open(cfg).unwrap();
        assert_eq!(store.update_live("fileReservedTime", "1"), Ok(true));
        assert_eq!(store.live_config().file_reserved_time(), 1);
        assert_eq!(store.update_live("deleteWhen", "01;13"), Ok(true));
        assert_eq!(store.live_config().delete_when(), "01;13");
        assert_eq!(store.update_live("maxMessageSize", "1024"), Ok(true));
        assert_eq!(store.live_config().max_message_size(), 1024);
        assert!(store.update_live("maxMessageSize", "0").unwrap_err().contains("maxMessageSize"));
        assert!(store
            .update_live("fileReservedTime", "soon")
            .unwrap_err()
            .contains("fileReservedTime"));
        assert_eq!(store.live_config().file_reserved_time(), 1);
        // Not live: refused without touching anything.
        assert_eq!(store.update_live("flushDiskType", "SYNC_FLUSH"), Ok(false));
        store.shutdown().unwrap();
    }
}
