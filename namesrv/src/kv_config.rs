//! KV config (`kvConfig.json`, spec §5.1): namespace → key → value, persisted on every change.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

/// Namespace holding per-topic order configs (`broker-a:4;broker-b:4`).
pub const NAMESPACE_ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

/// The file's JSON form: `{"configTable":{"<ns>":{"<key>":"<value>"}}}`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct KvConfigFile {
    config_table: BTreeMap<String, BTreeMap<String, String>>,
}

/// A KV config file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KvConfigError {
    /// I/O on the file.
    #[error("kv config file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not the expected JSON.
    #[error("kv config file {} is not valid: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
}

/// The KV config table and its file.
pub struct KvConfig {
    path: PathBuf,
    table: RwLock<BTreeMap<String, BTreeMap<String, String>>>,
    /// Serializes persisting; held across snapshot + write so the file always ends up with the
    /// latest state even when two updates persist concurrently.
    persist: Mutex<()>,
}

impl KvConfig {
    /// Load from `path`; a missing file is an empty table, an unreadable or corrupt one an
    /// error (starting empty would silently lose the operator's config on the next write).
    pub fn load(path: &Path) -> Result<Self, KvConfigError> {
        let table = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => BTreeMap::new(),
            Ok(bytes) => {
                let f: KvConfigFile = mq_common::protocol::lenient_json::from_slice(&bytes)
                    .map_err(|source| KvConfigError::Parse { path: path.to_path_buf(), source })?;
                f.config_table
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(KvConfigError::Io { path: path.to_path_buf(), source }),
        };
        let n: usize = table.values().map(BTreeMap::len).sum();
        tracing::info!(path = %path.display(), entries = n, "kv config loaded");
        Ok(KvConfig {
            path: path.to_path_buf(),
            table: RwLock::new(table),
            persist: Mutex::new(()),
        })
    }

    /// The backing file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// PUT_KV_CONFIG; persists. On a persist error the value stays set in memory.
    pub fn put(&self, namespace: &str, key: &str, value: &str) -> Result<(), KvConfigError> {
        let prev = self
            .table
            .write()
            .entry(namespace.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
        tracing::info!(namespace, key, value, ?prev, "kv config put");
        self.persist()
    }

    /// GET_KV_CONFIG.
    pub fn get(&self, namespace: &str, key: &str) -> Option<String> {
        self.table.read().get(namespace).and_then(|m| m.get(key)).cloned()
    }

    /// DELETE_KV_CONFIG; persists when something was removed.
    pub fn delete(&self, namespace: &str, key: &str) -> Result<(), KvConfigError> {
        let removed = {
            let mut t = self.table.write();
            let removed = t.get_mut(namespace).and_then(|m| m.remove(key));
            if t.get(namespace).is_some_and(BTreeMap::is_empty) {
                t.remove(namespace);
            }
            removed
        };
        if removed.is_some() {
            tracing::info!(namespace, key, "kv config deleted");
            self.persist()?;
        }
        Ok(())
    }

    /// GET_KVLIST_BY_NAMESPACE: the namespace's table, `None` if empty/absent.
    pub fn namespace(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.table.read().get(namespace).filter(|m| !m.is_empty()).cloned()
    }

    /// Write the table with a crash-safe replace: temp file in the same directory, fsync,
    /// rename over the old file, fsync the directory.
    fn persist(&self) -> Result<(), KvConfigError> {
        let _guard = self.persist.lock();
        let snapshot = KvConfigFile { config_table: self.table.read().clone() };
        let json = serde_json::to_vec_pretty(&snapshot).expect("string maps serialize");
        let io = |source| KvConfigError::Io { path: self.path.clone(), source };
        let dir =
            self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&json).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_delete_persist_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/kvConfig.json");
        let kv = KvConfig::load(&path).unwrap();
        assert_eq!(kv.get("ns", "k"), None);
        kv.put("ns", "k", "v").unwrap();
        kv.put(NAMESPACE_ORDER_TOPIC_CONFIG, "T", "b:4").unwrap();
        assert_eq!(kv.get("ns", "k").as_deref(), Some("v"));
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["configTable"]["ns"]["k"], "v");

        let again = KvConfig::load(&path).unwrap();
        assert_eq!(again.get(NAMESPACE_ORDER_TOPIC_CONFIG, "T").as_deref(), Some("b:4"));
        again.delete("ns", "k").unwrap();
        assert!(again.namespace("ns").is_none());
        let third = KvConfig::load(&path).unwrap();
        assert_eq!(third.get("ns", "k"), None);
        assert!(!dir.path().join("sub/kvConfig.json.tmp").exists());
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = KvConfig::load(&path).err().unwrap().to_string();
        assert!(err.contains("kv.json"), "{err}");
    }

    #[test]
    fn java_written_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.json");
        std::fs::write(&path, r#"{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"broker-a:4"}}}"#)
            .unwrap();
        let kv = KvConfig::load(&path).unwrap();
        assert_eq!(kv.namespace(NAMESPACE_ORDER_TOPIC_CONFIG).unwrap()["T"], "broker-a:4");
    }
}
