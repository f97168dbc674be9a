//! Topic configs (`config/topics.json`): lookup on the send/pull path (lock-free reads),
//! auto-create through TBW102, admin create/delete, and the data version registered with the
//! nameservers.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use mq_common::protocol::body::{
    system_topics, DataVersion, TopicConfig, TopicConfigSerializeWrapper, PERM_INHERIT, PERM_READ,
    PERM_WRITE,
};
use mq_common::protocol::lenient_json;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::auto_create_limit::AutoCreateLimit;
use crate::config::BrokerConfig;
use crate::json_file::{self, JsonFile};
use crate::metrics::TopicIn;

/// One topic: its config and, once metrics saw a send to it, its `messages_in` counters
/// (kept here so a send finds them in the lookup it makes anyway, and a deleted topic's
/// series go with it).
struct TopicEntry {
    config: TopicConfig,
    counters: OnceLock<Option<Arc<TopicIn>>>,
}

impl From<TopicConfig> for TopicEntry {
    fn from(config: TopicConfig) -> Self {
        TopicEntry { config, counters: OnceLock::new() }
    }
}

/// What a send needs from the topic table, in one lookup.
pub struct SendInfo {
    /// writeQueueNums.
    pub write_queues: i32,
    /// readQueueNums.
    pub read_queues: i32,
    /// perm.
    pub perm: i32,
    /// topicFilterType is MULTI_TAG.
    pub multi_tag: bool,
    /// The topic's `messages_in` counters (`None`: metrics off, or a retry/DLQ topic, which
    /// RocketMQ leaves out of `messages_in`).
    pub counters: Option<Arc<TopicIn>>,
}

/// Topic table.
pub struct TopicManager {
    table: DashMap<String, TopicEntry>,
    version: Mutex<DataVersion>,
    /// `config/topics.json`, written by the broker's config writer.
    pub file: JsonFile,
    /// Signalled when the table changed (the registration task re-registers at once).
    pub changed: Arc<Notify>,
    /// `autoCreateTopicMaxPerClientPerMinute`: each client address's auto-create budget.
    auto_create_limit: AutoCreateLimit,
}

/// Why a send to an unknown topic did not create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCreateRefused {
    /// The template is missing or not inheritable (auto-create off): Java's answer.
    NoTemplate,
    /// The client address has spent its `autoCreateTopicMaxPerClientPerMinute` budget.
    OverLimit {
        /// The budget per minute.
        max: u32,
    },
}

impl TopicManager {
    /// Load `config/topics.json` and add the system topics. `wake` is the config writer's
    /// (changes are written by it, batched).
    pub fn load(cfg: &BrokerConfig, wake: Arc<Notify>) -> Self {
        let path = cfg.store.store_path_root_dir.join("config").join("topics.json");
        let loaded: Option<TopicConfigSerializeWrapper> =
            json_file::read_with_backup(&path, |t| lenient_json::from_str(t).ok());
        let (table, version) = match loaded {
            Some(w) => (
                w.topic_config_table.into_iter().map(|(k, v)| (k, v.into())).collect(),
                w.data_version,
            ),
            None => (DashMap::new(), DataVersion::default()),
        };
        let tm = TopicManager {
            table,
            version: Mutex::new(version),
            file: JsonFile::batched(path, wake),
            changed: Arc::new(Notify::new()),
            auto_create_limit: AutoCreateLimit::new(
                cfg.auto_create_topic_max_per_client_per_minute,
            ),
        };
        tm.add_system_topics(cfg);
        tm
    }

