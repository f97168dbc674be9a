//! Persist the broker configuration after UPDATE_BROKER_CONFIG, as Apache's
//! `Configuration.persist()` does: the whole current configuration is rewritten as
//! `key=value` lines into the file the broker was started with (`-c`), so a restart keeps
//! the update. Comments and unknown keys of the original file are not kept (Java drops them
//! too). Without `-c` the file is `<storePathRootDir>/config/broker.properties` (Java's
//! fallback is `~/store/config/broker.properties`; we keep it next to the store so tests and
//! side-by-side brokers never share it).

use std::path::{Path, PathBuf};

use mq_common::config::ConfigKeys;

use super::BrokerConfig;

/// Where [`persist`] writes `cfg`.
pub fn config_file_path(cfg: &BrokerConfig) -> PathBuf {
    cfg.config_file
        .clone()
        .unwrap_or_else(|| cfg.store.store_path_root_dir.join("config").join("broker.properties"))
}

/// Escape a key or value for a Java properties file (`\`, line breaks, and `=`/`:`/`#`/`!`
/// in keys), so `parse_properties` reads back exactly what was written.
fn escape(s: &str, is_key: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '=' | ':' | ' ' if is_key => {
                out.push('\\');
                out.push(c);
            }
            '#' | '!' if is_key && i == 0 => {
                out.push('\\');
                out.push(c);
            }
            // A leading space of a value would be eaten as separator whitespace.
            ' ' if i == 0 => out.push_str("\\ "),
            c => out.push(c),
        }
    }
    out
}

/// The configuration as properties text (every key, Java names).
pub fn render(cfg: &BrokerConfig) -> String {
    let mut text = String::from("# rmq broker configuration, rewritten by UPDATE_BROKER_CONFIG\n");
    for e in cfg.entries() {
        text.push_str(&escape(e.key, true));
        text.push('=');
        text.push_str(&escape(&e.value, false));
        text.push('\n');
    }
    text
}

/// Write `cfg` to `path` atomically (unique temp file beside it, fsync, rename, directory
/// fsync), so a crash mid-write leaves the old file, never a truncated one, and two writers
/// never share a temp file. Callers serialise updates (UPDATE_BROKER_CONFIG holds a lock).
pub fn persist(cfg: &BrokerConfig, path: &Path) -> std::io::Result<()> {
    crate::json_file::write_atomically(path, render(cfg).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::config::parse_properties;

    #[test]
    fn rendered_file_loads_back_to_the_same_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = BrokerConfig::default();
        c.apply("storePathRootDir", dir.path().join("st ore\\x").to_str().unwrap()).unwrap();
        c.apply("autoCreateTopicEnable", "false").unwrap();
        c.apply("fileReservedTime", "5").unwrap();
        c.apply("messageDelayLevel", "1s 2s").unwrap();
        c.apply("namesrvAddr", "127.0.0.1:9876;127.0.0.2:9876").unwrap();
        let path = dir.path().join("b.conf");
        persist(&c, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut back = BrokerConfig::default();
        for (k, v) in parse_properties(&text).unwrap() {
            assert_eq!(back.apply(&k, &v), Ok(true), "{k}={v}");
        }
        assert_eq!(back.entries(), c.entries());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["b.conf"], "no temp or backup file is left beside it");
    }

    #[test]
    fn default_path_is_under_the_store() {
        let mut c = BrokerConfig::default();
        c.apply("storePathRootDir", "/data/s").unwrap();
        assert_eq!(config_file_path(&c), Path::new("/data/s/config/broker.properties"));
        c.config_file = Some("/etc/b.conf".into());
        assert_eq!(config_file_path(&c), Path::new("/etc/b.conf"));
    }
}
