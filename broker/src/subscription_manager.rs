//! Subscription groups (`config/subscriptionGroup.json`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use mq_common::protocol::body::{DataVersion, SubscriptionGroupConfig, SubscriptionGroupWrapper};
use mq_common::protocol::lenient_json;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::config::BrokerConfig;
use crate::json_file::{self, JsonFile};

/// Group table.
pub struct SubscriptionGroupManager {
    table: DashMap<String, SubscriptionGroupConfig>,
    version: Mutex<DataVersion>,
    /// `config/subscriptionGroup.json`, written by the broker's config writer.
    pub file: JsonFile,
    /// `autoCreateSubscriptionGroup`, changeable at runtime (UPDATE_BROKER_CONFIG).
    auto_create: AtomicBool,
}

impl SubscriptionGroupManager {
    /// Load from disk and add the built-in groups. `wake` is the config writer's.
    pub fn load(cfg: &BrokerConfig, wake: Arc<Notify>) -> Self {
        let path = cfg.store.store_path_root_dir.join("config").join("subscriptionGroup.json");
        let loaded: Option<SubscriptionGroupWrapper> =
            json_file::read_with_backup(&path, |t| lenient_json::from_str(t).ok());
        let (table, version) = match loaded {
            Some(w) => (w.subscription_group_table.into_iter().collect(), w.data_version),
            None => (DashMap::new(), DataVersion::default()),
        };
        let m = SubscriptionGroupManager {
            table,
            version: Mutex::new(version),
            file: JsonFile::batched(path, wake),
            auto_create: AtomicBool::new(cfg.auto_create_subscription_group),
        };
        for g in [
            "TOOLS_CONSUMER",
            "FILTERSRV_CONSUMER",
            "__MONITOR_CONSUMER",
            "CLIENT_INNER_PRODUCER",
            "SELF_TEST_C_GROUP",
            "CID_ONS-HTTP-PROXY",
            "CID_ONSAPI_PERMISSION",
            "CID_ONSAPI_OWNER",
            "CID_ONSAPI_PULL",
            "CID_RMQ_SYS_TRANS",
        ] {
            m.table.entry(g.to_string()).or_insert_with(|| SubscriptionGroupConfig::new(g));
        }
        m
    }

    /// Apply `autoCreateSubscriptionGroup` at runtime (Java reads it per lookup).
    pub fn set_auto_create(&self, enable: bool) {
        self.auto_create.store(enable, Ordering::Relaxed);
    }

    /// The group's config; auto-created when `autoCreateSubscriptionGroup` (or `force`).
    pub fn find_or_create(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        if let Some(g) = self.table.get(group) {
            return Some(g.clone());
        }
        if !self.auto_create.load(Ordering::Relaxed) {
            return None;
        }
        let g = self
            .table
            .entry(group.to_string())
            .or_insert_with(|| SubscriptionGroupConfig::new(group))
            .clone();
        self.bump();
        Some(g)
    }

    /// `consumeEnable` of the group, auto-creating it like [`Self::find_or_create`]; `None`
    /// if the group does not exist and cannot be created. No clone: this is on the pull path.
    pub fn consume_enabled(&self, group: &str) -> Option<bool> {
        if let Some(g) = self.table.get(group) {
            return Some(g.consume_enable);
        }
        self.find_or_create(group).map(|g| g.consume_enable)
    }

    /// Config without creating.
    pub fn get(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        self.table.get(group).map(|g| g.clone())
    }

    /// Create or replace; returns the change's generation (see `TopicManager::update`).
    pub fn update(&self, cfg: SubscriptionGroupConfig) -> u64 {
        self.table.insert(cfg.group_name.clone(), cfg);
        self.bump()
    }

    /// Delete; the change's generation if it existed.
    pub fn delete(&self, group: &str) -> Option<u64> {
        let r = self.table.remove(group).is_some();
        r.then(|| self.bump())
    }

    /// A slave follows its master's groups (metadata sync): replaced when the master's data
    /// version differs. Returns whether anything changed.
    pub fn follow_master(&self, w: SubscriptionGroupWrapper) -> bool {
        if *self.version.lock() == w.data_version {
            return false;
        }
        self.table.retain(|k, _| w.subscription_group_table.contains_key(k));
        for (k, v) in w.subscription_group_table {
            self.table.insert(k, v);
        }
        *self.version.lock() = w.data_version;
        // Marked for the config writer (which also writes it at shutdown): without the mark,
        // the writer sees nothing to write and a promoted slave restarts without the topics.
        self.file.mark_changed();
        true
    }

    /// Snapshot wrapper.
    pub fn wrapper(&self) -> SubscriptionGroupWrapper {
        SubscriptionGroupWrapper {
            subscription_group_table: self
                .table
                .iter()
                .map(|e| (e.key().clone(), e.value().clone()))
                .collect(),
            forbidden_table: Default::default(),
            data_version: self.version.lock().clone(),
        }
    }

    /// A change: new data version and the file marked for the config writer (no I/O here).
    fn bump(&self) -> u64 {
        self.version.lock().next_version();
        self.file.mark_changed()
    }

    /// Write the file if it changed since the last write (blocking I/O).
    pub fn persist(&self) -> std::io::Result<()> {
        self.file
            .write_if_changed(|| serde_json::to_vec_pretty(&self.wrapper()).unwrap_or_default())
            .map(|_| ())
    }
}
