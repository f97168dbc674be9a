//! `NamesrvController`: wires config, state, the remoting server and the scanner; used by
//! `main` and by in-process tests (`listenPort=0`).

use std::net::SocketAddr;
use std::sync::Arc;

use mq_common::remoting::{ConnectionStats, RemotingServer};
use parking_lot::RwLock;

use crate::config::NamesrvConfig;
use crate::kv_config::{KvConfig, KvConfigError};
use crate::processor::NamesrvProcessor;
use crate::route_info::RouteInfo;
use crate::scanner::Scanner;
use crate::state::NamesrvState;

/// Why the name server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The KV config file could not be loaded.
    #[error(transparent)]
    KvConfig(#[from] KvConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A running name server.
pub struct NamesrvController {
    state: Arc<NamesrvState>,
    server: RemotingServer,
    scanner: Scanner,
}

impl NamesrvController {
    /// Load the KV config, bind, start serving and scanning. Must run inside a tokio runtime.
    pub async fn start(config: NamesrvConfig) -> Result<Self, StartError> {
        config.validate().map_err(StartError::Config)?;
        let addr = config.listen_socket_addr().map_err(StartError::Config)?;
        let kv = KvConfig::load(&config.kv_config_path)?;
        let server_config = config.server_config().map_err(StartError::Config)?;
        let state =
            Arc::new(NamesrvState { config: RwLock::new(config), routes: RouteInfo::new(), kv });
        let handler = Arc::new(NamesrvProcessor::new(state.clone()));
        let server = RemotingServer::bind(&addr.to_string(), handler, server_config)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let scanner = Scanner::spawn(state.clone());
        tracing::info!(addr = %server.local_addr(), "name server started");
        Ok(NamesrvController { state, server, scanner })
    }

    /// The bound address (the real port when `listenPort=0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Connection counters of the listener (active, refused at the cap, idle-closed, ...).
    pub fn connection_stats(&self) -> &Arc<ConnectionStats> {
        self.server.stats()
    }

    /// Shared state (route tables, KV config, settings), e.g. for tests.
    pub fn state(&self) -> &Arc<NamesrvState> {
        &self.state
    }

    /// Stop the scanner, stop accepting, let in-flight responses drain, close connections.
    pub async fn shutdown(self) {
        self.scanner.stop().await;
        self.server.shutdown().await;
        tracing::info!("name server stopped");
    }
}
