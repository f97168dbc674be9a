//! `ControllerNode`: one controller replica: the Raft node (openraft), its stores, the
//! remoting server on its peer address and the liveness scanner. Used by `main` and tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mq_common::acl::Credentials;
use mq_common::remoting::{
    ClientConfig, RemotingClient, RemotingServer, ServerConfig, TlsClient, TlsServer,
};
use openraft::{BasicNode, SnapshotPolicy};
use tokio_util::sync::CancellationToken;

use crate::config::{ControllerConfig, Peer};
use crate::liveness::Liveness;
use crate::log_store::LogStore;
use crate::network::Network;
use crate::processor::ControllerProcessor;
use crate::raft_types::Raft;
use crate::scanner::Scanner;
use crate::state_machine::{SharedState, StateMachine};

/// Why a controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The store directory could not be opened.
    #[error("cannot open controllerStorePath {path}: {source}")]
    Store {
        /// The directory.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Raft could not start.
    #[error("raft: {0}")]
    Raft(String),
    /// The peer address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// host:port.
        addr: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// What the request handlers and the scanner share.
pub struct Shared {
    /// The Raft node.
    pub raft: Raft,
    /// The applied state.
    pub state: SharedState,
    /// Broker heartbeats seen by this controller.
    pub liveness: Liveness,
    /// Settings.
    pub config: ControllerConfig,
    /// The peers, by node id.
    pub peers: Vec<Peer>,
    /// `controllerDLegerPeers` as configured.
    pub peers_text: String,
    /// This node's id.
    pub node_id: u64,
    /// Raft group name.
    pub group: String,
    /// Wakes the leader's scanner at once (a broker's connection closed).
    pub scan_now: tokio::sync::Notify,
    /// Sends role-change notifications to brokers ([`crate::notify`]).
    pub notify_client: RemotingClient,
}

impl Shared {
    /// The controller leader as this node knows it. A node that leads in Raft's eyes but has
    /// not heard a quorum acknowledge it within an election timeout names nobody: cut off from
    /// its majority, it may already have been replaced (openraft keeps a partitioned leader's
    /// role until it hears a higher term; DLedger's leader steps down to candidate after
    /// missing heartbeat acknowledgements, and brokers must not keep asking it).
    pub fn leader(&self) -> Option<u64> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let leader = m.current_leader?;
        if leader != self.node_id {
            return Some(leader);
        }
        // Refreshed at every turn of openraft's loop, at least every 1.5 heartbeats (its tick).
        let acked =
            m.millis_since_quorum_ack.is_some_and(|ms| ms < self.config.raft_election_timeout);
        acked.then_some(leader)
    }

    /// Whether this node currently leads the controller group (see [`Shared::leader`]).
    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.node_id)
    }

    /// How long a request waits for Raft (commit, leadership check): a few election timeouts,
    /// after which a leader cut off from its majority answers instead of hanging.
    pub fn raft_deadline(&self) -> Duration {
        Duration::from_millis(self.config.raft_election_timeout.saturating_mul(4))
    }
}

/// A running controller replica.
pub struct ControllerNode {
    shared: Arc<Shared>,
    server: RemotingServer,
    scanner: Scanner,
    /// Stops the ACL file and TLS certificate reloaders.
    acl_stop: CancellationToken,
}

/// The server's ACL check and TLS, and the credentials and TLS of its own requests.
fn security_setup(
    config: &ControllerConfig,
    stop: &CancellationToken,
) -> Result<(ServerConfig, Option<Credentials>, Option<TlsClient>), String> {
    let sec = &config.security;
    let acl = mq_common::acl::server_validator(
        sec,
        config.config_file.as_deref(),
        mq_common::acl::Role::controller(sec.acl_check_reads),
        "",
        stop.clone(),
    )
    .map_err(|e| format!("aclEnable=true but {e}"))?;
    let tls = TlsServer::from_config(sec, stop.clone()).map_err(|e| format!("TLS: {e}"))?;
    let outbound = sec.outbound_tls()?;
    Ok((ServerConfig { acl, tls, ..ServerConfig::default() }, sec.credentials(), outbound))
}

