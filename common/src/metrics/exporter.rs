//! The Prometheus HTTP endpoint (`metricsExporterType=PROM`): `GET /metrics` renders the
//! registry in the OpenMetrics text format; `GET /health` answers `ok` while the process
//! serves (container and Kubernetes probes).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// OpenMetrics text, which Prometheus negotiates.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `metricsExporterType`: Apache's values; only `PROM` starts an endpoint here (`OTLP_GRPC`
/// and `LOG` are accepted and logged as not supported, so Apache configs still load).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExporterType {
    /// No metrics (Apache's default).
    #[default]
    Disable,
    /// Prometheus pull endpoint on `metricsPromExporterPort`.
    Prom,
    /// OTLP push (not supported: treated as `Disable` with a warning).
    OtlpGrpc,
    /// Periodic log lines (not supported: treated as `Disable` with a warning).
    Log,
}

impl std::str::FromStr for ExporterType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "DISABLE" | "" => Ok(ExporterType::Disable),
            "PROM" => Ok(ExporterType::Prom),
            "OTLP_GRPC" => Ok(ExporterType::OtlpGrpc),
            "LOG" => Ok(ExporterType::Log),
            other => Err(format!("'{other}' is not one of DISABLE, PROM, OTLP_GRPC, LOG")),
        }
    }
}

impl ExporterType {
    /// Apache's spelling.
    pub fn name(self) -> &'static str {
        match self {
            ExporterType::Disable => "DISABLE",
            ExporterType::Prom => "PROM",
            ExporterType::OtlpGrpc => "OTLP_GRPC",
            ExporterType::Log => "LOG",
        }
    }
}

/// Render `registry` as OpenMetrics text.
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(16 * 1024);
    // Writing to a String cannot fail; a collector's own fmt::Error would only truncate.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

/// A running endpoint.
pub struct Exporter {
    addr: SocketAddr,
    task: JoinHandle<()>,
    stop: CancellationToken,
}

impl Exporter {
    /// Bind `host:port` and serve `registry` until [`Exporter::shutdown`].
    pub async fn start(
        host: &str,
        port: u16,
        registry: Arc<Registry>,
    ) -> std::io::Result<Exporter> {
        let listener = TcpListener::bind((host, port)).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let app = Router::new()
            .route(
                "/metrics",
                get(move || {
                    let r = registry.clone();
                    async move { ([(CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS)], render(&r)) }
                }),
            )
            .route("/health", get(|| async { "ok" }));
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.cancelled().await });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "metrics endpoint stopped");
            }
        });
        Ok(Exporter { addr, task, stop })
    }

    /// The bound address (the real port when asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving (in-flight scrapes finish).
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.task).await;
    }
}

impl crate::config::ConfigValue for ExporterType {
    fn parse_value(s: &str) -> Result<Self, String> {
        s.parse()
    }
    fn render_value(&self) -> String {
        self.name().to_string()
    }
}
