//! Console settings: defaults < `conf/console.conf` (Java properties) < `MQCONSOLE_<KEY>`
//! environment variables < command line (`NAMESRV_ADDR` is the `-n` flag's default).
//!
//! Loaded by mq-common's layered loader, with the keys declared once in the key table below
//! (the same declaration style as the name server and the broker).

use std::path::PathBuf;
use std::time::Duration;

use mq_common::config::ConfigValue;

/// Environment prefix for per-key overrides (`MQCONSOLE_READ_ONLY_OPEN=false`).
pub const ENV_PREFIX: &str = "MQCONSOLE";

/// A non-empty list of name-server addresses (`a:1;b:2` or `a:1,b:2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrList(pub Vec<String>);

impl ConfigValue for AddrList {
    fn parse_value(s: &str) -> Result<Self, String> {
        let v = split_addrs(s);
        if v.is_empty() {
            return Err("empty; use host:port[;host:port]".into());
        }
        Ok(AddrList(v))
    }
    fn render_value(&self) -> String {
        self.0.join(";")
    }
}

/// Effective console settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// HTTP listen address (`listen`).
    pub listen: String,
    /// `server.port` (Apache dashboard's Spring key): replaces the port of `listen`.
    pub server_port: Option<u16>,
    /// Name-server addresses.
    pub namesrv: AddrList,
    /// Reads need a login too (`readRequiresLogin`, or the classic dashboard key
    /// `loginRequired`): every `/api` read, message bodies included.
    pub login_required: bool,
    /// Reads are open without login (`readOnlyOpen`, default true). Writes always need a login.
    pub read_only_open: bool,
    /// Admin password from config (else a generated one is stored hashed under `data_path`).
    pub admin_password: Option<String>,
    /// Where the console keeps its password hash and session key.
    pub data_path: PathBuf,
    /// TPS sampling interval, s (`sampleIntervalSecs`, at least 1).
    pub sample_interval_secs: u64,
    /// Per broker call timeout, ms (`brokerTimeoutMillis`, at least 100).
    pub broker_timeout_millis: u64,
    /// How long cluster info / topic lists are cached, ms (`clusterCacheMillis`).
    pub cluster_cache_millis: u64,
    /// Session lifetime, s (`sessionTtlSecs`, at least 60).
    pub session_ttl_secs: u64,
    /// A request's line and headers must arrive within this, s (`httpHeaderTimeoutSecs`, 10,
    /// at least 1); idle keep-alive connections are closed after it too.
    pub http_header_timeout_secs: u64,
    /// HTTP connections served at once (`httpMaxConnections`, 1024); one more gets 503.
    pub http_max_connections: usize,
    /// PEM certificate chain (`tlsCertPath`, as on the broker): with `tlsKeyPath`, the console
    /// serves HTTPS only and its session cookie is `Secure`.
    pub tls_cert_path: Option<PathBuf>,
    /// PEM private key (`tlsKeyPath`).
    pub tls_key_path: Option<PathBuf>,
    /// How often certificate and key are checked for changes, ms (`tlsReloadIntervalMillis`,
    /// 5000 as on the broker): a changed pair serves new connections without a restart.
    pub tls_reload_interval_millis: u64,
    /// Failed logins from one address that start a lockout (`loginMaxFailures`, 5, at least 1).
    pub login_max_failures: u32,
    /// Window in which those failures count (`loginFailureWindowSecs`, 900).
    pub login_failure_window_secs: u64,
    /// How long a locked-out address is refused, even with the right password
    /// (`loginLockoutSecs`, 300).
    pub login_lockout_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        Settings {
            listen: "0.0.0.0:8180".into(),
            server_port: None,
            namesrv: AddrList(vec!["127.0.0.1:9876".into()]),
            login_required: false,
            read_only_open: true,
            admin_password: None,
            data_path: home.join(".rmq-console"),
            sample_interval_secs: 5,
            broker_timeout_millis: 3000,
            cluster_cache_millis: 3000,
            session_ttl_secs: 12 * 3600,
            http_header_timeout_secs: 10,
            http_max_connections: 1024,
            tls_cert_path: None,
            tls_key_path: None,
            tls_reload_interval_millis: 5000,
            login_max_failures: 5,
            login_failure_window_secs: 900,
            login_lockout_secs: 300,
        }
    }
}

mq_common::config_keys!(Settings {
    listen: "listen", important;
    server_port: "server.port";
    namesrv: "rocketmq.config.namesrvAddrs" | "rocketmq.config.namesrvAddr" | "namesrvAddr",
        important;
    login_required: "readRequiresLogin" | "loginRequired" | "rocketmq.config.loginRequired",
        important;
    read_only_open: "readOnlyOpen", important;
    admin_password: "adminPassword";
    data_path: "dataPath" | "rocketmq.config.dataPath";
    sample_interval_secs: "sampleIntervalSecs";
    broker_timeout_millis: "brokerTimeoutMillis";
    cluster_cache_millis: "clusterCacheMillis";
    session_ttl_secs: "sessionTtlSecs";
    http_header_timeout_secs: "httpHeaderTimeoutSecs";
    http_max_connections: "httpMaxConnections";
    tls_cert_path: "tlsCertPath", important;
    tls_key_path: "tlsKeyPath";
    tls_reload_interval_millis: "tlsReloadIntervalMillis";
    login_max_failures: "loginMaxFailures";
    login_failure_window_secs: "loginFailureWindowSecs";
    login_lockout_secs: "loginLockoutSecs";
});

