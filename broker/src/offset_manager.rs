//! Consumer offsets (`config/consumerOffset.json`, Java format
//! `{"offsetTable":{"topic@group":{"0":12}}}`, parsed leniently: fastjson writes the queue-id
//! keys unquoted). Persisted every `flushConsumerOffsetInterval` and at shutdown.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use dashmap::DashMap;
use mq_common::protocol::lenient_json;

use crate::json_file::{self, JsonFile};

#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct OffsetFile {
    offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

/// `topic@group` → queueId → next offset to consume.
pub struct ConsumerOffsetManager {
    table: DashMap<String, BTreeMap<i32, i64>>,
    file: JsonFile,
    /// Set per commit (one relaxed store on the pull path); the periodic flush writes.
    dirty: AtomicBool,
}

fn key(topic: &str, group: &str) -> String {
    let mut k = String::with_capacity(topic.len() + group.len() + 1);
    k.push_str(topic);
    k.push('@');
    k.push_str(group);
    k
}

impl ConsumerOffsetManager {
    /// Load from `<root>/config/consumerOffset.json`.
    pub fn load(root: &std::path::Path) -> Self {
        let path = root.join("config").join("consumerOffset.json");
        let f: Option<OffsetFile> =
            json_file::read_with_backup(&path, |t| lenient_json::from_str(t).ok());
        let table = f.map(|f| f.offset_table.into_iter().collect()).unwrap_or_default();
        ConsumerOffsetManager { table, file: JsonFile::new(path), dirty: AtomicBool::new(false) }
    }

    /// Committed offset, `None` if never committed.
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.table.get(&key(topic, group)).and_then(|m| m.get(&queue_id).copied())
    }

    /// A slave takes its master's offsets (metadata sync, Java's `putAll`: the master's
    /// entries win, entries only the slave has stay). `json` is GET_ALL_CONSUMER_OFFSET's body.
    pub fn follow_master(&self, json: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(json).map_err(|e| e.to_string())?;
        let f: OffsetFile = lenient_json::from_str(text).map_err(|e| e.to_string())?;
        for (k, v) in f.offset_table {
            self.table.insert(k, v);
        }
        self.dirty.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Store an offset.
    pub fn commit(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        self.table.entry(key(topic, group)).or_default().insert(queue_id, offset);
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// All offsets of a (topic, group).
    pub fn offsets_of(&self, topic: &str, group: &str) -> BTreeMap<i32, i64> {
        self.table.get(&key(topic, group)).map(|m| m.clone()).unwrap_or_default()
    }

    /// Groups that have offsets for `topic`.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        self.table
            .iter()
            .filter_map(|e| {
                e.key().split_once('@').filter(|(t, _)| *t == topic).map(|(_, g)| g.to_string())
            })
            .collect()
    }

    /// Topics a group has offsets for.
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        self.table
            .iter()
            .filter_map(|e| {
                e.key().rsplit_once('@').filter(|(_, g)| *g == group).map(|(t, _)| t.to_string())
            })
            .collect()
    }

    /// Every `(topic, group, queueId → offset)` (for the metrics scrape).
    pub fn all(&self) -> Vec<(String, String, BTreeMap<i32, i64>)> {
        self.table
            .iter()
            .filter_map(|e| {
                let (t, g) = e.key().split_once('@')?;
                Some((t.to_string(), g.to_string(), e.value().clone()))
            })
            .collect()
    }

    /// Drop a group's offsets (all topics).
    pub fn remove_group(&self, group: &str) {
        self.table.retain(|k, _| k.rsplit_once('@').map(|(_, g)| g != group).unwrap_or(true));
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Drop a topic's offsets (all groups).
    pub fn remove_topic(&self, topic: &str) {
        self.table.retain(|k, _| k.split_once('@').map(|(t, _)| t != topic).unwrap_or(true));
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// The whole table as Java JSON.
    pub fn to_json(&self, pretty: bool) -> Vec<u8> {
        let f = OffsetFile {
            offset_table: self.table.iter().map(|e| (e.key().clone(), e.value().clone())).collect(),
        };
        if pretty { serde_json::to_vec_pretty(&f) } else { serde_json::to_vec(&f) }
            .unwrap_or_default()
    }

    /// Write the file if anything changed since the last write (blocking I/O).
    pub fn persist(&self) -> std::io::Result<()> {
        if self.dirty.swap(false, Ordering::Relaxed) {
            self.file.mark_changed();
        }
        let r = self.file.write_if_changed(|| self.to_json(true)).map(|_| ());
        if r.is_err() {
            self.dirty.store(true, Ordering::Relaxed);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persist_and_reload_java_format() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(
            dir.path().join("config/consumerOffset.json"),
            "{\"offsetTable\":{\"T@G\":{0:12,1:40}}}",
        )
        .unwrap();
        let m = ConsumerOffsetManager::load(dir.path());
        assert_eq!(m.query("G", "T", 1), Some(40));
        m.commit("G", "T", 0, 13);
        m.persist().unwrap();
        let m2 = ConsumerOffsetManager::load(dir.path());
        assert_eq!(m2.query("G", "T", 0), Some(13));
        assert_eq!(m2.groups_of_topic("T"), vec!["G".to_string()]);
    }
}