    fn add_system_topics(&self, cfg: &BrokerConfig) {
        let rw = PERM_READ | PERM_WRITE;
        let mut sys = vec![
            TopicConfig::new(system_topics::SELF_TEST_TOPIC, 1, rw),
            TopicConfig::new(system_topics::OFFSET_MOVED_EVENT, 1, rw),
            TopicConfig::new(system_topics::SCHEDULE_TOPIC, 18, rw),
            TopicConfig::new(system_topics::BENCHMARK_TOPIC, 1024, rw),
            TopicConfig::new(format!("{}_REPLY_TOPIC", cfg.broker_cluster_name), 1, rw),
        ];
        // TBW102 carries INHERIT only when auto-create is on: that bit is what lets sends to
        // unknown topics create them.
        let tbw_perm = if cfg.auto_create_topic_enable { PERM_INHERIT | rw } else { rw };
        sys.push(TopicConfig::new(system_topics::TBW102, cfg.default_topic_queue_nums, tbw_perm));
        if cfg.cluster_topic_enable {
            sys.push(TopicConfig::new(cfg.broker_cluster_name.clone(), 16, PERM_INHERIT | rw));
        }
        if cfg.broker_topic_enable {
            sys.push(TopicConfig::new(cfg.broker_name.clone(), 1, PERM_INHERIT | rw));
        }
        if cfg.trace_topic_enable {
            sys.push(TopicConfig::new(cfg.msg_trace_topic_name.clone(), 1, rw));
        }
        if cfg.timer.enable {
            sys.push(TopicConfig::new(system_topics::WHEEL_TIMER_TOPIC, 1, rw));
        }
        for t in sys {
            // TBW102's perm follows the current autoCreateTopicEnable even if persisted.
            if t.topic_name == system_topics::TBW102 {
                self.replace(t.topic_name.clone(), t);
            } else {
                self.table.entry(t.topic_name.clone()).or_insert_with(|| t.into());
            }
        }
    }

    /// Apply `autoCreateTopicEnable` at runtime: TBW102's INHERIT bit is what lets a send to
    /// an unknown topic create it ([`Self::create_from_default`]), so toggling the bit is the
    /// whole switch. Java reads the flag per send instead; the effect is the same, and the
    /// bumped data version re-registers TBW102's new perm with the nameservers at once.
    pub fn set_auto_create(&self, enable: bool) {
        let changed = match self.table.get_mut(system_topics::TBW102) {
            Some(mut tbw) => {
                let tbw = &mut tbw.config;
                let perm = if enable { tbw.perm | PERM_INHERIT } else { tbw.perm & !PERM_INHERIT };
                let changed = perm != tbw.perm;
                tbw.perm = perm;
                changed
            }
            None => false,
        };
        if changed {
            tracing::info!(enable, "autoCreateTopicEnable changed");
            self.bump();
            self.changed.notify_one();
        }
    }

