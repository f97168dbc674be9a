//! The scrape: renders [`BrokerMetrics`](super::BrokerMetrics) counters and computes the gauges
//! (lag, in-flight, ready, connections, storage) from the broker's tables. All the work of a
//! gauge happens here, once per scrape, never on the request path.

use std::collections::BTreeMap;
use std::fmt::Result as FmtResult;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use mq_common::metrics::prometheus_client::collector::Collector;
use mq_common::metrics::prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use mq_common::metrics::prometheus_client::metrics::MetricType;
use mq_common::metrics::prometheus_client::registry::Registry;
use mq_common::protocol::body::system_topics;
use mq_common::protocol::now_millis;

use super::{is_system_group, is_system_topic, MessageType};
use crate::broker::Broker;

/// A `Code`'s proto name (`OK`, `MESSAGE_NOT_FOUND`, ...), or its number.
fn code_name(code: i32) -> String {
    mq_grpc_proto::v2::Code::try_from(code)
        .map(|c| c.as_str_name().to_string())
        .unwrap_or_else(|_| code.to_string())
}

/// The registry a broker's exporter serves: constant node labels plus this collector.
pub fn registry(b: &Arc<Broker>) -> Registry {
    let mut r = Registry::with_labels(mq_common::metrics::node_labels(
        &b.cfg.broker_cluster_name,
        "broker",
        &b.cfg.broker_name,
    ));
    r.register_collector(Box::new(BrokerCollector(Arc::downgrade(b))));
    r
}

/// Holds the broker weakly: the exporter must not keep a stopped broker alive.
#[derive(Debug)]
struct BrokerCollector(Weak<Broker>);

type Labels = Vec<(&'static str, String)>;

fn counter(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: &[(Labels, u64)],
) -> FmtResult {
    let mut fam = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (l, v) in rows {
        fam.encode_family(l)?.encode_counter::<NoLabelSet, _, u64>(v, None)?;
    }
    Ok(())
}

fn gauge(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: &[(Labels, i64)],
) -> FmtResult {
    let mut fam = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (l, v) in rows {
        fam.encode_family(l)?.encode_gauge(v)?;
    }
    Ok(())
}

fn gauge_f(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: f64) -> FmtResult {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&v)
}

fn b2s(v: bool) -> String {
    v.to_string()
}

/// Bytes under `dir` (files only, symlinks not followed).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

/// Per (topic, group) consumer progress.
#[derive(Default)]
struct Progress {
    lag: i64,
    lag_latency_ms: i64,
    inflight: i64,
    ready: i64,
    queueing_latency_ms: i64,
}

fn progress(
    b: &Broker,
    topic: &str,
    committed: &BTreeMap<i32, i64>,
    next_pull: &[i64],
    now: i64,
) -> Progress {
    let mut p = Progress::default();
    let queues = b.topics.queue_info(topic).map(|(w, r, _, _)| w.max(r)).unwrap_or(0);
    for q in 0..queues {
        let max = b.store.get_max_offset_in_queue(topic, q);
        let min = b.store.get_min_offset_in_queue(topic, q);
        // A queue the group never committed counts from its first message (what a new
        // CONSUME_FROM_FIRST group faces); Java skips it, which hides a stuck new group.
        let done = committed.get(&q).copied().unwrap_or(min).clamp(min, max.max(min));
        let pulled = next_pull.get(q as usize).copied().unwrap_or(-1).max(done).min(max.max(done));
        if max > done {
            p.lag += max - done;
            if let Some(ts) = b.store.get_message_store_timestamp(topic, q, done) {
                p.lag_latency_ms = p.lag_latency_ms.max(now - ts);
            }
        }
        p.inflight += pulled - done;
        if max > pulled {
            p.ready += max - pulled;
            if let Some(ts) = b.store.get_message_store_timestamp(topic, q, pulled) {
                p.queueing_latency_ms = p.queueing_latency_ms.max(now - ts);
            }
        }
    }
    p
}

