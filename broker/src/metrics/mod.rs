//! Broker metrics with RocketMQ 5's names and labels (`BrokerMetricsConstant`), exported on
//! `metricsPromExporterPort` when `metricsExporterType=PROM`; the full list is in
//! `docs/observability.md`.
//!
//! Two kinds:
//! * counters the request path bumps ([`BrokerMetrics`], this file): messages and bytes in per
//!   topic, out per topic and consumer group, message size, DLQ sends, transaction ends, RPC
//!   latency, pull progress. A send finds its topic's counters ([`TopicIn`]) in the topic
//!   table lookup it makes anyway and adds to its own thread's shard with plain stores
//!   ([`PerThread`]); RPC latency is timed by the connection with one clock read per request
//!   (`mq_common::remoting::RequestTimer`). Nothing at all is recorded when metrics are off;
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
use mq_common::metrics::histogram::{Snapshot, MESSAGE_SIZE_BYTES};
use mq_common::metrics::{owned_add, Histogram, PerThread, RpcMetrics};
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

/// What one thread stored in one topic of one message type. The size histogram counts send
/// requests and sums their average message size; a batch of `n` adds `n - 1` messages and the
/// rest of its bytes to the `extra_` counters, so single sends (the common case) pay two plain
/// adds and messages/bytes are exact.
struct TypeIn {
    size: Histogram,
    extra_msgs: AtomicU64,
    extra_bytes: AtomicU64,
}

/// One thread's share of a topic's counters, by message type.
struct TopicInShard([TypeIn; 4]);

impl Default for TopicInShard {
    fn default() -> Self {
        TopicInShard(MessageType::ALL.map(|_| TypeIn {
            size: Histogram::new(&MESSAGE_SIZE_BYTES),
            extra_msgs: AtomicU64::new(0),
            extra_bytes: AtomicU64::new(0),
        }))
    }
}

/// Messages stored in one topic (`rocketmq_messages_in_total`, `rocketmq_throughput_in_total`,
/// `rocketmq_message_size`), kept on the topic's table entry.
#[derive(Debug, Default)]
pub struct TopicIn {
    shards: PerThread<TopicInShard>,
}

/// A topic's totals of one message type, summed over threads at scrape time.
#[derive(Debug)]
pub struct TypeTotals {
    /// Messages stored.
    pub msgs: u64,
    /// Body bytes stored.
    pub bytes: u64,
    /// Average message size per send request.
    pub size: Snapshot,
}

impl TopicIn {
    /// Count `n` stored messages of `bytes` body bytes in total (one send request).
    #[inline]
    pub fn add(&self, ty: MessageType, n: usize, bytes: usize) {
        let t = &self.shards.local().0[ty as usize];
        let n = n.max(1);
        let avg = bytes / n;
        t.size.observe_owned(avg as u64);
        if n > 1 {
            owned_add(&t.extra_msgs, (n - 1) as u64);
            owned_add(&t.extra_bytes, (bytes - avg) as u64);
        }
    }

    /// Totals of type `ty` (`None`: nothing of that type stored).
    pub fn totals(&self, ty: MessageType) -> Option<TypeTotals> {
        let mut tot = TypeTotals { msgs: 0, bytes: 0, size: Snapshot::new(&MESSAGE_SIZE_BYTES) };
        for shard in self.shards.iter() {
            let t = &shard.0[ty as usize];
            tot.size.add(&t.size);
            tot.msgs += t.extra_msgs.load(Ordering::Relaxed);
            tot.bytes += t.extra_bytes.load(Ordering::Relaxed);
        }
        tot.msgs += tot.size.count();
        tot.bytes += tot.size.sum();
        (tot.msgs > 0).then_some(tot)
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

/// topic → what one consumer group pulled from it.
type GroupTopics = DashMap<Box<str>, Arc<GroupOut>, FnvBuild>;

/// The broker's request-path metrics.
pub struct BrokerMetrics {
    enabled: bool,
    /// `rocketmq_rpc_latency`, timed by the listeners' connections (`ServerConfig::timer`).
    pub rpc: Arc<RpcMetrics>,
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
            rpc: Arc::default(),
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
        // messages_in counters live on the topic's table entry and go with it.
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
        off.pulled("G", "T", 0, 1, 1, 1);
        assert!(off.out.is_empty());
        let on = BrokerMetrics::new(true);
        on.pulled("G", "T", 3, 2, 20, 7);
        assert_eq!(
            *on.out.get("G").unwrap().get("T").unwrap().next_pull.lock(),
            vec![-1, -1, -1, 7]
        );
        on.forget_topic("T");
        assert!(on.out.get("G").unwrap().is_empty());
        on.sent_to_dlq("G");
        on.forget_group("G");
        assert!(on.out.is_empty() && on.dlq.is_empty());
    }

    #[test]
    fn messages_in_are_exact_for_single_sends_and_batches_across_threads() {
        let t = Arc::new(TopicIn::default());
        assert!(t.totals(MessageType::Normal).is_none());
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        t.add(MessageType::Normal, 1, 100);
                        t.add(MessageType::Normal, 4, 4001); // avg 1000, 1 byte of remainder
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let n = t.totals(MessageType::Normal).unwrap();
        assert_eq!(n.msgs, 3 * 1000 * 5);
        assert_eq!(n.bytes, 3 * 1000 * 4101);
        assert_eq!(n.size.count(), 3 * 2000, "one size observation per request");
        assert!(t.totals(MessageType::Delay).is_none());
    }
}
