//! Broker metrics with RocketMQ 5's names and labels (`BrokerMetricsConstant`), exported on
//! `metricsPromExporterPort` when `metricsExporterType=PROM`; the full list is in
//! `docs/observability.md`.
//!
//! Two kinds:
//! * counters the request path bumps ([`BrokerMetrics`], this file): messages and bytes in per
//!   topic, out per topic and consumer group, message size, DLQ sends, transaction ends, RPC
//!   latency, pull progress. Each record is a map lookup by `&str` (no allocation once a topic
//!   or group is known) plus relaxed atomic adds, and nothing at all when metrics are off;
//! * gauges computed when Prometheus scrapes ([`collector`]): lag, in-flight and ready
//!   messages, connections, topic/group counts, storage, permission.
//!
//! Label sets stay bounded: topics and consumer groups are configured entities (a deleted
//! topic's series go with it), request codes are folded above 1024, and no label carries a
//! message key, message id or client id.

pub mod collector;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use mq_common::fnv::FnvBuild;
use mq_common::message::sysflag;
use mq_common::metrics::histogram::MESSAGE_SIZE_BYTES;
use mq_common::metrics::{Histogram, RpcMetrics};
use mq_common::protocol::body::system_topics;
use parking_lot::Mutex;

/// RocketMQ 5's `message_type` label values (`TopicMessageType.getMetricsValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// Plain messages.
    Normal = 0,
    /// Ordered (sharding-key) messages.
    Fifo = 1,
    /// Delay-level / timer messages.
    Delay = 2,
    /// Transaction half messages.
    Transaction = 3,
}

impl MessageType {
    const ALL: [MessageType; 4] =
        [MessageType::Normal, MessageType::Fifo, MessageType::Delay, MessageType::Transaction];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            MessageType::Normal => "Normal",
            MessageType::Fifo => "Fifo",
            MessageType::Delay => "Delay",
            MessageType::Transaction => "Transaction",
        }
    }

    /// Classify a send from its header: transaction flag in `sys_flag`, `DELAY` property.
    pub fn of_send(sys_flag: i32, properties: Option<&str>) -> MessageType {
        if sysflag::transaction_value(sys_flag) == sysflag::TRANSACTION_PREPARED_TYPE {
            return MessageType::Transaction;
        }
        // Most sends carry no DELAY: one substring search settles it before any parsing.
        let delayed = properties
            .filter(|p| p.contains("DELAY\u{1}"))
            .and_then(|p| mq_common::message::property::get_property(p, "DELAY"))
            .is_some_and(|v| v.trim().parse::<i32>().is_ok_and(|l| l > 0));
        if delayed {
            MessageType::Delay
        } else {
            MessageType::Normal
        }
    }
}

/// Java's `TopicValidator.isSystemTopic`: the broker's own topics.
pub fn is_system_topic(topic: &str) -> bool {
    system_topics::is_not_allowed_to_send(topic)
        || topic == system_topics::TBW102
        || topic == system_topics::TRACE_TOPIC
        || topic == system_topics::BENCHMARK_TOPIC
        || topic.starts_with("rmq_sys_")
        || topic.starts_with("RMQ_SYS_")
}

/// Java's `MixAll.isSysConsumerGroup`.
pub fn is_system_group(group: &str) -> bool {
    group.starts_with("CID_RMQ_SYS_")
        || group.starts_with("CID_ONSAPI_")
        || group == "TOOLS_CONSUMER"
}

/// Messages stored in one topic, by message type.
#[derive(Debug)]
pub struct TopicIn {
    msgs: [AtomicU64; 4],
    bytes: [AtomicU64; 4],
    /// Average message size per request (as Java records it).
    size: [Histogram; 4],
}

impl Default for TopicIn {
    fn default() -> Self {
        TopicIn {
            msgs: Default::default(),
            bytes: Default::default(),
            size: MessageType::ALL.map(|_| Histogram::new(&MESSAGE_SIZE_BYTES)),
        }
    }
}

impl TopicIn {
    /// Count `n` stored messages of `bytes` body bytes in total.
    #[inline]
    pub fn add(&self, ty: MessageType, n: usize, bytes: usize) {
        let i = ty as usize;
        self.msgs[i].fetch_add(n as u64, Ordering::Relaxed);
        self.bytes[i].fetch_add(bytes as u64, Ordering::Relaxed);
        self.size[i].observe((bytes / n.max(1)) as u64);
    }
}

/// What one consumer group pulled from one topic.
#[derive(Debug, Default)]
pub struct GroupOut {
    msgs: AtomicU64,
    bytes: AtomicU64,
    /// Next offset to pull per queue id (Java's `pullOffsetTable`), for in-flight/ready.
    next_pull: Mutex<Vec<i64>>,
}

/// topic → a group's counters on it.
type GroupTopics = DashMap<Box<str>, Arc<GroupOut>, FnvBuild>;

/// The broker's request-path metrics.
pub struct BrokerMetrics {
    enabled: bool,
    /// `rocketmq_rpc_latency`.
    pub rpc: RpcMetrics,
    topics_in: DashMap<Box<str>, Arc<TopicIn>, FnvBuild>,
    /// group → topic → counters.
    out: DashMap<Box<str>, GroupTopics, FnvBuild>,
    /// group → messages moved to `%DLQ%group`.
    dlq: DashMap<Box<str>, AtomicU64>,
    /// topic → committed / rolled-back transaction messages.
    tx_ends: DashMap<Box<str>, [AtomicU64; 2]>,
    /// Open remoting connections (both listeners).
    connections: AtomicI64,
}

