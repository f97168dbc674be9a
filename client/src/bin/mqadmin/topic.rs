//! Topic subcommands: updateTopic, deleteTopic, topicList, topicRoute, topicStatus, topicClusterList.

use clap::Subcommand;
use mq_client::admin::BrokerTarget;
use mq_common::protocol::body::TopicConfig;

use crate::output::{human_time, json};
use crate::Common;

#[derive(Subcommand, Debug)]
pub enum TopicCmd {
    /// Update or create topic.
    #[command(name = "updateTopic", visible_alias = "update-topic")]
    UpdateTopic {
        /// create topic to which broker
        #[arg(
            short = 'b',
            long = "brokerAddr",
            conflicts_with = "cluster",
            required_unless_present = "cluster"
        )]
        broker: Option<String>,
        /// create topic to which cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// set read queue nums
        #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
        read: i32,
        /// set write queue nums
        #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
        write: i32,
        /// set topic's permission(2|4|6), intro[2:W 4:R; 6:RW]
        #[arg(short = 'p', long = "perm", default_value_t = 6)]
        perm: i32,
        /// set topic's order(true|false)
        #[arg(short = 'o', long = "order", default_value_t = false, action = clap::ArgAction::Set)]
        order: bool,
        /// is unit topic (true|false)
        #[arg(short = 'u', long = "unit", default_value_t = false, action = clap::ArgAction::Set)]
        unit: bool,
        /// has unit sub (true|false)
        #[arg(short = 's', long = "hasUnitSub", default_value_t = false, action = clap::ArgAction::Set)]
        has_unit_sub: bool,
    },
    /// Delete topic from broker and NameServer.
    #[command(name = "deleteTopic", visible_alias = "delete-topic")]
    DeleteTopic {
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// delete topic from which cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Fetch all topic list from name server.
    #[command(name = "topicList", visible_alias = "topic-list")]
    TopicList {
        /// clusterModel: also print cluster and consumer groups
        #[arg(short = 'c', long = "clusterModel")]
        cluster_model: bool,
    },
    /// Examine topic route info.
    #[command(name = "topicRoute", visible_alias = "topic-route")]
    TopicRoute {
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// Use list format to print data
        #[arg(short = 'l', long = "list")]
        list: bool,
    },
    /// Examine topic Status info.
    #[command(name = "topicStatus", visible_alias = "topic-status")]
    TopicStatus {
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
        /// cluster name or lmq parent topic (accepted, unused)
        #[arg(short = 'c', long = "cluster")]
        cluster: Option<String>,
    },
    /// Get cluster info for topic.
    #[command(name = "topicClusterList", visible_alias = "topic-cluster-list")]
    TopicClusterList {
        /// topic name
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
}

impl TopicCmd {
    pub async fn run(self, c: &Common) -> anyhow::Result<()> {
        let admin = c.admin().await?;
        match self {
            TopicCmd::UpdateTopic {
                broker,
                cluster,
                topic,
                read,
                write,
                perm,
                order,
                unit,
                has_unit_sub,
            } => {
                let mut tc = TopicConfig::new(&topic, read, perm);
                tc.write_queue_nums = write;
                tc.order = order;
                tc.topic_sys_flag = (unit as i32) | ((has_unit_sub as i32) << 1);
                let target = match (broker, cluster) {
                    (Some(b), _) => BrokerTarget::Addr(b),
                    (None, Some(c)) => BrokerTarget::Cluster(c),
                    (None, None) => anyhow::bail!("-b or -c is required"),
                };
                let done = admin.create_topic(&target, &tc).await?;
                if c.json {
                    json(&serde_json::json!({"brokers": done, "topicConfig": tc}));
                } else {
                    for a in done {
                        println!("create topic to {a} success.");
                    }
                    println!("{}", serde_json::to_string(&tc)?);
                }
            }
            TopicCmd::DeleteTopic { topic, cluster } => {
                admin.delete_topic(&topic, cluster.as_deref()).await?;
                if c.json {
                    json(&serde_json::json!({"topic": topic, "deleted": true}));
                } else {
                    println!(
                        "delete topic [{topic}] from cluster [{}] success.",
                        cluster.as_deref().unwrap_or("*")
                    );
                    println!("delete topic [{topic}] from NameServer success.");
                }
            }
            TopicCmd::TopicList { cluster_model } => {
                let topics = admin.topic_list().await?;
                if !cluster_model {
                    if c.json {
                        json(&topics);
                    } else {
                        for t in topics {
                            println!("{t}");
                        }
                    }
                    return Ok(());
                }
                let info = admin.cluster_info().await?;
                let mut rows = Vec::new();
                for t in
                    topics.iter().filter(|t| !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%"))
                {
                    let Ok(route) = admin.topic_route(t).await else { continue };
                    let clusters: std::collections::BTreeSet<String> =
                        route.broker_datas.iter().map(|b| b.cluster.clone()).collect();
                    let groups = admin.topic_consumed_by(t).await.unwrap_or_default();
                    let cluster = clusters.into_iter().next().unwrap_or_default();
                    if groups.is_empty() {
                        rows.push((cluster.clone(), t.clone(), String::new()));
                    }
                    for g in groups {
                        rows.push((cluster.clone(), t.clone(), g));
                    }
                }
                let _ = info;
                if c.json {
                    json(&rows.iter().map(|(c, t, g)| serde_json::json!({"cluster": c, "topic": t, "consumerGroup": g})).collect::<Vec<_>>());
                } else {
                    println!(
                        "{:<20}  {:<48}  {:<48}",
                        "#Cluster Name", "#Topic", "#Consumer Group"
                    );
                    for (cl, t, g) in rows {
                        println!("{cl:<20}  {t:<48}  {g:<48}");
                    }
                }
            }
            TopicCmd::TopicRoute { topic, list } => {
                let route = admin.topic_route(&topic).await?;
                if c.json || !list {
                    json(&route);
                    return Ok(());
                }
                println!(
                    "{:<45} {:<32} {:<50} {:<10} {:<11} {:<5}",
                    "#ClusterName",
                    "#BrokerName",
                    "#BrokerAddrs",
                    "#ReadQueue",
                    "#WriteQueue",
                    "#Perm"
                );
                let (mut rq, mut wq) = (0, 0);
                for bd in &route.broker_datas {
                    let qd = route.queue_datas.iter().find(|q| q.broker_name == bd.broker_name);
                    let addrs: Vec<String> =
                        bd.broker_addrs.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    let (r, w, p) = qd
                        .map(|q| (q.read_queue_nums, q.write_queue_nums, q.perm))
                        .unwrap_or((0, 0, 0));
                    rq += r;
                    wq += w;
                    println!(
                        "{:<45} {:<32} {:<50} {:<10} {:<11} {:<5}",
                        bd.cluster,
                        bd.broker_name,
                        format!("{{{}}}", addrs.join(", ")),
                        r,
                        w,
                        p
                    );
                }
                println!("\nTotal:");
                println!(
                    "{:<45} {:<32} {:<50} {:<10} {:<11} {:<5}",
                    "",
                    route.broker_datas.len(),
                    "",
                    rq,
                    wq,
                    ""
                );
            }
            TopicCmd::TopicStatus { topic, .. } => {
                let stats = admin.topic_status(&topic).await?;
                if c.json {
                    json(&stats.iter().map(|(mq, o)| serde_json::json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "minOffset": o.min_offset, "maxOffset": o.max_offset, "lastUpdateTimestamp": o.last_update_timestamp})).collect::<Vec<_>>());
                    return Ok(());
                }
                println!(
                    "{:<32}  {:<4}  {:<20}  {:<20}    {}",
                    "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"
                );
                for (mq, o) in stats {
                    let last = if o.last_update_timestamp > 0 {
                        human_time(o.last_update_timestamp)
                    } else {
                        String::new()
                    };
                    println!(
                        "{:<32}  {:<4}  {:<20}  {:<20}    {}",
                        mq.broker_name, mq.queue_id, o.min_offset, o.max_offset, last
                    );
                }
            }
            TopicCmd::TopicClusterList { topic } => {
                let route = admin.topic_route(&topic).await?;
                let clusters: std::collections::BTreeSet<String> =
                    route.broker_datas.iter().map(|b| b.cluster.clone()).collect();
                if c.json {
                    json(&clusters);
                } else {
                    for cl in clusters {
                        println!("{cl}");
                    }
                }
            }
        }
        admin.close();
        Ok(())
    }
}
