//! Name server metrics (`metricsExporterType=PROM` on `metricsPromExporterPort`, default
//! 5558 so a broker's 5557 on the same host does not collide): RPC latency per request and
//! response code, connections, and the routing view operators alert on (live brokers per
//! cluster, broker groups without a master, topics). Gauges are read from the route tables
//! at scrape time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};

use mq_common::metrics::prometheus_client::collector::Collector;
use mq_common::metrics::prometheus_client::encoding::DescriptorEncoder;
use mq_common::metrics::prometheus_client::metrics::MetricType;
use mq_common::metrics::prometheus_client::registry::Registry;
use mq_common::metrics::RpcMetrics;

use crate::state::NamesrvState;

/// Request-path counters.
#[derive(Debug, Default)]
pub struct NamesrvMetrics {
    /// Whether metrics are on (the server then times requests into `rpc`).
    pub enabled: bool,
    /// `rocketmq_rpc_latency`, timed by the server's connections (`ServerConfig::timer`).
    pub rpc: Arc<RpcMetrics>,
    /// Open connections.
    pub connections: AtomicI64,
    /// Clusters seen so far: a cluster whose last broker left still reports 0 live brokers
    /// (an absent series would not fire a `== 0` alert). Bounded by the clusters deployed.
    known_clusters: parking_lot::Mutex<std::collections::BTreeSet<String>>,
}

impl NamesrvMetrics {
    /// Metrics that record when `enabled`.
    pub fn new(enabled: bool) -> Self {
        NamesrvMetrics { enabled, ..Default::default() }
    }
}

/// The registry the exporter serves.
pub fn registry(state: &Arc<NamesrvState>, cluster_label: &str, node_id: &str) -> Registry {
    let mut r = Registry::with_labels(mq_common::metrics::node_labels(
        cluster_label,
        "nameserver",
        node_id,
    ));
    r.register_collector(Box::new(NamesrvCollector(Arc::downgrade(state))));
    r
}

#[derive(Debug)]
struct NamesrvCollector(Weak<NamesrvState>);

impl Collector for NamesrvCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let Some(s) = self.0.upgrade() else { return Ok(()) };
        s.metrics.rpc.encode(&mut enc)?;
        enc.encode_descriptor(
            "rmq_remoting_connections",
            "Open remoting (TCP) connections.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&s.metrics.connections.load(Ordering::Relaxed))?;

        let info = s.routes.cluster_info();
        let mut live = enc.encode_descriptor(
            "rmq_namesrv_live_brokers",
            "Broker addresses registered and alive, by cluster (masters and slaves).",
            None,
            MetricType::Gauge,
        )?;
        let mut known = s.metrics.known_clusters.lock();
        known.extend(info.cluster_addr_table.keys().cloned());
        for cluster in known.iter() {
            let n: usize = info
                .cluster_addr_table
                .get(cluster)
                .into_iter()
                .flatten()
                .filter_map(|b| info.broker_addr_table.get(b))
                .map(|d| d.broker_addrs.len())
                .sum();
            live.encode_family(&[("broker_cluster", cluster.as_str())])?
                .encode_gauge(&(n as i64))?;
        }
        drop(known);
        let mut no_master = enc.encode_descriptor(
            "rmq_namesrv_broker_groups_without_master",
            "Broker groups (brokerName) that have slaves but no live master (brokerId 0).",
            None,
            MetricType::Gauge,
        )?;
        for (cluster, names) in &info.cluster_addr_table {
            let n = names
                .iter()
                .filter_map(|b| info.broker_addr_table.get(b))
                .filter(|d| !d.broker_addrs.contains_key("0"))
                .count();
            no_master
                .encode_family(&[("broker_cluster", cluster.as_str())])?
                .encode_gauge(&(n as i64))?;
        }
        let topics = s.routes.all_topics().topic_list.len() as i64;
        enc.encode_descriptor(
            "rmq_namesrv_topics",
            "Topics with routes on this name server.",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&topics)?;
        Ok(())
    }
}