impl BrokerMetrics {
    /// Metrics that record (`enabled`) or do nothing.
    pub fn new(enabled: bool) -> BrokerMetrics {
        BrokerMetrics {
            enabled,
            rpc: RpcMetrics::default(),
            topics_in: DashMap::default(),
            out: DashMap::default(),
            dlq: DashMap::new(),
            tx_ends: DashMap::new(),
            connections: AtomicI64::new(0),
        }
    }

    /// Whether anything is recorded.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The counters of `topic`, or `None` when metrics are off or the topic is a retry/DLQ
    /// topic (Java leaves those out of `messages_in`). Taken before the store call so the
    /// topic name need not be kept.
    #[inline]
    pub fn topic_in(&self, topic: &str) -> Option<Arc<TopicIn>> {
        if !self.enabled
            || topic.starts_with(system_topics::RETRY_PREFIX)
            || topic.starts_with(system_topics::DLQ_PREFIX)
        {
            return None;
        }
        if let Some(t) = self.topics_in.get(topic) {
            return Some(t.clone());
        }
        Some(self.topics_in.entry(topic.into()).or_default().clone())
    }

    /// Count messages a pull returned and where the consumer will pull next.
    #[inline]
    pub fn pulled(
        &self,
        group: &str,
        topic: &str,
        queue_id: i32,
        n: usize,
        bytes: usize,
        next: i64,
    ) {
        if !self.enabled {
            return;
        }
        let g = match self.out.get(group) {
            Some(g) => g,
            None => {
                self.out.entry(group.into()).or_default();
                match self.out.get(group) {
                    Some(g) => g,
                    None => return, // deleted concurrently
                }
            }
        };
        let o = match g.get(topic) {
            Some(o) => o.clone(),
            None => g.entry(topic.into()).or_default().clone(),
        };
        drop(g);
        o.msgs.fetch_add(n as u64, Ordering::Relaxed);
        o.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if let Ok(q) = usize::try_from(queue_id) {
            // Queue ids are bounded by the topic's queue count (checked by the pull path).
            let mut np = o.next_pull.lock();
            if np.len() <= q {
                np.resize(q + 1, -1);
            }
            np[q] = np[q].max(next);
        }
    }

    /// A message went to `%DLQ%group`.
    pub fn sent_to_dlq(&self, group: &str) {
        if self.enabled {
            self.dlq.entry(group.into()).or_default().fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A transaction message was committed (`true`) or rolled back.
    pub fn transaction_end(&self, topic: &str, commit: bool) {
        if self.enabled {
            self.tx_ends.entry(topic.into()).or_default()[usize::from(!commit)]
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A remoting connection opened (`+1`) or closed (`-1`).
    pub fn connection(&self, delta: i64) {
        self.connections.fetch_add(delta, Ordering::Relaxed);
    }

    /// Drop the series of deleted topics and groups (keeps the label set bounded).
    pub fn forget_topic(&self, topic: &str) {
        self.topics_in.remove(topic);
        self.tx_ends.remove(topic);
        for g in self.out.iter() {
            g.remove(topic);
        }
    }

    /// Drop a deleted consumer group's series.
    pub fn forget_group(&self, group: &str) {
        self.out.remove(group);
        self.dlq.remove(group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_of_a_send() {
        let p = |s: &str| Some(s.to_string());
        assert_eq!(MessageType::of_send(0, p("TAGS\u{1}a\u{2}").as_deref()), MessageType::Normal);
        assert_eq!(
            MessageType::of_send(0, p("TAGS\u{1}a\u{2}DELAY\u{1}3\u{2}").as_deref()),
            MessageType::Delay
        );
        assert_eq!(MessageType::of_send(0, p("DELAY\u{1}0\u{2}").as_deref()), MessageType::Normal);
        assert_eq!(
            MessageType::of_send(0, p("XDELAYX\u{1}3\u{2}").as_deref()),
            MessageType::Normal
        );
        assert_eq!(
            MessageType::of_send(sysflag::TRANSACTION_PREPARED_TYPE, None),
            MessageType::Transaction
        );
        assert_eq!(MessageType::of_send(0, None), MessageType::Normal);
    }

    #[test]
    fn disabled_metrics_record_nothing_and_deleted_series_go() {
        let off = BrokerMetrics::new(false);
        assert!(off.topic_in("T").is_none());
        off.pulled("G", "T", 0, 1, 1, 1);
        assert!(off.out.is_empty());
        let on = BrokerMetrics::new(true);
        assert!(on.topic_in("%RETRY%G").is_none() && on.topic_in("%DLQ%G").is_none());
        on.topic_in("T").unwrap().add(MessageType::Normal, 2, 10);
        on.pulled("G", "T", 3, 2, 20, 7);
        assert_eq!(
            *on.out.get("G").unwrap().get("T").unwrap().next_pull.lock(),
            vec![-1, -1, -1, 7]
        );
        on.forget_topic("T");
        assert!(on.topics_in.is_empty() && on.out.get("G").unwrap().is_empty());
        on.sent_to_dlq("G");
        on.forget_group("G");
        assert!(on.out.is_empty() && on.dlq.is_empty());
    }
}