impl ControllerNode {
    /// Open the store, start Raft, bind the peer address, join (or form) the group.
    pub async fn start(config: ControllerConfig) -> Result<Self, StartError> {
        config.validate().map_err(StartError::Config)?;
        let peers = config.peer_list().map_err(StartError::Config)?;
        let node_id = config.self_node_id().map_err(StartError::Config)?;
        let dir = config.store_path.clone();
        let store_err = |source| StartError::Store { path: dir.display().to_string(), source };
        let log = LogStore::open(&dir).map_err(store_err)?;
        let sm = StateMachine::open(&dir).map_err(store_err)?;
        let state = sm.state();
        let raft_config = openraft::Config {
            cluster_name: config.group.clone(),
            heartbeat_interval: config.raft_heartbeat_interval,
            election_timeout_min: config.raft_election_timeout,
            election_timeout_max: config.raft_election_timeout * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.raft_snapshot_logs.max(1)),
            max_in_snapshot_log_to_keep: config.raft_snapshot_logs.min(100),
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Raft(e.to_string()))?;
        // ACL and TLS as a broker has them: requests checked against the accounts file, own
        // requests (Raft to the peers, role-change pushes to brokers) signed and over TLS as
        // configured.
        let acl_stop = CancellationToken::new();
        // Any early return below stops the reloaders again.
        let stop_on_error = acl_stop.clone().drop_guard();
        let (server_config, credentials, tls) =
            security_setup(&config, &acl_stop).map_err(StartError::Config)?;
        let client = RemotingClient::new(ClientConfig {
            connect_timeout: Duration::from_millis(config.raft_election_timeout),
            credentials: credentials.clone(),
            tls: tls.clone(),
            ..Default::default()
        });
        let network = Network::new(
            client,
            Duration::from_millis(config.raft_heartbeat_interval),
            peers.iter().map(|p| p.addr.clone()).collect(),
        );
        let raft = Raft::new(node_id, Arc::new(raft_config), network, log, sm)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        let self_addr = peers[node_id as usize].addr.clone();
        let shared = Arc::new(Shared {
            raft,
            state,
            liveness: Liveness::default(),
            peers_text: config.peers.clone(),
            group: config.group.clone(),
            config,
            peers: peers.clone(),
            node_id,
            scan_now: tokio::sync::Notify::new(),
            notify_client: RemotingClient::new(ClientConfig {
                connect_timeout: Duration::from_millis(1000),
                credentials,
                tls,
                ..Default::default()
            }),
        });
        let handler = Arc::new(ControllerProcessor::new(shared.clone()));
        let server = RemotingServer::bind(&self_addr, handler, server_config)
            .await
            .map_err(|source| StartError::Bind { addr: self_addr.clone(), source })?;
        // Every replica proposes the same membership; openraft accepts it on pristine nodes and
        // answers NotAllowed on initialized ones (a restart), which is the goal either way.
        let members: BTreeMap<u64, BasicNode> =
            peers.iter().enumerate().map(|(i, p)| (i as u64, BasicNode::new(&p.addr))).collect();
        if !shared.raft.is_initialized().await.map_err(|e| StartError::Raft(e.to_string()))? {
            if let Err(e) = shared.raft.initialize(members).await {
                tracing::debug!(error = %e, "initialize: already formed");
            }
        }
        let scanner = Scanner::spawn(shared.clone());
        stop_on_error.disarm();
        tracing::info!(addr = %server.local_addr(), node_id, "controller started");
        Ok(ControllerNode { shared, server, scanner, acl_stop })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Shared parts (Raft handle, state), e.g. for tests.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stop scanning and serving, then stop Raft.
    pub async fn shutdown(self) {
        self.scanner.stop().await;
        self.server.shutdown().await;
        self.acl_stop.cancel();
        if let Err(e) = self.shared.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        tracing::info!("controller stopped");
    }
}