impl BrokerCollector {
    /// The timer (RocketMQ 5's names, `DefaultStoreMetricsManager`), when `timerWheelEnable`.
    /// Java labels the two counters and `rocketmq_timing_messages` by topic; ours are totals
    /// (the wheel does not keep per-topic counts), and `rocketmq_timer_message_snapshot` (a
    /// walk over a day of wheel slots per scrape) is not exported.
    fn encode_timer(&self, enc: &mut DescriptorEncoder<'_>, b: &Broker) -> FmtResult {
        if !b.timer.config().enable {
            return Ok(());
        }
        let s = b.timer.stats();
        counter(
            enc,
            "rocketmq_timer_enqueue",
            "Timer messages taken into the wheel.",
            &[(vec![], s.enqueued)],
        )?;
        counter(
            enc,
            "rocketmq_timer_dequeue",
            "Timer messages delivered to their topic.",
            &[(vec![], s.delivered)],
        )?;
        gauge(
            enc,
            "rocketmq_timer_enqueue_lag",
            "Timer messages stored but not yet taken into the wheel.",
            &[(vec![], s.enqueue_behind)],
        )?;
        gauge(
            enc,
            "rocketmq_timer_dequeue_latency",
            "How far the wheel's delivery cursor is behind the clock, ms.",
            &[(vec![], s.read_behind_ms)],
        )?;
        gauge(
            enc,
            "rocketmq_timing_messages",
            "Timer messages waiting in the wheel.",
            &[(vec![], s.pending as i64)],
        )?;
        let fam = enc.encode_descriptor(
            "rocketmq_delay_message_latency",
            "How far ahead timer messages ask to be delivered, seconds.",
            None,
            MetricType::Histogram,
        )?;
        b.timer.set_latency().encode(fam)
    }

    /// Replication (`docs/replication.md`, `docs/controller.md`), read from the HA state:
    /// the role and, in controller mode, the epoch and in-sync set size; on a master, per
    /// connected slave, the bytes it lacks, how long since it acknowledged and whether it is
    /// in sync; on a slave, its own bytes behind the master and whether it is connected.
    fn encode_replication(&self, enc: &mut DescriptorEncoder<'_>, b: &Broker) -> FmtResult {
        let ha = &b.ha;
        let slave = b.is_slave();
        gauge(
            enc,
            "rmq_ha_master",
            "1 while this broker acts as its group's master, 0 as a slave.",
            &[(vec![], i64::from(!slave))],
        )?;
        gauge(
            enc,
            "rmq_ha_writable",
            "1 while this broker accepts sends (a master not fenced by the controllers).",
            &[(vec![], i64::from(ha.accepts_writes()))],
        )?;
        let view = ha.controller_mode().then(|| ha.view());
        if let Some(v) = &view {
            gauge(
                enc,
                "rmq_ha_master_epoch",
                "Controller mode: the master epoch this broker leads or follows.",
                &[(vec![], i64::from(v.master_epoch))],
            )?;
            gauge(
                enc,
                "rmq_ha_sync_state_set_size",
                "Controller mode: members of the group's in-sync set (as this broker knows it).",
                &[(vec![], v.sync_state_set.len() as i64)],
            )?;
        }
        let now = now_millis();
        let max = b.store.get_max_phy_offset();
        let (mut lag, mut age, mut in_sync) = (Vec::new(), Vec::new(), Vec::new());
        if slave {
            lag.push((vec![("replica", b.cfg.broker_addr())], ha.slave_behind_bytes()));
        } else {
            let fallbehind_max = ha.config().slave_fallbehind_max;
            for s in ha.slaves() {
                let l: Labels = vec![("replica", s.peer.to_string())];
                let behind = (max - s.acked().max(0)).max(0);
                // Controller mode: the controllers' in-sync set decides. Classic: what a
                // SYNC_MASTER send accepts (Java's isSlaveOK): acknowledged, not too far behind.
                let synced = match &view {
                    Some(v) => v.sync_state_set.iter().any(|id| *id as i64 == s.broker_id()),
                    None => s.acked() >= 0 && behind < fallbehind_max,
                };
                lag.push((l.clone(), behind));
                age.push((l.clone(), (now - s.acked_at_ms()).max(0)));
                in_sync.push((l, i64::from(synced)));
            }
        }
        gauge(
            enc,
            "rmq_replica_lag_bytes",
            "Commit-log bytes a slave is behind its master (per connected slave on a master).",
            &lag,
        )?;
        gauge(
            enc,
            "rmq_replica_ack_age_ms",
            "On a master, per connected slave: ms since its last acknowledgement (or connection).",
            &age,
        )?;
        if !slave {
            let mut fam = enc.encode_descriptor(
                "rmq_replica_ack_lag_ms",
                "On a master, per connected slave: time from the master's log reaching an offset to the slave's acknowledgement of it, ms.",
                None,
                MetricType::Histogram,
            )?;
            for s in ha.slaves() {
                let l: Labels = vec![("replica", s.peer.to_string())];
                s.lag().metric().encode(fam.encode_family(&l)?)?;
            }
        }
        gauge(
            enc,
            "rmq_replica_in_sync",
            "On a master, per connected slave: 1 while in sync (controller mode: in the in-sync set).",
            &in_sync,
        )?;
        if slave {
            gauge(
                enc,
                "rmq_ha_slave_connected",
                "On a slave: 1 while its HA connection to the master is up.",
                &[(vec![], i64::from(ha.client_connected()))],
            )?;
        }
        gauge(
            enc,
            "rmq_ha_connections",
            "Slaves connected to this master's HA port.",
            &[(vec![], ha.connection_count() as i64)],
        )
    }
}

