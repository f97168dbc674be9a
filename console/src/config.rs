//! Console settings: defaults < `conf/console.conf` (Java properties) < `NAMESRV_ADDR` env <
//! command line.
//!
//! The file is parsed with `mq_common::config::parse_properties` (Java properties semantics);
//! the console's keys are applied here.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Effective console settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// HTTP listen address.
    pub listen: String,
    /// Nameserver addresses.
    pub namesrv: Vec<String>,
    /// Reads need a login too (classic dashboard key `loginRequired`).
    pub login_required: bool,
    /// Reads are open without login (`readOnlyOpen`, default true). Writes always need a login.
    pub read_only_open: bool,
    /// Admin password from config (else a generated one is stored hashed under `data_path`).
    pub admin_password: Option<String>,
    /// Where the console keeps its password hash and session key.
    pub data_path: PathBuf,
    /// TPS sampling interval.
    pub sample_interval: Duration,
    /// Per broker call timeout.
    pub broker_timeout: Duration,
    /// How long cluster info / topic lists are cached.
    pub cache_ttl: Duration,
    /// Session lifetime.
    pub session_ttl: Duration,
    /// HTTP header-read timeout and connection cap (`httpHeaderTimeoutSecs`,
    /// `httpMaxConnections`).
    pub http: mq_common::http::HttpLimits,
}

impl Default for Settings {
    fn default() -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        Settings {
            listen: "0.0.0.0:8180".into(),
            namesrv: vec!["127.0.0.1:9876".into()],
            login_required: false,
            read_only_open: true,
            admin_password: None,
            data_path: home.join(".rmq-console"),
            sample_interval: Duration::from_secs(5),
            broker_timeout: Duration::from_secs(3),
            cache_ttl: Duration::from_secs(3),
            session_ttl: Duration::from_secs(12 * 3600),
            http: mq_common::http::HttpLimits::default(),
        }
    }
}

/// Settings errors name the key and the bad value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// File could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The file is not valid Java properties.
    #[error("cannot parse {0}: {1}")]
    Parse(PathBuf, String),
    /// Bad value.
    #[error("invalid value for {key}: {value:?} ({why})")]
    Invalid {
        /// Key.
        key: String,
        /// Value.
        value: String,
        /// Reason.
        why: String,
    },
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            key: key.into(),
            value: v.into(),
            why: "expected true or false".into(),
        }),
    }
}

fn parse_u64(key: &str, v: &str) -> Result<u64, ConfigError> {
    v.parse().map_err(|_| ConfigError::Invalid {
        key: key.into(),
        value: v.into(),
        why: "expected a whole number".into(),
    })
}

/// Split a nameserver list (`a:1;b:2` or `a:1,b:2`).
pub fn split_addrs(v: &str) -> Vec<String> {
    v.split([';', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

impl Settings {
    /// Apply one key; returns false for unknown keys (reported as warnings).
    pub fn apply(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "rocketmq.config.namesrvAddrs" | "rocketmq.config.namesrvAddr" | "namesrvAddr" => {
                let v = split_addrs(value);
                if !v.is_empty() {
                    self.namesrv = v;
                }
            }
            "loginRequired" | "rocketmq.config.loginRequired" => {
                self.login_required = parse_bool(key, value)?
            }
            "readOnlyOpen" => self.read_only_open = parse_bool(key, value)?,
            "adminPassword" => self.admin_password = (!value.is_empty()).then(|| value.to_string()),
            "dataPath" | "rocketmq.config.dataPath" => self.data_path = PathBuf::from(value),
            "listen" => self.listen = value.to_string(),
            "server.port" => {
                let port = parse_u64(key, value)?;
                let host = self
                    .listen
                    .rsplit_once(':')
                    .map(|(h, _)| h.to_string())
                    .unwrap_or_else(|| "0.0.0.0".into());
                self.listen = format!("{host}:{port}");
            }
            "sampleIntervalSecs" => {
                self.sample_interval = Duration::from_secs(parse_u64(key, value)?.max(1))
            }
            "brokerTimeoutMillis" => {
                self.broker_timeout = Duration::from_millis(parse_u64(key, value)?.max(100))
            }
            "clusterCacheMillis" => self.cache_ttl = Duration::from_millis(parse_u64(key, value)?),
            "sessionTtlSecs" => {
                self.session_ttl = Duration::from_secs(parse_u64(key, value)?.max(60))
            }
            "httpHeaderTimeoutSecs" => {
                self.http.header_read_timeout = Duration::from_secs(parse_u64(key, value)?.max(1))
            }
            "httpMaxConnections" => {
                self.http.max_connections = parse_u64(key, value)?.max(1) as usize
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Load a properties file on top of the current settings; returns warnings (unknown keys).
    pub fn load_file(&mut self, path: &Path) -> Result<Vec<String>, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_path_buf(), e))?;
        let mut warnings = Vec::new();
        let pairs = mq_common::config::parse_properties(&text)
            .map_err(|e| ConfigError::Parse(path.to_path_buf(), e.to_string()))?;
        for (k, v) in pairs {
            if !self.apply(&k, &v)? {
                warnings.push(format!("{}: unknown key {k} ignored", path.display()));
            }
        }
        Ok(warnings)
    }

    /// Reads need no login.
    pub fn reads_open(&self) -> bool {
        self.read_only_open && !self.login_required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_loads_with_warnings_for_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("console.conf");
        std::fs::write(
            &p,
            "# c\nrocketmq.config.namesrvAddrs = h:1\nreadOnlyOpen: false\nmystery=1\n",
        )
        .unwrap();
        let mut s = Settings::default();
        let w = s.load_file(&p).unwrap();
        assert_eq!(s.namesrv, vec!["h:1"]);
        assert!(!s.reads_open());
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("mystery"));
    }

    #[test]
    fn keys_apply() {
        let mut s = Settings::default();
        assert!(s.apply("rocketmq.config.namesrvAddrs", "a:1;b:2").unwrap());
        assert_eq!(s.namesrv, vec!["a:1", "b:2"]);
        assert!(s.apply("loginRequired", "true").unwrap());
        assert!(!s.reads_open());
        assert!(s.apply("loginRequired", "maybe").is_err());
        assert!(!s.apply("nope", "1").unwrap());
        s.apply("server.port", "9999").unwrap();
        assert_eq!(s.listen, "0.0.0.0:9999");
    }
}
