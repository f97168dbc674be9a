//! Admin statistics: GET_BROKER_RUNTIME_INFO, GET_TOPIC_STATS_INFO, GET_CONSUME_STATS,
//! consumer/producer connection lists, and who-consumes-what queries.

use std::collections::BTreeSet;

use mq_common::protocol::body::{
    system_topics, to_json, Connection, ConsumeStats, ConsumerConnection, GroupList, KvTable,
    MessageQueue, OffsetWrapper, ProducerConnection, TopicList, TopicOffset, TopicStatsTable,
};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::{
    ConsumerGroupRequestHeader, GetConsumeStatsRequestHeader, ProducerGroupRequestHeader,
    QueryTopicsByConsumerRequestHeader, TopicRequestHeader,
};
use mq_common::protocol::{now_millis, RemotingCommand};

use super::{err, header, Reply};
use crate::broker::Broker;

/// GET_BROKER_RUNTIME_INFO (28): KvTable with Java's key names (4.9's and 5.3's).
pub fn runtime_info(b: &Broker) -> Reply {
    let (put_today, get_today) = b.stats.today();
    let t10 = b.stats.tps(10);
    let t60 = b.stats.tps(60);
    let t600 = b.stats.tps(600);
    let (min_phy, max_phy) = (b.store.get_min_phy_offset(), b.store.get_max_phy_offset());
    let now = now_millis();
    let mut t = KvTable::default();
    let mut put = |k: &str, v: String| {
        t.table.insert(k.to_string(), v);
    };
    put("brokerVersionDesc", "V4_9_4".into());
    put("brokerVersion", mq_common::protocol::command::OUR_VERSION.to_string());
    put("bootTimestamp", b.boot_timestamp.to_string());
    put(
        "runtime",
        format!(
            "[ {} days, {} hours, {} minutes, {} seconds ]",
            (now - b.boot_timestamp) / 86_400_000,
            (now - b.boot_timestamp) / 3_600_000 % 24,
            (now - b.boot_timestamp) / 60_000 % 60,
            (now - b.boot_timestamp) / 1000 % 60
        ),
    );
    for (k, v) in b.connections.snapshot().entries() {
        put(k, v.to_string());
    }
    put("pullsParked", b.pull_hold.parked().to_string());
    // Replication: role, slaves with their acknowledged offsets and lag, or the master
    // followed (rmq's keys next to Java's; `brokerStatus` and the console show them).
    for (k, v) in b.ha.status() {
        put(k, v);
    }
    put("msgPutTotalTodayNow", put_today.to_string());
    put("msgGetTotalTodayNow", get_today.to_string());
    put("msgPutTotalTodayMorning", "0".into());
    put("msgGetTotalTodayMorning", "0".into());
    put("msgPutTotalYesterdayMorning", "0".into());
    put("msgGetTotalYesterdayMorning", "0".into());
    put("putTps", format!("{:.2} {:.2} {:.2}", t10.0, t60.0, t600.0));
    put("getTransferedTps", format!("{:.2} {:.2} {:.2}", t10.1, t60.1, t600.1));
    put("getTransferedBytesPerSecond", format!("{:.2}", t10.2));
    put(
        "putMessageTimesTotal",
        b.stats.put_msgs.load(std::sync::atomic::Ordering::Relaxed).to_string(),
    );
    put(
        "putMessageSizeTotal",
        b.stats.put_bytes.load(std::sync::atomic::Ordering::Relaxed).to_string(),
    );
    put(
        "putMessageFailedTimes",
        b.stats.put_failures.load(std::sync::atomic::Ordering::Relaxed).to_string(),
    );
    put("commitLogMinOffset", min_phy.to_string());
    put("commitLogMaxOffset", max_phy.to_string());
    put("dispatchBehindBytes", "0".into());
    let root = b.store.root_dir();
    put("consumeQueueDiskRatio", format!("{:.4}", crate::store::disk_usage_ratio(root)));
    put("sendThreadPoolQueueSize", "0".into());
    put("sendThreadPoolQueueCapacity", "10000".into());
    put("pullThreadPoolQueueSize", "0".into());
    put("pullThreadPoolQueueCapacity", "100000".into());
    put("pullHoldRequests", b.pull_hold.parked().to_string());
    // rmq: the gRPC endpoint and POP consumption (`docs/pop.md`).
    put("grpcSessions", b.grpc.sessions.len().to_string());
    put(
        "grpcRequests",
        b.grpc
            .counters
            .snapshot()
            .iter()
            .map(|(rpc, code, n)| format!("{rpc}:{code}={n}"))
            .collect::<Vec<_>>()
            .join(" "),
    );
    put(
        "popGroups",
        b.pop
            .groups()
            .iter()
            .map(|g| {
                let s = b.pop.group_stats(b, g);
                format!("{g}:inflight={},retryBacklog={}", s.inflight, s.retry_backlog)
            })
            .collect::<Vec<_>>()
            .join(" "),
    );
    put("brokerRole", b.ha.role().name().into());
    put("brokerName", b.cfg.broker_name.clone());
    put("brokerAddr", b.cfg.broker_addr());
    let i = b.store.runtime_info();
    put("commitLogFlushedOffset", i.commit_log_flushed_offset.to_string());
    put("commitLogDiskRatio", format!("{:.4}", i.commit_log_disk_ratio));
    put("putMessageTimesTotal", i.put_message_times_total.to_string());
    put("putMessageSizeTotal", i.put_message_size_total.to_string());
    put("putMessageFailedTimes", i.put_message_failed_times.to_string());
    put("putMessageEntireTimeMax", (i.put_message_max_latency_us / 1000).to_string());
    put("storePoisoned", i.poisoned.to_string());
    put("consumeQueueCount", i.consume_queue_count.to_string());
    put("indexFileCount", i.index_file_count.to_string());
    put("storeType", "file".into());
    // Java 5.3 keys (AdminBrokerProcessor.prepareRuntimeInfo). Thread pools: rmq has no
    // request queues, so sizes and head waits are 0.
    put("brokerActive", "true".into());
    put("startAcceptSendRequestTimeStamp", "0".into());
    put("pageCacheLockTimeMills", "0".into());
    let earliest = b.store.get_earliest_message_time_any().unwrap_or(0);
    put("earliestMessageTimeStamp", earliest.to_string());
    put("remainTransientStoreBufferNumbs", "0".into());
    put("remainHowManyDataToCommit", "0 B".into());
    put(
        "remainHowManyDataToFlush",
        format!("{} B", (max_phy - i.commit_log_flushed_offset).max(0)),
    );
    let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
    let (total, free) = crate::store::disk_space(root).unwrap_or((0, 0));
    put(
        "commitLogDirCapacity",
        format!("Total : {:.1} GiB, Free : {:.1} GiB.", gib(total), gib(free)),
    );
    for pool in ["litePull", "query", "ack"] {
        put(&format!("{pool}ThreadPoolQueueSize"), "0".into());
        put(&format!("{pool}ThreadPoolQueueCapacity"), "100000".into());
    }
    for pool in ["send", "pull", "query", "litePull", "ack"] {
        put(&format!("{pool}ThreadPoolQueueHeadWaitTimeMills"), "0".into());
    }
    put("EndTransactionQueueSize", "0".into());
    put("EndTransactionThreadPoolQueueCapacity", "100000".into());
    for (k, v) in b.timer.runtime_entries() {
        put(k, v);
    }
    Ok(Some(RemotingCommand::success().with_body(to_json(&t))))
}

