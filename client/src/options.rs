//! Settings shared by producers, consumers and the admin client.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
        }
    }
}

/// Split a `;`-separated (also `,`) nameserver list, trimming blanks.
pub fn parse_namesrv_addrs(s: &str) -> Vec<String> {
    s.split([';', ','])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect()
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