/// Split a nameserver list (`a:1;b:2` or `a:1,b:2`).
pub fn split_addrs(v: &str) -> Vec<String> {
    v.split([';', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

impl Settings {
    /// The address to listen on: `listen`, with its port replaced by `server.port` if set.
    pub fn listen_addr(&self) -> String {
        match self.server_port {
            Some(port) => {
                let host = self.listen.rsplit_once(':').map(|(h, _)| h).unwrap_or("0.0.0.0");
                format!("{host}:{port}")
            }
            None => self.listen.clone(),
        }
    }

    /// Reads need no login.
    pub fn reads_open(&self) -> bool {
        self.read_only_open && !self.login_required
    }

    /// TPS sampling interval.
    pub fn sample_interval(&self) -> Duration {
        Duration::from_secs(self.sample_interval_secs.max(1))
    }

    /// Per broker call timeout.
    pub fn broker_timeout(&self) -> Duration {
        Duration::from_millis(self.broker_timeout_millis.max(100))
    }

    /// How long cluster info / topic lists are cached.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cluster_cache_millis)
    }

    /// Session lifetime.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs.max(60))
    }

    /// The HTTPS certificate and key, when both are set. One without the other is an error
    /// (a console meant to be HTTPS must not quietly serve plaintext).
    pub fn tls_files(&self) -> Result<Option<(PathBuf, PathBuf)>, String> {
        match (&self.tls_cert_path, &self.tls_key_path) {
            (Some(c), Some(k)) => Ok(Some((c.clone(), k.clone()))),
            (None, None) => Ok(None),
            _ => Err("tlsCertPath and tlsKeyPath must be set together".into()),
        }
    }

    /// The failed-login limiter these settings describe.
    pub fn login_limiter(&self) -> crate::guard::LoginLimiter {
        crate::guard::LoginLimiter::new(
            self.login_max_failures,
            Duration::from_secs(self.login_failure_window_secs),
            Duration::from_secs(self.login_lockout_secs),
        )
    }

    /// The HTTP listener's limits.
    pub fn http_limits(&self) -> mq_common::http::HttpLimits {
        mq_common::http::HttpLimits {
            header_read_timeout: Duration::from_secs(self.http_header_timeout_secs.max(1)),
            max_connections: self.http_max_connections.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::config::{load_layered_with_env, ConfigKeys};

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
        let env = vec![("MQCONSOLE_SESSION_TTL_SECS".to_string(), "120".to_string())];
        let w = load_layered_with_env(&mut s, Some(&p), ENV_PREFIX, env, &[]).unwrap();
        assert_eq!(s.namesrv.0, vec!["h:1"]);
        assert!(!s.reads_open());
        assert_eq!(s.session_ttl(), Duration::from_secs(120));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("mystery"));
    }

    #[test]
    fn keys_apply() {
        let mut s = Settings::default();
        assert!(s.apply("rocketmq.config.namesrvAddrs", "a:1;b:2").unwrap());
        assert_eq!(s.namesrv.0, vec!["a:1", "b:2"]);
        assert!(s.apply("rocketmq.config.namesrvAddrs", " ; ").is_err());
        assert!(s.apply("loginRequired", "true").unwrap());
        assert!(!s.reads_open());
        assert!(s.apply("loginRequired", "maybe").is_err());
        assert!(!s.apply("nope", "1").unwrap());
        let mut s = Settings::default();
        assert!(s.apply("readRequiresLogin", "true").unwrap());
        assert!(!s.reads_open(), "readRequiresLogin closes reads");
        assert_eq!(s.tls_files(), Ok(None));
        s.apply("tlsCertPath", "/c.pem").unwrap();
        assert!(s.tls_files().is_err(), "a certificate without a key is refused");
        s.apply("tlsKeyPath", "/k.pem").unwrap();
        assert_eq!(s.tls_files(), Ok(Some(("/c.pem".into(), "/k.pem".into()))));
        s.apply("loginMaxFailures", "2").unwrap();
        s.apply("loginLockoutSecs", "1").unwrap();
        let l = s.login_limiter();
        let ip: std::net::IpAddr = "10.0.0.9".parse().unwrap();
        assert!(!l.failed(ip));
        assert!(l.failed(ip), "the second failure locks out");
        s.apply("server.port", "9999").unwrap();
        assert_eq!(s.listen_addr(), "0.0.0.0:9999");
    }
}
