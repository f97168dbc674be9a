//! [`SecurityConfig`]: the access-control and TLS keys shared by the broker and the name
//! server (flattened into each server's config; same names in both).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ConfigValue;
use crate::acl::Credentials;

/// `tlsMode` (Java's `tls.server.mode`): how the remoting port treats TLS
/// (docs/acl-protocol.md §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plaintext only; a TLS handshake is closed.
    Disabled,
    /// Both on one port: a first byte 0x16 starts TLS, anything else is plaintext (Java's
    /// default). Without a certificate, TLS connections are closed.
    #[default]
    Permissive,
    /// TLS only; plaintext connections are closed.
    Enforcing,
}

impl ConfigValue for TlsMode {
    fn parse_value(s: &str) -> Result<Self, String> {
        match s.trim() {
            "disabled" => Ok(TlsMode::Disabled),
            "permissive" => Ok(TlsMode::Permissive),
            "enforcing" => Ok(TlsMode::Enforcing),
            o => Err(format!("'{o}' is not one of disabled, permissive, enforcing")),
        }
    }
    fn render_value(&self) -> String {
        match self {
            TlsMode::Disabled => "disabled",
            TlsMode::Permissive => "permissive",
            TlsMode::Enforcing => "enforcing",
        }
        .into()
    }
}

/// Access control and TLS settings of a server, and the credentials it signs its own
/// outgoing requests with (broker → name server).
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityConfig {
    /// `aclEnable`: check every request against `plain_acl.yml`.
    pub acl_enable: bool,
    /// `aclFilePath`: the accounts file; default `plain_acl.yml` beside the `-c` file.
    pub acl_file_path: Option<PathBuf>,
    /// `aclReloadIntervalMillis`: how often the file is checked for changes (Java: 5 s).
    pub acl_reload_interval_millis: u64,
    /// `aclCheckReads` (name server): reads need a valid signature too (default: open).
    pub acl_check_reads: bool,
    /// `accessKey`: the account this server signs its own requests with.
    pub access_key: Option<String>,
    /// `secretKey`: that account's secret.
    pub secret_key: Option<String>,
    /// `tlsMode` / `tls.server.mode`.
    pub tls_mode: TlsMode,
    /// `tlsCertPath` / `tls.server.certPath`: PEM certificate chain.
    pub tls_cert_path: Option<PathBuf>,
    /// `tlsKeyPath` / `tls.server.keyPath`: PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key_path: Option<PathBuf>,
    /// `tlsReloadIntervalMillis`: how often certificate and key are checked for changes.
    pub tls_reload_interval_millis: u64,
    /// `tlsEnable` / `tls.enable`: this server's own outgoing connections use TLS.
    pub tls_enable: bool,
    /// `tlsTrustCertPath` / `tls.client.trustCertPath`: CA certificates (PEM) trusted by
    /// outgoing TLS connections (needed with `tlsEnable`).
    pub tls_trust_cert_path: Option<PathBuf>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            acl_enable: false,
            acl_file_path: None,
            acl_reload_interval_millis: 5000,
            acl_check_reads: false,
            access_key: None,
            secret_key: None,
            tls_mode: TlsMode::Permissive,
            tls_cert_path: None,
            tls_key_path: None,
            tls_reload_interval_millis: 5000,
            tls_enable: false,
            tls_trust_cert_path: None,
        }
    }
}

crate::config_keys!(SecurityConfig {
    acl_enable: "aclEnable", important;
    acl_file_path: "aclFilePath";
    acl_reload_interval_millis: "aclReloadIntervalMillis";
    acl_check_reads: "aclCheckReads";
    access_key: "accessKey";
    secret_key: "secretKey";
    tls_mode: "tlsMode" | "tls.server.mode", important;
    tls_cert_path: "tlsCertPath" | "tls.server.certPath";
    tls_key_path: "tlsKeyPath" | "tls.server.keyPath";
    tls_reload_interval_millis: "tlsReloadIntervalMillis";
    tls_enable: "tlsEnable" | "tls.enable";
    tls_trust_cert_path: "tlsTrustCertPath" | "tls.client.trustCertPath";
});

/// Keys never changed over the wire (UPDATE_BROKER_CONFIG / UPDATE_NAMESRV_CONFIG): they
/// decide who may send such a request, or name files the server reads.
pub const WIRE_FORBIDDEN_KEYS: &[&str] = &[
    "aclEnable",
    "aclFilePath",
    "aclReloadIntervalMillis",
    "aclCheckReads",
    "accessKey",
    "secretKey",
    "tlsMode",
    "tls.server.mode",
    "tlsCertPath",
    "tls.server.certPath",
    "tlsKeyPath",
    "tls.server.keyPath",
    "tlsReloadIntervalMillis",
    "tlsEnable",
    "tls.enable",
    "tlsTrustCertPath",
    "tls.client.trustCertPath",
];

