//! Store settings that UPDATE_BROKER_CONFIG changes while the store runs.
//!
//! Apache RocketMQ reads these from `MessageStoreConfig` at use time (the clean service on
//! every run, the commit log's encoder on every put), so `mqadmin updateBrokerConfig` takes
//! effect without a restart. Everything else in [`StoreConfig`] is fixed at open. Kept apart
//! from `StoreConfig` (immutable, read lock-free everywhere) so a live value costs one atomic
//! load where it is read.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use mq_common::config::{ConfigKeys, KeyEffect};
use parking_lot::RwLock;

use super::config::StoreConfig;
use super::store::MessageStore;

/// Current values of the store keys declared `live` in [`StoreConfig`]'s key table.
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

    /// Copy every live value from `cfg`.
    fn store_from(&self, cfg: &StoreConfig) {
        let r = Ordering::Relaxed;
        self.file_reserved_time.store(cfg.file_reserved_time, r);
        *self.delete_when.write() = cfg.delete_when.clone();
        self.disk_max_used_space_ratio.store(cfg.disk_max_used_space_ratio, r);
        self.clean_file_forcibly_enable.store(cfg.clean_file_forcibly_enable, r);
        self.max_message_size.store(cfg.max_message_size, r);
    }

    /// Write the current live values into `cfg`.
    fn copy_into(&self, cfg: &mut StoreConfig) {
        cfg.file_reserved_time = self.file_reserved_time();
        cfg.delete_when = self.delete_when();
        cfg.disk_max_used_space_ratio = self.disk_max_used_space_ratio();
        cfg.clean_file_forcibly_enable = self.clean_file_forcibly_enable();
        cfg.max_message_size = self.max_message_size();
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

    /// Apply a key declared `live` in [`StoreConfig`]'s key table now. `Ok(false)`: not a
    /// live store key (nothing changed); `Err`: invalid value, naming the key. The value goes
    /// through the same parser as the config file.
    pub fn update_live(&self, key: &str, value: &str) -> Result<bool, String> {
        // Start from the current live values, so earlier live updates are kept.
        let mut probe = self.config().clone();
        self.live.copy_into(&mut probe);
        if probe.key_effect(key) != Some(KeyEffect::Live) {
            return Ok(false);
        }
        probe.apply(key, value).map_err(|e| format!("{key}: {e}"))?;
        if probe.max_message_size == 0 {
            return Err(format!("{key}: maxMessageSize must be > 0"));
        }
        self.live.store_from(&probe);
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
