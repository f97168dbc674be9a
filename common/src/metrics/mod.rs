//! Metrics shared by the broker and the name server: the lock-free [`Histogram`], RPC latency
//! per request/response code ([`RpcMetrics`]) and the Prometheus HTTP [`Exporter`]. Each
//! binary keeps its own metric set in its own `metrics` module and renders it with a
//! prometheus-client `Collector` at scrape time; names and labels follow RocketMQ 5
//! (`BrokerMetricsConstant`, `RemotingMetricsConstant`).

pub mod exporter;
pub mod histogram;
pub mod per_thread;
pub mod rpc;

pub use exporter::{render, Exporter, ExporterType};
pub use histogram::{Buckets, Histogram};
pub use per_thread::{owned_add, PerThread};
pub use prometheus_client;
pub use rpc::RpcMetrics;

/// Labels every series of one node carries (RocketMQ 5 puts them on every metric):
/// `cluster`, `node_type` (`broker` / `nameserver`), `node_id`.
pub fn node_labels(
    cluster: &str,
    node_type: &str,
    node_id: &str,
) -> impl Iterator<Item = (std::borrow::Cow<'static, str>, std::borrow::Cow<'static, str>)> {
    [
        ("cluster".into(), cluster.to_string().into()),
        ("node_type".into(), node_type.to_string().into()),
        ("node_id".into(), node_id.to_string().into()),
    ]
    .into_iter()
}