impl Collector for BrokerCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> FmtResult {
        let Some(b) = self.0.upgrade() else { return Ok(()) };
        let m = &b.metrics;
        let now = now_millis();

        // --- messages in (per topic × type) ---
        let mut msgs_in = Vec::new();
        let mut bytes_in = Vec::new();
        let mut sizes = Vec::new();
        for (t, counters) in b.topics.counters_in() {
            for ty in MessageType::ALL {
                let Some(tot) = counters.totals(ty) else { continue };
                let l: Labels = vec![
                    ("topic", t.clone()),
                    ("message_type", ty.label().into()),
                    ("is_system", b2s(is_system_topic(&t))),
                ];
                bytes_in.push((l.clone(), tot.bytes));
                sizes.push((l.clone(), tot.size));
                msgs_in.push((l, tot.msgs));
            }
        }
        counter(
            &mut enc,
            "rocketmq_messages_in",
            "Messages stored, by topic and message type.",
            &msgs_in,
        )?;
        counter(
            &mut enc,
            "rocketmq_throughput_in",
            "Message body bytes stored, by topic and message type.",
            &bytes_in,
        )?;
        {
            let mut fam = enc.encode_descriptor(
                "rocketmq_message_size",
                "Message body size in bytes (average per send request, as RocketMQ records it).",
                None,
                MetricType::Histogram,
            )?;
            for (l, size) in &sizes {
                size.encode(fam.encode_family(l)?)?;
            }
        }

        // --- messages out (per topic × group), lag ---
        let mut next_pulls: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
        let mut msgs_out = Vec::new();
        let mut bytes_out = Vec::new();
        for g in m.out.iter() {
            for t in g.value().iter() {
                let (group, topic) = (g.key().to_string(), t.key().to_string());
                let l: Labels = vec![
                    ("topic", topic.clone()),
                    ("consumer_group", group.clone()),
                    ("is_system", b2s(is_system_topic(&topic) || is_system_group(&group))),
                    ("is_retry", b2s(topic.starts_with(system_topics::RETRY_PREFIX))),
                ];
                msgs_out.push((l.clone(), t.msgs.load(Ordering::Relaxed)));
                bytes_out.push((l, t.bytes.load(Ordering::Relaxed)));
                next_pulls.insert((topic, group), t.next_pull.lock().clone());
            }
        }
        counter(
            &mut enc,
            "rocketmq_messages_out",
            "Messages pulled by consumers, by topic and consumer group.",
            &msgs_out,
        )?;
        counter(
            &mut enc,
            "rocketmq_throughput_out",
            "Bytes pulled by consumers, by topic and consumer group.",
            &bytes_out,
        )?;

        // POP groups: the read position is the POP cursor (popped = pulled).
        for (group, topic, q, cursor) in b.pop.cursors() {
            let np = next_pulls.entry((topic, group)).or_default();
            let q = q.max(0) as usize;
            if np.len() <= q {
                np.resize(q + 1, -1);
            }
            np[q] = np[q].max(cursor);
        }