    /// Topic config by name.
    pub fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.table.get(topic).map(|e| e.config.clone())
    }

    /// (writeQueueNums, readQueueNums, perm, is multi-tag) without cloning the config.
    pub fn queue_info(&self, topic: &str) -> Option<(i32, i32, i32, bool)> {
        self.table.get(topic).map(|e| {
            let c = &e.config;
            (c.write_queue_nums, c.read_queue_nums, c.perm, c.topic_filter_type == "MULTI_TAG")
        })
    }

    /// [`Self::queue_info`] plus the topic's `messages_in` counters when `metrics` is on
    /// (created on the first send).
    pub fn send_info(&self, topic: &str, metrics: bool) -> Option<SendInfo> {
        self.table.get(topic).map(|e| {
            let c = &e.config;
            let counters = if metrics {
                e.counters
                    .get_or_init(|| {
                        let counted = !topic.starts_with(system_topics::RETRY_PREFIX)
                            && !topic.starts_with(system_topics::DLQ_PREFIX);
                        counted.then(Arc::default)
                    })
                    .clone()
            } else {
                None
            };
            SendInfo {
                write_queues: c.write_queue_nums,
                read_queues: c.read_queue_nums,
                perm: c.perm,
                multi_tag: c.topic_filter_type == "MULTI_TAG",
                counters,
            }
        })
    }

    /// Every topic's `messages_in` counters (those sent to since metrics are on).
    pub fn counters_in(&self) -> Vec<(String, Arc<TopicIn>)> {
        self.table
            .iter()
            .filter_map(|e| Some((e.key().clone(), e.counters.get()?.clone()?)))
            .collect()
    }

    /// True if the topic exists.
    pub fn contains(&self, topic: &str) -> bool {
        self.table.contains_key(topic)
    }

    /// Create `topic` from the template `default_topic` (§2.12) for a send from `client`.
    /// Refused if the template is missing or not inheritable, or if `client` has spent its
    /// auto-create budget (only real creations count against it).
    pub fn create_from_default(
        &self,
        topic: &str,
        default_topic: &str,
        queue_nums: i32,
        client: IpAddr,
    ) -> Result<TopicConfig, AutoCreateRefused> {
        if let Some(t) = self.get(topic) {
            return Ok(t);
        }
        let tpl = self.get(default_topic).ok_or(AutoCreateRefused::NoTemplate)?;
        if tpl.perm & PERM_INHERIT == 0 {
            return Err(AutoCreateRefused::NoTemplate);
        }
        if !self.auto_create_limit.admit(client) {
            let max = self.auto_create_limit.max();
            tracing::warn!(topic, %client, max, "auto-create refused: client over its budget");
            return Err(AutoCreateRefused::OverLimit { max });
        }
        let n = queue_nums.min(tpl.write_queue_nums).max(1);
        let mut tc = TopicConfig::new(topic, n, tpl.perm & !PERM_INHERIT);
        tc.topic_filter_type = tpl.topic_filter_type.clone();
        tracing::info!(topic, default_topic, queues = n, "auto-created topic");
        Ok(self.insert_new(tc))
    }

    /// Create a system/retry topic if missing (`%RETRY%g`, `%DLQ%g`).
    pub fn ensure(&self, topic: &str, queues: i32, perm: i32) -> TopicConfig {
        if let Some(t) = self.get(topic) {
            return t;
        }
        self.insert_new(TopicConfig::new(topic, queues.max(1), perm))
    }

    fn insert_new(&self, tc: TopicConfig) -> TopicConfig {
        let out = match self.table.entry(tc.topic_name.clone()) {
            dashmap::Entry::Occupied(e) => return e.get().config.clone(),
            dashmap::Entry::Vacant(v) => v.insert(tc.into()).value().config.clone(),
        };
        self.bump();
        out
    }

    /// Create or replace (admin). Returns the change's generation: await
    /// `file.written(g)` before answering to make it durable.
    pub fn update(&self, tc: TopicConfig) -> u64 {
        self.replace(tc.topic_name.clone(), tc);
        self.bump()
    }

    /// Insert or replace a config; a replaced topic keeps its counters (an update is not a
    /// new topic: its counters must not reset).
    fn replace(&self, name: String, tc: TopicConfig) {
        match self.table.entry(name) {
            dashmap::Entry::Occupied(mut e) => e.get_mut().config = tc,
            dashmap::Entry::Vacant(v) => {
                v.insert(tc.into());
            }
        }
    }

    /// Delete; the change's generation if it existed.
    pub fn delete(&self, topic: &str) -> Option<u64> {
        let existed = self.table.remove(topic).is_some();
        existed.then(|| self.bump())
    }

    /// Controller mode: this broker took a role under master epoch `epoch`; the registration
    /// carries it as the data version's state version (see
    /// [`DataVersion::next_version_with_state`]).
    pub fn set_state_version(&self, epoch: i64) {
        self.version.lock().next_version_with_state(epoch);
        self.file.mark_changed();
    }

    /// A change: new data version, the file marked for the config writer (no I/O here: one
    /// request may change thousands of entries), re-registration with the name servers.
    fn bump(&self) -> u64 {
        self.version.lock().next_version();
        let g = self.file.mark_changed();
        self.changed.notify_one();
        g
    }

    /// A slave follows its master's table (metadata sync, docs/ha-protocol.md §7): when the
    /// master's data version differs, the table is replaced by the master's, the version
    /// copied and the file written. Returns whether anything changed.
    pub fn follow_master(&self, w: TopicConfigSerializeWrapper) -> bool {
        if *self.version.lock() == w.data_version {
            return false;
        }
        self.table.retain(|k, _| w.topic_config_table.contains_key(k));
        for (k, v) in w.topic_config_table {
            self.replace(k, v);
        }
        *self.version.lock() = w.data_version;
        // Marked for the config writer (which also writes it at shutdown): without the mark,
        // the writer sees nothing to write and a promoted slave restarts without the topics.
        self.file.mark_changed();
        self.changed.notify_one();
        true
    }

    /// Snapshot as the register/GET_ALL_TOPIC_CONFIG wrapper.
    pub fn wrapper(&self) -> TopicConfigSerializeWrapper {
        let data_version = self.version.lock().clone();
        TopicConfigSerializeWrapper {
            topic_config_table: self
                .table
                .iter()
                .map(|e| (e.key().clone(), e.config.clone()))
                .collect(),
            data_version,
            ..Default::default()
        }
    }

    /// Topic names.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.table.iter().map(|e| e.key().clone()).collect();
        v.sort();
        v
    }

    /// Write `config/topics.json` if it changed since the last write (blocking I/O).
    pub fn persist(&self) -> std::io::Result<()> {
        self.file
            .write_if_changed(|| serde_json::to_vec_pretty(&self.wrapper()).unwrap_or_default())
            .map(|_| ())
    }
}
