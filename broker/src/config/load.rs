//! Layered loading (mq-common's loader): defaults < file (`-c`) < environment
//! (`NAMESRV_ADDR`, `MQBROKER_<UPPER_SNAKE_KEY>`) < command line.

use std::path::Path;

use mq_common::config::{load_layered, ConfigEntry, ConfigError, ConfigKeys};

use super::BrokerConfig;

/// Environment prefix for per-key overrides (`MQBROKER_LISTEN_PORT=10911`).
pub const ENV_PREFIX: &str = "MQBROKER";

/// Why the configuration was refused.
pub type ConfigLoadError = ConfigError;

impl ConfigKeys for BrokerConfig {
    fn apply(&mut self, key: &str, value: &str) -> Result<bool, String> {
        BrokerConfig::apply(self, key, value)
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        BrokerConfig::entries(self).into_iter().map(|(key, value, important)| ConfigEntry { key, value, important }).collect()
    }
}

/// Load `file`, the environment and `cli` into `cfg`. Returns warnings (unknown keys); an
/// invalid value is an error naming the key.
pub fn load_config(cfg: &mut BrokerConfig, file: Option<&Path>, cli: &[(String, String)]) -> Result<Vec<String>, ConfigLoadError> {
    let mut sets = Vec::new();
    // Apache's NAMESRV_ADDR sits between the file and the command line.
    if let Ok(addr) = std::env::var("NAMESRV_ADDR") {
        if !addr.trim().is_empty() {
            sets.push(("namesrvAddr".to_string(), addr));
        }
    }
    sets.extend(cli.iter().cloned());
    load_layered(cfg, file, ENV_PREFIX, &sets)
}
