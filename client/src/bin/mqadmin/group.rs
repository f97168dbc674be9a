//! Group subcommands: updateSubGroup, deleteSubGroup, consumerProgress, consumerConnection,
//! producerConnection, consumerStatus, resetOffsetByTime, statsAll.

use clap::Subcommand;
use mq_client::admin::BrokerTarget;
use mq_common::protocol::body::SubscriptionGroupConfig;

use crate::output::{human_time, json, parse_time};
use crate::Common;

#[derive(Subcommand, Debug)]
pub enum GroupCmd {
    /// Update or create subscription group.
    #[command(name = "updateSubGroup", visible_alias = "update-sub-group")]
    UpdateSubGroup {
        /// create subscription group to which broker
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        /// create subscription group to which cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// consumer group name
        #[arg(short = 'g', long = "groupName")]
        group: String,
        /// consume enable
        #[arg(short = 's', long = "consumeEnable", action = clap::ArgAction::Set)]
        consume_enable: Option<bool>,
        /// from min offset
        #[arg(short = 'm', long = "consumeFromMinEnable", action = clap::ArgAction::Set)]
        from_min: Option<bool>,
        /// broadcast
        #[arg(short = 'd', long = "consumeBroadcastEnable", action = clap::ArgAction::Set)]
        broadcast: Option<bool>,
        /// consume message orderly
        #[arg(short = 'o', long = "consumeMessageOrderly", action = clap::ArgAction::Set)]
        orderly: Option<bool>,
        /// retry queue nums
        #[arg(short = 'q', long = "retryQueueNums")]
        retry_queues: Option<i32>,
        /// retry max times
        #[arg(short = 'r', long = "retryMaxTimes")]
        retry_max: Option<i32>,
        /// consumer from which broker id
        #[arg(short = 'i', long = "brokerId")]
        broker_id: Option<i64>,
        /// which broker id when consume slowly
        #[arg(short = 'w', long = "whichBrokerWhenConsumeSlowly")]
        slow_broker: Option<i64>,
        /// notify consumerId changed
        #[arg(short = 'a', long = "notifyConsumerIdsChanged", action = clap::ArgAction::Set)]
        notify: Option<bool>,
    },
    /// Delete subscription group from broker.
    #[command(name = "deleteSubGroup", visible_alias = "delete-sub-group")]
    DeleteSubGroup {
        /// delete subscription group from which broker
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        /// delete subscription group from which cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// subscription group name
        #[arg(short = 'g', long = "groupName")]
        group: String,
        /// remove offset
        #[arg(short = 'r', long = "removeOffset", default_value_t = false, action = clap::ArgAction::Set)]
        remove_offset: bool,
    },
    /// Query consumer's progress, speed.
    #[command(name = "consumerProgress", visible_alias = "consumer-progress")]
    ConsumerProgress {
        /// consumer group name (all groups when absent)
        #[arg(short = 'g', long = "groupName")]
        group: Option<String>,
        /// topic name
        #[arg(short = 't', long = "topicName")]
        topic: Option<String>,
        /// show client ip
        #[arg(short = 's', long = "showClientIP")]
        show_ip: bool,
        /// cluster name (accepted, unused)
        #[arg(short = 'c', long = "cluster")]
        cluster: Option<String>,
    },
    /// Query consumer's socket connection, client version and subscription.
    #[command(name = "consumerConnection", visible_alias = "consumer-connection")]
    ConsumerConnection {
        /// consumer group name
        #[arg(short = 'g', long = "consumerGroup")]
        group: String,
        /// broker address (accepted, unused)
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
    },
    /// Query producer's socket connection and client version.
    #[command(name = "producerConnection", visible_alias = "producer-connection")]
    ProducerConnection {
        /// producer group name
        #[arg(short = 'g', long = "producerGroup")]
        group: String,
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Query consumer's internal data structure.
    #[command(name = "consumerStatus", visible_alias = "consumer-status")]
    ConsumerStatus {
        /// consumer group name
        #[arg(short = 'g', long = "consumerGroup")]
        group: String,
        /// The consumer's client id (all members when absent)
        #[arg(short = 'i', long = "clientId")]
        client_id: Option<String>,
        /// broker address (accepted, unused)
        #[arg(short = 'b', long = "brokerAddr")]
        broker: Option<String>,
    },
    /// Reset consumer offset by timestamp(without client restart).
    #[command(name = "resetOffsetByTime", visible_alias = "reset-offset-by-time")]
    ResetOffsetByTime {
        /// set the consumer group
        #[arg(short = 'g', long = "group")]
        group: String,
        /// set the topic
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// set the timestamp[now|currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]
        #[arg(short = 's', long = "timestamp")]
        timestamp: String,
        /// set the force rollback by timestamp switch[true|false]
        #[arg(short = 'f', long = "force", default_value_t = true, action = clap::ArgAction::Set)]
        force: bool,
    },
    /// Topic and Consumer tps stats.
    #[command(name = "statsAll", visible_alias = "stats-all")]
    StatsAll {
        /// print active topic only
        #[arg(short = 'a', long = "activeTopic")]
        active: bool,
        /// print select topic only
        #[arg(short = 't', long = "topic")]
        topic: Option<String>,
    },
}

fn target(broker: Option<String>, cluster: Option<String>) -> anyhow::Result<BrokerTarget> {
    match (broker, cluster) {
        (Some(b), _) => Ok(BrokerTarget::Addr(b)),
        (None, Some(c)) => Ok(BrokerTarget::Cluster(c)),
        _ => anyhow::bail!("-b brokerAddr or -c clusterName is required"),
    }
}

impl GroupCmd {
    pub async fn run(self, c: &Common) -> anyhow::Result<()> {
        let admin = c.admin().await?;
        match self {
            GroupCmd::UpdateSubGroup {
                broker,
                cluster,
                group,
                consume_enable,
                from_min,
                broadcast,
                orderly,
                retry_queues,
                retry_max,
                broker_id,
                slow_broker,
                notify,
            } => {
                let mut cfg = SubscriptionGroupConfig::new(&group);
                if let Some(v) = consume_enable {
                    cfg.consume_enable = v;
                }
                if let Some(v) = from_min {
                    cfg.consume_from_min_enable = v;
                }
                if let Some(v) = broadcast {
                    cfg.consume_broadcast_enable = v;
                }
                if let Some(v) = orderly {
                    cfg.consume_message_orderly = v;
                }
                if let Some(v) = retry_queues {
                    cfg.retry_queue_nums = v;
                }
                if let Some(v) = retry_max {
                    cfg.retry_max_times = v;
                }
                if let Some(v) = broker_id {
                    cfg.broker_id = v;
                }
                if let Some(v) = slow_broker {
                    cfg.which_broker_when_consume_slowly = v;
                }
                if let Some(v) = notify {
                    cfg.notify_consumer_ids_changed_enable = v;
                }
                let done = admin.create_subscription_group(&target(broker, cluster)?, &cfg).await?;
                if c.json {
                    json(&serde_json::json!({"brokers": done, "config": cfg}));
                } else {
                    for a in done {
                        println!("create subscription group to {a} success.");
                    }
                    println!("{}", serde_json::to_string(&cfg)?);
                }
            }
            GroupCmd::DeleteSubGroup { broker, cluster, group, remove_offset } => {
                let t = target(broker, cluster.clone())?;
                let done = admin.delete_subscription_group(&t, &group, remove_offset).await?;
                if c.json {
                    json(&serde_json::json!({"brokers": done, "group": group}));
                } else {
                    for a in done {
                        println!("delete subscription group [{group}] from broker [{a}] in cluster [{}] success.", cluster.as_deref().unwrap_or(""));
                    }
                }
            }
            GroupCmd::ConsumerProgress { group: Some(group), topic, show_ip, .. } => {
                let p = admin.consumer_progress(&group, topic.as_deref()).await?;
                // Which member holds each queue (from running info), only with -s.
                let mut owners = std::collections::BTreeMap::new();
                if show_ip {
                    if let Ok(conn) = admin.consumer_connection(&group).await {
                        for cn in conn.connection_set {
                            if let Ok(info) =
                                admin.consumer_running_info(&group, &cn.client_id).await
                            {
                                if let Some(t) = info.get("mqTable").and_then(|v| v.as_object()) {
                                    for k in t.keys() {
                                        if let Ok(mq) =
                                            serde_json::from_str::<mq_client::MessageQueue>(k)
                                        {
                                            owners.insert(
                                                mq,
                                                cn.client_addr
                                                    .split(':')
                                                    .next()
                                                    .unwrap_or("")
                                                    .to_string(),
                                            );
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                if c.json {
                    json(
                        &serde_json::json!({"queues": p.queues, "consumeTps": p.consume_tps, "diffTotal": p.diff_total()}),
                    );
                } else {
                    println!(
                        "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}  {}",
                        "#Topic",
                        "#Broker Name",
                        "#QID",
                        "#Broker Offset",
                        "#Consumer Offset",
                        "#Client IP",
                        "#Diff",
                        "#LastTime"
                    );
                    for q in &p.queues {
                        let ip = owners.get(&q.queue).cloned().unwrap_or_else(|| "N/A".into());
                        let last = if q.last_timestamp > 0 {
                            human_time(q.last_timestamp)
                        } else {
                            "N/A".into()
                        };
                        println!(
                            "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}  {}",
                            q.queue.topic,
                            q.queue.broker_name,
                            q.queue.queue_id,
                            q.broker_offset,
                            q.consumer_offset,
                            ip,
                            (q.broker_offset - q.consumer_offset).max(0),
                            last
                        );
                    }
                    println!();
                    println!("Consume TPS: {:.2}", p.consume_tps);
                    println!("Diff Total: {}", p.diff_total());
                }
            }
            GroupCmd::ConsumerProgress { group: None, .. } => {
                let groups = admin.subscription_groups().await?;
                let mut rows = Vec::new();
                for g in groups.keys() {
                    let conn = admin.consumer_connection(g).await.ok();
                    let p = admin.consumer_progress(g, None).await.unwrap_or_default();
                    let (count, version, ty, model) = match &conn {
                        Some(cn) => (
                            cn.connection_set.len(),
                            cn.connection_set
                                .iter()
                                .next()
                                .map(|x| x.version.to_string())
                                .unwrap_or_default(),
                            if cn.consume_type == "CONSUME_ACTIVELY" { "PULL" } else { "PUSH" }
                                .to_string(),
                            cn.message_model.clone(),
                        ),
                        None => (0, "OFFLINE".into(), String::new(), String::new()),
                    };
                    rows.push((
                        g.clone(),
                        count,
                        version,
                        ty,
                        model,
                        p.consume_tps,
                        p.diff_total(),
                    ));
                }
                if c.json {
                    json(&rows.iter().map(|r| serde_json::json!({"group": r.0, "count": r.1, "version": r.2, "type": r.3, "model": r.4, "tps": r.5, "diffTotal": r.6})).collect::<Vec<_>>());
                } else {
                    println!(
                        "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}",
                        "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"
                    );
                    for r in rows {
                        println!(
                            "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7.0}  {}",
                            r.0, r.1, r.2, r.3, r.4, r.5, r.6
                        );
                    }
                }
            }
            GroupCmd::ConsumerConnection { group, .. } => {
                let cc = admin.consumer_connection(&group).await?;
                if c.json {
                    json(&cc);
                } else {
                    for (i, cn) in cc.connection_set.iter().enumerate() {
                        println!(
                            "{:03}  {:<36} {:<22} {:<10} {}",
                            i + 1,
                            cn.client_id,
                            cn.client_addr,
                            cn.language,
                            cn.version
                        );
                    }
                    println!("\nBelow is subscription:");
                    for (i, (t, s)) in cc.subscription_table.iter().enumerate() {
                        // Java's line plus the expression type (TAG or SQL92), before the
                        // expression (which may contain spaces).
                        println!(
                            "{:03}  Topic: {:<40} ExpressionType: {:<5} SubExpression: {}",
                            i + 1,
                            t,
                            s.expression_type,
                            s.sub_string
                        );
                    }
                    println!();
                    println!("ConsumeType: {}", cc.consume_type);
                    println!("MessageModel: {}", cc.message_model);
                    println!("ConsumeFromWhere: {}", cc.consume_from_where);
                }
            }
            GroupCmd::ProducerConnection { group, topic } => {
                let pc = admin.producer_connection(&group, &topic).await?;
                if c.json {
                    json(&pc);
                } else {
                    for (i, cn) in pc.connection_set.iter().enumerate() {
                        println!(
                            "{:04}  {:<32} {:<22} {:<8} {}",
                            i + 1,
                            cn.client_id,
                            cn.client_addr,
                            cn.language,
                            cn.version
                        );
                    }
                }
            }
            GroupCmd::ConsumerStatus { group, client_id, .. } => {
                let ids: Vec<String> = match client_id {
                    Some(id) => vec![id],
                    None => admin
                        .consumer_connection(&group)
                        .await?
                        .connection_set
                        .into_iter()
                        .map(|c| c.client_id)
                        .collect(),
                };
                let mut all = serde_json::Map::new();
                for id in ids {
                    all.insert(id.clone(), admin.consumer_running_info(&group, &id).await?);
                }
                json(&all);
            }
            GroupCmd::ResetOffsetByTime { group, topic, timestamp, force } => {
                let ts = parse_time(&timestamp)?;
                let table = admin.reset_offset_by_time(&group, &topic, ts, force).await?;
                if c.json {
                    json(&table.iter().map(|(mq, o)| serde_json::json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": o})).collect::<Vec<_>>());
                } else {
                    println!("rollback consumer offset by specified group[{group}], topic[{topic}], force[{force}], timestamp(string)[{timestamp}], timestamp(long)[{ts}]");
                    println!("{:<40}  {:<40}  {:<40}", "#brokerName", "#queueId", "#offset");
                    for (mq, o) in table {
                        println!("{:<40}  {:<40}  {:<40}", mq.broker_name, mq.queue_id, o);
                    }
                }
            }
            GroupCmd::StatsAll { active, topic } => {
                let topics = match topic {
                    Some(t) => vec![t],
                    None => admin
                        .topic_list()
                        .await?
                        .into_iter()
                        .filter(|t| !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%"))
                        .collect(),
                };
                let mut rows = Vec::new();
                for t in topics {
                    let Ok(stats) = admin.topic_status(&t).await else { continue };
                    let total: i64 = stats.values().map(|o| o.max_offset - o.min_offset).sum();
                    let groups = admin.topic_consumed_by(&t).await.unwrap_or_default();
                    if groups.is_empty() {
                        rows.push((t.clone(), String::new(), 0i64, 0.0f64, total));
                    }
                    for g in groups {
                        let p = admin.consumer_progress(&g, Some(&t)).await.unwrap_or_default();
                        rows.push((t.clone(), g, p.diff_total(), p.consume_tps, total));
                    }
                }
                if active {
                    rows.retain(|r| r.3 > 0.0 || r.2 > 0);
                }
                if c.json {
                    json(&rows.iter().map(|r| serde_json::json!({"topic": r.0, "consumerGroup": r.1, "accumulation": r.2, "outTps": r.3, "stored": r.4})).collect::<Vec<_>>());
                } else {
                    println!(
                        "{:<64}  {:<64} {:>12} {:>11} {:>11} {:>14} {:>14}",
                        "#Topic",
                        "#Consumer Group",
                        "#Accumulation",
                        "#InTPS",
                        "#OutTPS",
                        "#InMsg24Hour",
                        "#OutMsg24Hour"
                    );
                    for r in rows {
                        println!(
                            "{:<64}  {:<64} {:>12} {:>11.2} {:>11.2} {:>14} {:>14}",
                            r.0, r.1, r.2, 0.0, r.3, r.4, "N/A"
                        );
                    }
                }
            }
        }
        admin.close();
        Ok(())
    }
}