        let mut lag = Vec::new();
        let mut lag_latency = Vec::new();
        let mut inflight = Vec::new();
        let mut ready = Vec::new();
        let mut queueing = Vec::new();
        for (topic, group, committed) in b.offsets.all() {
            if !b.topics.contains(&topic) {
                continue;
            }
            let np =
                next_pulls.get(&(topic.clone(), group.clone())).map(Vec::as_slice).unwrap_or(&[]);
            let p = progress(&b, &topic, &committed, np, now);
            let l: Labels = vec![
                ("topic", topic.clone()),
                ("consumer_group", group.clone()),
                ("is_system", b2s(is_system_topic(&topic) || is_system_group(&group))),
                ("is_retry", b2s(topic.starts_with(system_topics::RETRY_PREFIX))),
            ];
            lag.push((l.clone(), p.lag));
            lag_latency.push((l.clone(), p.lag_latency_ms));
            inflight.push((l.clone(), p.inflight));
            ready.push((l.clone(), p.ready));
            queueing.push((l, p.queueing_latency_ms));
        }
        gauge(
            &mut enc,
            "rocketmq_consumer_lag_messages",
            "Messages stored but not yet committed by the group.",
            &lag,
        )?;
        gauge(
            &mut enc,
            "rocketmq_consumer_lag_latency",
            "Age in ms of the oldest message the group has not committed.",
            &lag_latency,
        )?;
        gauge(
            &mut enc,
            "rocketmq_consumer_inflight_messages",
            "Messages pulled by the group but not yet committed.",
            &inflight,
        )?;
        gauge(
            &mut enc,
            "rocketmq_consumer_ready_messages",
            "Messages stored and not yet pulled by the group.",
            &ready,
        )?;
        gauge(
            &mut enc,
            "rocketmq_consumer_queueing_latency",
            "Age in ms of the oldest message not yet pulled by the group.",
            &queueing,
        )?;

        // --- DLQ, transactions ---
        let dlq: Vec<(Labels, u64)> = m
            .dlq
            .iter()
            .map(|e| {
                (vec![("consumer_group", e.key().to_string())], e.value().load(Ordering::Relaxed))
            })
            .collect();
        counter(
            &mut enc,
            "rocketmq_send_to_dlq_messages",
            "Messages moved to the group's dead-letter queue.",
            &dlq,
        )?;
        let mut commits = Vec::new();
        let mut rollbacks = Vec::new();
        for e in m.tx_ends.iter() {
            let l: Labels = vec![("topic", e.key().to_string())];
            commits.push((l.clone(), e.value()[0].load(Ordering::Relaxed)));
            rollbacks.push((l, e.value()[1].load(Ordering::Relaxed)));
        }
        counter(
            &mut enc,
            "rocketmq_commit_messages",
            "Transaction messages committed, by topic.",
            &commits,
        )?;
        counter(
            &mut enc,
            "rocketmq_rollback_messages",
            "Transaction messages rolled back, by topic.",
            &rollbacks,
        )?;

        // --- POP (5.x consumers over gRPC and remoting POP) ---
        let mut pop_inflight = Vec::new();
        let mut pop_retry = Vec::new();
        for g in b.pop.groups() {
            let st = b.pop.group_stats(&b, &g);
            let l: Labels = vec![("consumer_group", g)];
            pop_inflight.push((l.clone(), st.inflight as i64));
            pop_retry.push((l, st.retry_backlog));
        }
        gauge(
            &mut enc,
            "rmq_pop_inflight_messages",
            "Messages popped and not yet acked (invisible, or expired and awaiting redelivery).",
            &pop_inflight,
        )?;
        gauge(
            &mut enc,
            "rmq_pop_retry_messages",
            "Messages waiting in the group's POP retry topics.",
            &pop_retry,
        )?;

        // --- RPC ---
        m.rpc.encode(&mut enc)?;
        let grpc: Vec<(Labels, u64)> = b
            .grpc
            .counters
            .snapshot()
            .into_iter()
            .map(|(rpc, code, n)| (vec![("rpc", rpc), ("code", code_name(code))], n))
            .collect();
        counter(
            &mut enc,
            "rmq_grpc_requests",
            "gRPC requests answered, by RPC and status code (apache.rocketmq.v2.Code).",
            &grpc,
        )?;

