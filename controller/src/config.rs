//! `ControllerConfig`: the controller's settings under Java's key names where they exist
//! (`controllerDLegerGroup`, `controllerDLegerPeers`, `controllerDLegerSelfId`,
//! `controllerStorePath`, `scanNotActiveBrokerInterval`, `enableElectUncleanMaster`).

use std::path::PathBuf;
use std::time::Duration;

use mq_common::config::{expand_home, SecurityConfig};

/// Prefix of environment overrides: `MQCONTROLLER_CONTROLLER_DLEGER_SELF_ID=n1`.
pub const ENV_PREFIX: &str = "MQCONTROLLER";

/// One controller replica in `controllerDLegerPeers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its self id (`n0`).
    pub self_id: String,
    /// `host:port`: the one address it serves Raft and controller requests on.
    pub addr: String,
}

/// Controller configuration. Timings are configurable so fault tests run in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    /// Name of the Raft group (`controllerDLegerGroup`).
    pub group: String,
    /// `n0-host:port;n1-host:port;...`: every replica, the same ids in the same order on each
    /// of them (a replica's Raft node id is its position in this list). A replica listens on
    /// its own entry's address and reaches the others at theirs, so the addresses may differ
    /// between replicas' lists when a peer is reached through a proxy (as in DLedger).
    pub peers: String,
    /// This replica's id in `peers` (`controllerDLegerSelfId`).
    pub self_id: String,
    /// Raft log, vote and snapshot directory (`controllerStorePath`).
    pub store_path: PathBuf,
    /// How often the leader looks for brokers whose heartbeats stopped, ms (rmq 1 s, Java
    /// 5 s: with the heartbeat timeout it bounds how soon a silent master is replaced; a
    /// closed broker connection triggers a scan at once anyway).
    pub scan_not_active_broker_interval: u64,
    /// A broker silent this long is dead unless its heartbeat names its own timeout, ms
    /// (rmq 6 s, Java 10 s; rmq brokers send their `controllerHeartBeatTimeoutMills`, also
    /// 6 s by default). A new leader also waits this long before its first scan.
    pub broker_heartbeat_timeout: u64,
    /// Allow electing a replica outside the sync state set (may lose acknowledged messages).
    pub enable_elect_unclean_master: bool,
    /// Raft leader heartbeat period, ms (rmq key).
    pub raft_heartbeat_interval: u64,
    /// Raft election timeout lower bound, ms; the upper bound is twice it (rmq key).
    pub raft_election_timeout: u64,
    /// Take a Raft snapshot (and drop older log) every this many applied entries (rmq key).
    pub raft_snapshot_logs: u64,
    /// Access control and TLS (`aclEnable`, `accessKey`/`secretKey` for the Raft traffic and
    /// the role-change pushes this replica sends, `tlsMode`, ...). Not keys of this struct:
    /// `mqcontroller` parses them beside it, and a controller embedded in a name server takes
    /// the name server's (docs/security.md, "Controller").
    pub security: SecurityConfig,
    /// The `-c` file, if any: the ACL file defaults to `plain_acl.yml` beside it.
    pub config_file: Option<PathBuf>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            group: "DefaultControllerGroup".into(),
            peers: "n0-127.0.0.1:9878".into(),
            self_id: "n0".into(),
            store_path: expand_home("~/DLedgerController"),
            scan_not_active_broker_interval: 1_000,
            broker_heartbeat_timeout: 6_000,
            enable_elect_unclean_master: false,
            raft_heartbeat_interval: 250,
            raft_election_timeout: 1_500,
            raft_snapshot_logs: 1_000,
            security: SecurityConfig::default(),
            config_file: None,
        }
    }
}

mq_common::config_keys!(ControllerConfig {
    group: "controllerDLegerGroup", important;
    peers: "controllerDLegerPeers", important;
    self_id: "controllerDLegerSelfId", important;
    store_path: "controllerStorePath", important;
    scan_not_active_broker_interval: "scanNotActiveBrokerInterval", important;
    broker_heartbeat_timeout: "brokerHeartbeatTimeoutMills";
    enable_elect_unclean_master: "enableElectUncleanMaster", important;
    raft_heartbeat_interval: "controllerRaftHeartbeatIntervalMs";
    raft_election_timeout: "controllerRaftElectionTimeoutMs";
    raft_snapshot_logs: "controllerRaftSnapshotLogs";
});

impl ControllerConfig {
    /// The parsed peer list, in order (a peer's index is its Raft node id).
    pub fn peer_list(&self) -> Result<Vec<Peer>, String> {
        let mut out: Vec<Peer> = Vec::new();
        for part in self.peers.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, addr) = part.split_once('-').ok_or_else(|| {
                format!("controllerDLegerPeers: '{part}' is not selfId-host:port")
            })?;
            let (id, addr) = (id.trim(), addr.trim());
            if id.is_empty()
                || addr.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none()
            {
                return Err(format!("controllerDLegerPeers: '{part}' is not selfId-host:port"));
            }
            if out.iter().any(|p| p.self_id == id) {
                return Err(format!("controllerDLegerPeers: self id '{id}' appears twice"));
            }
            out.push(Peer { self_id: id.to_string(), addr: addr.to_string() });
        }
        if out.is_empty() {
            return Err("controllerDLegerPeers is empty".into());
        }
        Ok(out)
    }

    /// This replica's Raft node id (its index in the peer list).
    pub fn self_node_id(&self) -> Result<u64, String> {
        let peers = self.peer_list()?;
        peers.iter().position(|p| p.self_id == self.self_id).map(|i| i as u64).ok_or_else(|| {
            format!(
                "controllerDLegerSelfId '{}' is not in controllerDLegerPeers '{}'",
                self.self_id, self.peers
            )
        })
    }

    /// Check relations between values that each parse on their own.
    pub fn validate(&self) -> Result<(), String> {
        self.self_node_id()?;
        self.security.validate()?;
        if self.raft_heartbeat_interval == 0
            || self.raft_election_timeout <= self.raft_heartbeat_interval
        {
            return Err("controllerRaftElectionTimeoutMs must exceed controllerRaftHeartbeatIntervalMs (> 0)".into());
        }
        if self.scan_not_active_broker_interval == 0 || self.broker_heartbeat_timeout == 0 {
            return Err(
                "scanNotActiveBrokerInterval and brokerHeartbeatTimeoutMills must be > 0".into()
            );
        }
        Ok(())
    }

    /// Scanner period.
    pub fn scan_interval(&self) -> Duration {
        Duration::from_millis(self.scan_not_active_broker_interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_self_id() {
        let c = ControllerConfig {
            peers: "n0-127.0.0.1:9878; n1-127.0.0.1:9879;n2-127.0.0.1:9880".into(),
            self_id: "n1".into(),
            ..Default::default()
        };
        let p = c.peer_list().unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[2], Peer { self_id: "n2".into(), addr: "127.0.0.1:9880".into() });
        assert_eq!(c.self_node_id(), Ok(1));
        c.validate().unwrap();
        let bad = ControllerConfig { self_id: "n7".into(), ..c.clone() };
        assert!(bad.validate().unwrap_err().contains("n7"));
        let dup = ControllerConfig { peers: "n0-a:1;n0-b:2".into(), ..c.clone() };
        assert!(dup.peer_list().unwrap_err().contains("twice"));
        let noport = ControllerConfig { peers: "n0-a".into(), ..c };
        assert!(noport.peer_list().is_err());
    }
}
