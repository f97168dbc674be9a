//! `NamesrvController`: wires config, state, the remoting server and the scanner; used by
//! `main` and by in-process tests (`listenPort=0`).

use std::net::SocketAddr;
use std::sync::Arc;

use mq_common::metrics::{Exporter, ExporterType};
use mq_common::remoting::{ConnectionStats, RemotingServer, ServerConfig};
use parking_lot::RwLock;

use crate::config::NamesrvConfig;
use crate::kv_config::{KvConfig, KvConfigError};
use crate::metrics::NamesrvMetrics;
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
    /// The metrics endpoint could not be bound.
    #[error("cannot listen on {addr} (metricsPromExporterPort): {source}")]
    Metrics {
        /// host:port.
        addr: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded controller (`enableControllerInNamesrv=true`) could not start.
    #[error("embedded controller: {0}")]
    Controller(#[from] mq_controller::StartError),
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
    /// Stops the ACL file reloader.
    acl_stop: tokio_util::sync::CancellationToken,
    metrics: Option<Exporter>,
    /// The embedded controller replica (`enableControllerInNamesrv=true`).
    embedded_controller: Option<mq_controller::ControllerNode>,
}

impl NamesrvController {
    /// Load the KV config, bind, start serving and scanning. Must run inside a tokio runtime.
    pub async fn start(config: NamesrvConfig) -> Result<Self, StartError> {
        config.validate().map_err(StartError::Config)?;
        let addr = config.listen_socket_addr().map_err(StartError::Config)?;
        let kv = KvConfig::load(&config.kv_config_path)?;
        let acl_stop = tokio_util::sync::CancellationToken::new();
        let acl = mq_common::acl::server_validator(
            &config.security,
            config.config_file.as_deref(),
            mq_common::acl::Role::namesrv(config.security.acl_check_reads),
            "",
            acl_stop.clone(),
        )
        .map_err(|e| StartError::Config(format!("aclEnable=true but {e}")))?;
        let tls = mq_common::remoting::TlsServer::from_config(&config.security, acl_stop.clone())
            .map_err(|e| StartError::Config(format!("TLS: {e}")))?;
        // The connection bounds from the config keys (issue 16), with ACL and TLS.
        let server_config =
            ServerConfig { acl, tls, ..config.server_config().map_err(StartError::Config)? };
        let metrics_cfg = (
            config.metrics_exporter_type,
            if config.metrics_prom_exporter_host.is_empty() {
                config.bind_address.clone()
            } else {
                config.metrics_prom_exporter_host.clone()
            },
            config.metrics_prom_exporter_port,
        );
        let state = Arc::new(NamesrvState {
            metrics: NamesrvMetrics::new(metrics_cfg.0 == ExporterType::Prom),
            config: RwLock::new(config),
            routes: RouteInfo::new(),
            kv,
        });
        let handler = Arc::new(NamesrvProcessor::new(state.clone()));
        let timer = state.metrics.enabled.then(|| state.metrics.rpc.clone() as Arc<_>);
        let server_config = ServerConfig { timer, ..server_config };
        let server = RemotingServer::bind(&addr.to_string(), handler, server_config)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let metrics = match metrics_cfg {
            (ExporterType::Disable, ..) => None,
            (ExporterType::Prom, host, port) => {
                let node_id = server.local_addr().to_string();
                let registry = Arc::new(crate::metrics::registry(&state, "", &node_id));
                let e = Exporter::start(&host, port, registry).await.map_err(|source| {
                    StartError::Metrics { addr: format!("{host}:{port}"), source }
                })?;
                tracing::info!(addr = %e.local_addr(), "Prometheus metrics at http://{}/metrics", e.local_addr());
                Some(e)
            }
            (other, ..) => {
                tracing::warn!(
                    metricsExporterType = other.name(),
                    "only PROM (or DISABLE) is supported; metrics are off"
                );
                None
            }
        };
        // Started after the name server, as Java's ControllerManager; a failure stops what
        // already runs.
        let embedded_controller = if state.config.read().enable_controller_in_namesrv {
            // The embedded replica checks and signs with the name server's accounts and TLS.
            let cfg = {
                let ns = state.config.read();
                mq_controller::ControllerConfig {
                    security: ns.security.clone(),
                    config_file: ns.config_file.clone(),
                    ..ns.controller.clone()
                }
            };
            match mq_controller::ControllerNode::start(cfg).await {
                Ok(node) => {
                    tracing::info!(addr = %node.local_addr(), "embedded controller started");
                    Some(node)
                }
                Err(e) => {
                    acl_stop.cancel();
                    server.shutdown().await;
                    if let Some(m) = metrics {
                        m.shutdown().await;
                    }
                    return Err(e.into());
                }
            }
        } else {
            None
        };
        let scanner = Scanner::spawn(state.clone());
        tracing::info!(addr = %server.local_addr(), "name server started");
        Ok(NamesrvController { state, server, scanner, acl_stop, metrics, embedded_controller })
    }

    /// The bound address (the real port when `listenPort=0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Connection counters of the listener (active, refused at the cap, idle-closed, ...).
    pub fn connection_stats(&self) -> &Arc<ConnectionStats> {
        self.server.stats()
    }

    /// Address of the Prometheus endpoint, when `metricsExporterType=PROM`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(Exporter::local_addr)
    }

    /// Shared state (route tables, KV config, settings), e.g. for tests.
    pub fn state(&self) -> &Arc<NamesrvState> {
        &self.state
    }

    /// Address of the embedded controller, when `enableControllerInNamesrv=true`.
    pub fn controller_addr(&self) -> Option<SocketAddr> {
        self.embedded_controller.as_ref().map(mq_controller::ControllerNode::local_addr)
    }

    /// Stop the scanner, stop accepting, let in-flight responses drain, close connections
    /// (the embedded controller first: brokers then see its connections close, as at a kill).
    pub async fn shutdown(self) {
        if let Some(c) = self.embedded_controller {
            c.shutdown().await;
        }
        self.scanner.stop().await;
        self.acl_stop.cancel();
        self.server.shutdown().await;
        if let Some(m) = self.metrics {
            m.shutdown().await;
        }
        tracing::info!("name server stopped");
    }
}