/// Keys whose values are secrets: shown as `****` when a server reports its configuration.
pub const SECRET_KEYS: &[&str] = &["secretKey"];

impl SecurityConfig {
    /// The ACL file: `aclFilePath`, else `plain_acl.yml` beside the `-c` file, else
    /// `$ROCKETMQ_HOME/conf/plain_acl.yml`, else `conf/plain_acl.yml`.
    pub fn acl_file(&self, config_file: Option<&Path>) -> PathBuf {
        if let Some(p) = &self.acl_file_path {
            return p.clone();
        }
        if let Some(dir) = config_file.and_then(Path::parent) {
            return dir.join("plain_acl.yml");
        }
        match std::env::var_os("ROCKETMQ_HOME").filter(|h| !h.is_empty()) {
            Some(home) => PathBuf::from(home).join("conf/plain_acl.yml"),
            None => PathBuf::from("conf/plain_acl.yml"),
        }
    }

    /// ACL reload period.
    pub fn acl_reload_interval(&self) -> Duration {
        Duration::from_millis(self.acl_reload_interval_millis.max(10))
    }

    /// TLS certificate reload period.
    pub fn tls_reload_interval(&self) -> Duration {
        Duration::from_millis(self.tls_reload_interval_millis.max(10))
    }

    /// The credentials outgoing requests are signed with, if both keys are set.
    pub fn credentials(&self) -> Option<Credentials> {
        Credentials::from_parts(self.access_key.as_deref(), self.secret_key.as_deref())
    }

    /// The TLS of this server's own outgoing connections (`tlsEnable`, trusting
    /// `tlsTrustCertPath`), or `None` when they are plaintext.
    pub fn outbound_tls(&self) -> Result<Option<crate::remoting::TlsClient>, String> {
        if !self.tls_enable {
            return Ok(None);
        }
        let ca = self.tls_trust_cert_path.as_deref().ok_or(
            "tlsEnable=true needs tlsTrustCertPath (the CA of the servers this one connects to)",
        )?;
        crate::remoting::TlsClient::from_ca_file(ca).map(Some)
    }

    /// Check relations between keys.
    pub fn validate(&self) -> Result<(), String> {
        if self.access_key.is_some() != self.secret_key.is_some() {
            return Err("accessKey and secretKey must be set together".into());
        }
        if self.tls_cert_path.is_some() != self.tls_key_path.is_some() {
            return Err("tlsCertPath and tlsKeyPath must be set together".into());
        }
        if self.tls_mode == TlsMode::Enforcing && self.tls_cert_path.is_none() {
            return Err("tlsMode=enforcing needs tlsCertPath and tlsKeyPath".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigKeys;

    #[test]
    fn keys_and_aliases() {
        let mut c = SecurityConfig::default();
        assert_eq!(c.apply("aclEnable", "true"), Ok(true));
        assert_eq!(c.apply("tls.server.mode", "enforcing"), Ok(true));
        assert!(c.apply("tlsMode", "strict").unwrap_err().contains("enforcing"));
        assert!(c.validate().unwrap_err().contains("enforcing needs"));
        c.apply("tlsCertPath", "/c.pem").unwrap();
        c.apply("tlsKeyPath", "/k.pem").unwrap();
        c.validate().unwrap();
        c.apply("accessKey", "RocketMQ").unwrap();
        assert!(c.validate().is_err());
        c.apply("secretKey", "12345678").unwrap();
        assert_eq!(c.credentials().unwrap().access_key, "RocketMQ");
        for e in c.entries() {
            assert!(
                WIRE_FORBIDDEN_KEYS.contains(&e.key),
                "{} must not be settable over the wire",
                e.key
            );
        }
    }

    #[test]
    fn acl_file_beside_the_config() {
        let c = SecurityConfig::default();
        assert_eq!(
            c.acl_file(Some(Path::new("/etc/rmq/broker.conf"))),
            PathBuf::from("/etc/rmq/plain_acl.yml")
        );
        let c = SecurityConfig { acl_file_path: Some("/x.yml".into()), ..Default::default() };
        assert_eq!(c.acl_file(None), PathBuf::from("/x.yml"));
    }
}
