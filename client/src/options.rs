//! Settings shared by producers, consumers and the admin client.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mq_common::acl::{Credentials, ENV_ACCESS_KEY, ENV_SECRET_KEY};
use mq_common::remoting::TlsClient;

/// Connection-level settings common to every client kind.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Nameserver addresses (`host:port`), parsed from a `;`-separated list.
    pub namesrv_addrs: Vec<String>,
    /// Instance name; part of the client id. Default: `<pid>#<counter>`, unique per client object
    /// so that two consumers in one process are distinct group members.
    pub instance_name: Option<String>,
    /// Our IP as announced in the client id and UNIQ_KEY. Default: the local address of the
    /// connection to the first reachable nameserver.
    pub client_ip: Option<IpAddr>,
    /// Timeout of ordinary RPCs (route lookup, offsets, heartbeats): 3 s.
    pub rpc_timeout: Duration,
    /// How often routes are refreshed from the nameserver: 30 s.
    pub route_refresh_interval: Duration,
    /// How often heartbeats are sent to every broker: 30 s.
    pub heartbeat_interval: Duration,
    /// ACL credentials every request is signed with. Default: from the environment
    /// variables `RMQ_ACCESS_KEY` and `RMQ_SECRET_KEY` when both are set, else none.
    pub credentials: Option<Credentials>,
    /// Connect with TLS, verifying servers against a CA. Default: on when `RMQ_TLS_CA`
    /// names a CA file (a file that cannot be read is logged and TLS stays off).
    pub tls: Option<TlsClient>,
}

/// TLS from `RMQ_TLS_CA`, if set and usable.
pub fn env_tls() -> Option<TlsClient> {
    TlsClient::from_env().unwrap_or_else(|e| {
        tracing::error!(error = %e, "RMQ_TLS_CA is set but unusable; not using TLS");
        None
    })
}

/// The credentials from `RMQ_ACCESS_KEY` / `RMQ_SECRET_KEY`, if both are set.
pub fn env_credentials() -> Option<Credentials> {
    Credentials::from_env(ENV_ACCESS_KEY, ENV_SECRET_KEY)
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            namesrv_addrs: Vec::new(),
            instance_name: None,
            client_ip: None,
            rpc_timeout: Duration::from_secs(3),
            route_refresh_interval: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(30),
            credentials: env_credentials(),
            tls: env_tls(),
        }
    }
}

/// The setters of [`ClientOptions`], written once for every builder that embeds it as a field
/// named `opts` (producer, push and pull consumer): `namesrv_addr`, `instance_name`,
/// `client_ip`, `rpc_timeout`, `route_refresh_interval`, `heartbeat_interval` and
/// `client_options`. A macro rather than a trait so callers need no extra `use` (the builder
/// API stays source-compatible) and rustdoc lists them on each builder.
macro_rules! client_option_setters {
    ($builder:ty) => {
        impl $builder {
            /// Nameserver address(es), `;`-separated.
            pub fn namesrv_addr(mut self, addrs: &str) -> Self {
                self.opts.namesrv_addrs = $crate::options::parse_namesrv_addrs(addrs);
                self
            }
            /// Instance name (part of the client id).
            pub fn instance_name(mut self, name: impl Into<String>) -> Self {
                self.opts.instance_name = Some(name.into());
                self
            }
            /// Override the detected client IP.
            pub fn client_ip(mut self, ip: std::net::IpAddr) -> Self {
                self.opts.client_ip = Some(ip);
                self
            }
            /// Timeout of ordinary RPCs: route lookups, offsets, heartbeats (default 3 s).
            pub fn rpc_timeout(mut self, t: std::time::Duration) -> Self {
                self.opts.rpc_timeout = t;
                self
            }
            /// Route refresh period (default 30 s).
            pub fn route_refresh_interval(mut self, t: std::time::Duration) -> Self {
                self.opts.route_refresh_interval = t;
                self
            }
            /// Heartbeat period (default 30 s).
            pub fn heartbeat_interval(mut self, t: std::time::Duration) -> Self {
                self.opts.heartbeat_interval = t;
                self
            }
            /// Sign every request with this access key and secret (ACL 1.0), overriding
            /// `RMQ_ACCESS_KEY` / `RMQ_SECRET_KEY`.
            pub fn credentials(
                mut self,
                access_key: impl Into<String>,
                secret_key: impl Into<String>,
            ) -> Self {
                self.opts.credentials =
                    Some(mq_common::acl::Credentials::new(access_key, secret_key));
                self
            }
            /// Connect with TLS, trusting the CA certificate(s) in `ca` (PEM).
            pub fn tls_ca(
                mut self,
                ca: &std::path::Path,
            ) -> Result<Self, $crate::error::ClientError> {
                self.opts.tls = Some(
                    mq_common::remoting::TlsClient::from_ca_file(ca)
                        .map_err($crate::error::ClientError::InvalidArgument)?,
                );
                Ok(self)
            }
            /// Replace all connection-level settings at once (e.g. one [`ClientOptions`]
            /// shared by a service's producer and consumers).
            ///
            /// [`ClientOptions`]: $crate::options::ClientOptions
            pub fn client_options(mut self, opts: $crate::options::ClientOptions) -> Self {
                self.opts = opts;
                self
            }
        }
    };
}
pub(crate) use client_option_setters;

/// Split a `;`-separated (also `,`) nameserver list, trimming blanks.
pub fn parse_namesrv_addrs(s: &str) -> Vec<String> {
    s.split([';', ',']).map(str::trim).filter(|a| !a.is_empty()).map(str::to_string).collect()
}

static INSTANCE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A process-unique default instance name: `<pid>#<counter>`.
pub(crate) fn default_instance_name() -> String {
    format!("{}#{}", std::process::id(), INSTANCE_COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namesrv_list() {
        assert_eq!(parse_namesrv_addrs(" a:1; b:2;;c:3 "), vec!["a:1", "b:2", "c:3"]);
        assert!(parse_namesrv_addrs("").is_empty());
        assert_ne!(default_instance_name(), default_instance_name());
    }
}