/// GET_TOPIC_STATS_INFO (202).
pub fn topic_stats(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: TopicRequestHeader = header(req)?;
    let Some(tc) = b.topics.get(&h.topic) else {
        return Err(err(response::TOPIC_NOT_EXIST, format!("topic[{}] not exist", h.topic)));
    };
    let mut table = TopicStatsTable::default();
    for q in 0..tc.write_queue_nums.max(tc.read_queue_nums) {
        let max = b.store.get_max_offset_in_queue(&h.topic, q);
        let last = if max > 0 {
            b.store.get_message_store_timestamp(&h.topic, q, max - 1).unwrap_or(0)
        } else {
            0
        };
        table.offset_table.0.insert(
            MessageQueue::new(h.topic.clone(), b.cfg.broker_name.clone(), q),
            TopicOffset {
                min_offset: b.store.get_min_offset_in_queue(&h.topic, q),
                max_offset: max,
                last_update_timestamp: last,
            },
        );
    }
    Ok(Some(RemotingCommand::success().with_body(table.to_json())))
}

/// GET_CONSUME_STATS (208). `consumeTps` = messages/s the group pulled from this broker over
/// the last ~10 s (all its topics).
pub fn consume_stats(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: GetConsumeStatsRequestHeader = header(req)?;
    let topics: Vec<String> = match h.topic.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => vec![t.to_string()],
        None => {
            let mut set: BTreeSet<String> =
                b.offsets.topics_of_group(&h.consumer_group).into_iter().collect();
            b.consumers
                .with_group(&h.consumer_group, |g| set.extend(g.subscriptions.keys().cloned()));
            set.into_iter().collect()
        }
    };
    let mut stats =
        ConsumeStats { consume_tps: b.stats.group_tps(&h.consumer_group), ..Default::default() };
    for topic in topics {
        let Some(tc) = b.topics.get(&topic) else { continue };
        for q in 0..tc.read_queue_nums {
            let broker_offset = b.store.get_max_offset_in_queue(&topic, q);
            let consumer_offset = b.offsets.query(&h.consumer_group, &topic, q).unwrap_or(0).max(0);
            let last_timestamp = if consumer_offset > 0 {
                b.store.get_message_store_timestamp(&topic, q, consumer_offset - 1).unwrap_or(0)
            } else {
                0
            };
            stats.offset_table.0.insert(
                MessageQueue::new(topic.clone(), b.cfg.broker_name.clone(), q),
                OffsetWrapper {
                    broker_offset,
                    consumer_offset,
                    last_timestamp,
                    pull_offset: consumer_offset,
                },
            );
        }
    }
    if stats.offset_table.0.is_empty()
        && h.topic.is_some()
        && b.topics.get(h.topic.as_deref().unwrap_or("")).is_none()
    {
        return Err(err(
            response::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist", h.topic.unwrap_or_default()),
        ));
    }
    Ok(Some(RemotingCommand::success().with_body(stats.to_json())))
}

