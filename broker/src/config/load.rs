//! Layered loading (mq-common's loader): defaults (incl. `NAMESRV_ADDR`) < file (`-c`) <
//! environment (`MQBROKER_<UPPER_SNAKE_KEY>`) < command line (`-n`, `--set`).

use std::path::Path;

use mq_common::config::{load_layered, ConfigError};

use super::BrokerConfig;

/// Environment prefix for per-key overrides (`MQBROKER_LISTEN_PORT=10911`).
pub const ENV_PREFIX: &str = "MQBROKER";

/// Why the configuration was refused.
pub type ConfigLoadError = ConfigError;

/// Load `file`, the environment and `cli` into `cfg`. Returns warnings (unknown keys); an
/// invalid value is an error naming the key.
pub fn load_config(
    cfg: &mut BrokerConfig,
    file: Option<&Path>,
    cli: &[(String, String)],
) -> Result<Vec<String>, ConfigLoadError> {
    // As in Apache's broker, NAMESRV_ADDR is only the default: the file, MQBROKER_NAMESRV_ADDR
    // and -n all override it.
    if let Ok(addr) = std::env::var("NAMESRV_ADDR") {
        if !addr.trim().is_empty() {
            cfg.namesrv_addr = Some(addr.trim().to_string());
        }
    }
    load_layered(cfg, file, ENV_PREFIX, cli)
}