        // --- topics, groups, connections ---
        let topics = b.topics.names();
        // As Java: the size of the topic table (system, retry and DLQ topics included).
        gauge(
            &mut enc,
            "rocketmq_topic_number",
            "Topics on this broker (all, as in the topic table).",
            &[(vec![], topics.len() as i64)],
        )?;
        let groups = b.groups.wrapper().subscription_group_table.len() as i64;
        gauge(
            &mut enc,
            "rocketmq_consumer_group_number",
            "Subscription groups on this broker.",
            &[(vec![], groups)],
        )?;
        let mut prod: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for c in b.producers.all_channels() {
            *prod.entry((c.language, c.version)).or_default() += 1;
        }
        let prod: Vec<(Labels, i64)> = prod
            .into_iter()
            .map(|((lang, v), n)| (vec![("language", lang), ("version", v.to_string())], n))
            .collect();
        gauge(
            &mut enc,
            "rocketmq_producer_connections",
            "Producer connections, by client language and version.",
            &prod,
        )?;
        let mut cons: BTreeMap<(String, String, i32, String), i64> = BTreeMap::new();
        for g in b.consumers.group_names() {
            b.consumers.with_group(&g, |cg| {
                let mode = if cg.consume_type.contains("PASSIVELY") { "push" } else { "pull" };
                for c in cg.channels.values() {
                    *cons
                        .entry((g.clone(), c.language.clone(), c.version, mode.into()))
                        .or_default() += 1;
                }
            });
        }
        let cons: Vec<(Labels, i64)> = cons
            .into_iter()
            .map(|((g, lang, v, mode), n)| {
                let sys = b2s(is_system_group(&g));
                (
                    vec![
                        ("consumer_group", g),
                        ("language", lang),
                        ("version", v.to_string()),
                        ("consume_mode", mode),
                        ("is_system", sys),
                    ],
                    n,
                )
            })
            .collect();
        gauge(
            &mut enc,
            "rocketmq_consumer_connections",
            "Consumer connections, by group, client language, version and mode.",
            &cons,
        )?;
        gauge(
            &mut enc,
            "rmq_remoting_connections",
            "Open remoting (TCP) connections.",
            &[(vec![], m.connections.load(Ordering::Relaxed))],
        )?;

        // --- broker state, storage ---
        gauge(
            &mut enc,
            "rocketmq_broker_permission",
            "brokerPermission (2 write, 4 read, 6 both).",
            &[(vec![], b.perm.load(Ordering::Relaxed) as i64)],
        )?;
        gauge(
            &mut enc,
            "rmq_broker_info",
            "Always 1; labels carry the current HA role (it changes on promotion) and version.",
            &[(
                vec![
                    ("role", b.ha.role().name().into()),
                    ("version", env!("CARGO_PKG_VERSION").into()),
                ],
                1,
            )],
        )?;
        let i = b.store.runtime_info();
        gauge(
            &mut enc,
            "rocketmq_storage_size",
            "Bytes used by the store directory (commit log, queues, index, config).",
            &[(vec![], dir_size(&b.cfg.store.store_path_root_dir) as i64)],
        )?;
        gauge(
            &mut enc,
            "rocketmq_storage_flush_behind_bytes",
            "Commit-log bytes written but not yet flushed to disk.",
            &[(vec![], (i.commit_log_max_offset - i.commit_log_flushed_offset).max(0))],
        )?;
        gauge(
            &mut enc,
            "rocketmq_storage_dispatch_behind_bytes",
            "Commit-log bytes not yet dispatched to consume queues (0: dispatch is inline).",
            &[(vec![], i.dispatch_behind_bytes)],
        )?;
        let oldest = b.store.look_message_by_offset(i.commit_log_min_offset).and_then(|r| {
            mq_common::message::record::RecordView::parse(&r, false).ok().map(|v| v.store_timestamp)
        });
        if let Some(ts) = oldest {
            gauge(
                &mut enc,
                "rocketmq_storage_message_reserve_time",
                "Age in ms of the oldest message in the commit log.",
                &[(vec![], now - ts)],
            )?;
        }
        gauge_f(
            &mut enc,
            "rocketmq_brokeruntime_commitlog_disk_ratio",
            "Used fraction of the commit log's disk (0..1; rocketmq-exporter's name).",
            i.commit_log_disk_ratio,
        )?;
        gauge(
            &mut enc,
            "rmq_store_poisoned",
            "1 when an fsync failure made the store refuse writes.",
            &[(vec![], i64::from(i.poisoned))],
        )?;
        gauge(
            &mut enc,
            "rmq_pull_hold_requests",
            "Long-polling pulls parked on this broker.",
            &[(vec![], b.pull_hold.parked() as i64)],
        )?;
        self.encode_replication(&mut enc, &b)?;
        self.encode_timer(&mut enc, &b)
    }
}