/// GET_CONSUMER_CONNECTION_LIST (203).
pub fn consumer_connections(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: ConsumerGroupRequestHeader = header(req)?;
    let body = b.consumers.with_group(&h.consumer_group, |g| ConsumerConnection {
        connection_set: g
            .channels
            .values()
            .map(|c| Connection {
                client_id: c.client_id.clone(),
                client_addr: c.channel.peer_addr().to_string(),
                language: c.language.clone(),
                version: c.version,
            })
            .collect(),
        subscription_table: g
            .subscriptions
            .iter()
            .map(|(k, v)| (k.clone(), v.data.clone()))
            .collect(),
        consume_type: g.consume_type.clone(),
        message_model: g.message_model.clone(),
        consume_from_where: g.consume_from_where.clone(),
    });
    match body {
        Some(c) if !c.connection_set.is_empty() => {
            Ok(Some(RemotingCommand::success().with_body(to_json(&c))))
        }
        _ => Err(err(
            response::CONSUMER_NOT_ONLINE,
            format!("the consumer group[{}] not online", h.consumer_group),
        )),
    }
}

/// GET_PRODUCER_CONNECTION_LIST (204).
pub fn producer_connections(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: ProducerGroupRequestHeader = header(req)?;
    let chans = b.producers.channels(&h.producer_group);
    if chans.is_empty() {
        return Err(err(
            response::SYSTEM_ERROR,
            format!("the producer group[{}] not exist", h.producer_group),
        ));
    }
    let body = ProducerConnection {
        connection_set: chans
            .into_iter()
            .map(|c| Connection {
                client_id: c.client_id,
                client_addr: c.channel.peer_addr().to_string(),
                language: c.language,
                version: c.version,
            })
            .collect(),
    };
    Ok(Some(RemotingCommand::success().with_body(to_json(&body))))
}

/// QUERY_TOPIC_CONSUME_BY_WHO (300).
pub fn topic_consumed_by(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: TopicRequestHeader = header(req)?;
    let mut groups: BTreeSet<String> = b.offsets.groups_of_topic(&h.topic).into_iter().collect();
    groups.extend(b.consumers.groups_of_topic(&h.topic));
    Ok(Some(RemotingCommand::success().with_body(to_json(&GroupList { group_list: groups }))))
}

/// QUERY_TOPICS_BY_CONSUMER (343).
pub fn topics_by_consumer(b: &Broker, req: &RemotingCommand) -> Reply {
    let h: QueryTopicsByConsumerRequestHeader = header(req)?;
    let mut topics: BTreeSet<String> = b.offsets.topics_of_group(&h.group).into_iter().collect();
    b.consumers.with_group(&h.group, |g| {
        topics.extend(
            g.subscriptions.keys().filter(|t| !t.starts_with(system_topics::RETRY_PREFIX)).cloned(),
        )
    });
    Ok(Some(RemotingCommand::success().with_body(to_json(&TopicList {
        topic_list: topics.into_iter().collect(),
        broker_addr: Some(b.cfg.broker_addr()),
    }))))
}
