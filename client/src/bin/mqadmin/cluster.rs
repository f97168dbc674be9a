//! Cluster and broker subcommands: clusterList, brokerStatus, getBrokerConfig,
//! updateBrokerConfig, updateKvConfig, deleteKvConfig.

use std::collections::BTreeMap;

use clap::Subcommand;
use mq_client::admin::BrokerTarget;
use mq_client::Admin;

use crate::output::json;
use crate::Common;

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// List cluster infos.
    #[command(name = "clusterList", visible_alias = "cluster-list")]
    ClusterList {
        /// Print more stats (message totals of yesterday and today)
        #[arg(short = 'm', long = "moreStats")]
        more: bool,
        /// specify intervals numbers, it is in seconds (repeat every N seconds)
        #[arg(short = 'i', long = "interval")]
        interval: Option<u64>,
        /// which cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Fetch broker runtime status data.
    #[command(name = "brokerStatus", visible_alias = "broker-status")]
    BrokerStatus {
        /// Broker address
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        /// which cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Get broker config by cluster or special broker!
    #[command(name = "getBrokerConfig", visible_alias = "get-broker-config")]
    GetBrokerConfig {
        /// get which broker
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        /// get which cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Update broker's config.
    #[command(name = "updateBrokerConfig", visible_alias = "update-broker-config")]
    UpdateBrokerConfig {
        /// update which broker
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        /// update which cluster
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// config key
        #[arg(short = 'k', long = "key")]
        key: String,
        /// config value
        #[arg(short = 'v', long = "value")]
        value: String,
    },
    /// Create or update KV config.
    #[command(name = "updateKvConfig", visible_alias = "update-kv-config")]
    UpdateKvConfig {
        /// set the namespace
        #[arg(short = 's', long = "namespace")]
        namespace: String,
        /// set the key name
        #[arg(short = 'k', long = "key")]
        key: String,
        /// set the key value
        #[arg(short = 'v', long = "value")]
        value: String,
    },
    /// Delete KV config.
    #[command(name = "deleteKvConfig", visible_alias = "delete-kv-config")]
    DeleteKvConfig {
        /// set the namespace
        #[arg(short = 's', long = "namespace")]
        namespace: String,
        /// set the key name
        #[arg(short = 'k', long = "key")]
        key: String,
    },
}

fn target(broker: Option<String>, cluster: Option<String>) -> anyhow::Result<BrokerTarget> {
    match (broker, cluster) {
        (Some(b), _) => Ok(BrokerTarget::Addr(b)),
        (None, Some(c)) => Ok(BrokerTarget::Cluster(c)),
        _ => anyhow::bail!("-b brokerAddr or -c clusterName is required"),
    }
}

fn num(t: &BTreeMap<String, String>, k: &str) -> i64 {
    t.get(k).and_then(|v| v.trim().parse::<f64>().ok()).map(|v| v as i64).unwrap_or(0)
}

fn first_f64(t: &BTreeMap<String, String>, k: &str) -> f64 {
    t.get(k).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

async fn cluster_list(
    admin: &Admin,
    c: &Common,
    more: bool,
    only: Option<&str>,
) -> anyhow::Result<()> {
    let info = admin.cluster_info().await?;
    let mut rows = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        if only.is_some_and(|o| o != cluster) {
            continue;
        }
        for name in names {
            let Some(bd) = info.broker_addr_table.get(name) else { continue };
            for (id, addr) in &bd.broker_addrs {
                let rt = admin.broker_runtime_info(addr).await.unwrap_or_default();
                rows.push((cluster.clone(), name.clone(), id.clone(), addr.clone(), rt));
            }
        }
    }
    if c.json {
        json(&rows.iter().map(|(c, n, id, a, rt)| serde_json::json!({"cluster": c, "brokerName": n, "brokerId": id, "addr": a, "runtime": rt})).collect::<Vec<_>>());
        return Ok(());
    }
    if more {
        println!(
            "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}",
            "#Cluster Name",
            "#Broker Name",
            "#InTotalYest",
            "#OutTotalYest",
            "#InTotalToday",
            "#OutTotalToday"
        );
        for (cl, name, _, _, rt) in &rows {
            let in_yest =
                num(rt, "msgPutTotalTodayMorning") - num(rt, "msgPutTotalYesterdayMorning");
            let out_yest =
                num(rt, "msgGetTotalTodayMorning") - num(rt, "msgGetTotalYesterdayMorning");
            let in_today = num(rt, "msgPutTotalTodayNow") - num(rt, "msgPutTotalTodayMorning");
            let out_today = num(rt, "msgGetTotalTodayNow") - num(rt, "msgGetTotalTodayMorning");
            println!(
                "{cl:<16}  {name:<32} {in_yest:>14} {out_yest:>14} {in_today:>14} {out_today:>14}"
            );
        }
        return Ok(());
    }
    // Java's columns, then the replicas: role, commit-log max offset and, for a slave, how
    // many bytes it is behind its group's master.
    let master_max: BTreeMap<&str, i64> = rows
        .iter()
        .filter(|r| r.2 == "0")
        .map(|r| (r.1.as_str(), num(&r.4, "commitLogMaxOffset")))
        .collect();
    println!(
        "{:<16}  {:<22}  {:<4}  {:<22} {:<16} {:>19} {:>19} {:>10} {:>5} {:>6}  {:<12} {:>14} {:>12}",
        "#Cluster Name",
        "#Broker Name",
        "#BID",
        "#Addr",
        "#Version",
        "#InTPS(LOAD)",
        "#OutTPS(LOAD)",
        "#PCWait(ms)",
        "#Hour",
        "#SPACE",
        "#Role",
        "#MaxOffset",
        "#BehindBytes"
    );
    let now = mq_common::protocol::now_millis();
    for (cl, name, id, addr, rt) in &rows {
        let earliest = num(rt, "earliestMessageTimeStamp");
        let hour = if earliest > 0 {
            format!("{:.2}", (now - earliest) as f64 / 3_600_000.0)
        } else {
            "0.00".into()
        };
        let space = rt.get("commitLogDiskRatio").and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let max = num(rt, "commitLogMaxOffset");
        let behind = match master_max.get(name.as_str()) {
            Some(m) if id != "0" => (m - max).max(0).to_string(),
            None if id != "0" => "no master".into(),
            _ => "-".into(),
        };
        println!(
            "{:<16}  {:<22}  {:<4}  {:<22} {:<16} {:>19} {:>19} {:>10} {:>5} {:>6}  {:<12} {:>14} {:>12}",
            cl,
            name,
            id,
            addr,
            rt.get("brokerVersionDesc").cloned().unwrap_or_default(),
            format!("{:.2}(0.0,0ms)", first_f64(rt, "putTps")),
            format!("{:.2}(0.0,0ms)", first_f64(rt, "getTransferedTps")),
            num(rt, "pageCacheLockTimeMills"),
            hour,
            format!("{:.4}", space),
            rt.get("brokerRole").cloned().unwrap_or_default(),
            max,
            behind,
        );
    }
    Ok(())
}

impl ClusterCmd {
    pub async fn run(self, c: &Common) -> anyhow::Result<()> {
        let admin = c.admin().await?;
        match self {
            ClusterCmd::ClusterList { more, interval, cluster } => loop {
                cluster_list(&admin, c, more, cluster.as_deref()).await?;
                match interval {
                    Some(s) if s > 0 => tokio::time::sleep(std::time::Duration::from_secs(s)).await,
                    _ => break,
                }
            },
            ClusterCmd::BrokerStatus { broker, cluster } => {
                let mut all = BTreeMap::new();
                for addr in admin.resolve(&target(broker, cluster)?).await? {
                    all.insert(addr.clone(), admin.broker_runtime_info(&addr).await?);
                }
                if c.json {
                    json(&all);
                } else {
                    let many = all.len() > 1;
                    for (addr, t) in all {
                        for (k, v) in t {
                            if many {
                                println!("{:<24} {:<32}: {}", addr, k, v);
                            } else {
                                println!("{:<32}: {}", k, v);
                            }
                        }
                    }
                }
            }
            ClusterCmd::GetBrokerConfig { broker, cluster } => {
                let mut all = BTreeMap::new();
                for addr in admin.resolve(&target(broker, cluster)?).await? {
                    all.insert(addr.clone(), admin.broker_config(&addr).await?);
                }
                if c.json {
                    json(&all);
                } else {
                    for (addr, cfg) in all {
                        println!("============{addr}============");
                        for (k, v) in cfg {
                            println!("{:<50}=  {}", k, v);
                        }
                    }
                }
            }
            ClusterCmd::UpdateBrokerConfig { broker, cluster, key, value } => {
                for addr in admin.resolve(&target(broker, cluster)?).await? {
                    let remark = admin.update_broker_config(&addr, &key, &value).await?;
                    if c.json {
                        json(
                            &serde_json::json!({"broker": addr, "key": key, "value": value, "remark": remark}),
                        );
                    } else {
                        println!("update broker config success, {addr}");
                        if let Some(r) = remark {
                            println!("  ({r})");
                        }
                    }
                }
            }
            ClusterCmd::UpdateKvConfig { namespace, key, value } => {
                admin.put_kv_config(&namespace, &key, &value).await?;
                println!("create or update kv config to namespace success.");
            }
            ClusterCmd::DeleteKvConfig { namespace, key } => {
                admin.delete_kv_config(&namespace, &key).await?;
                println!("delete kv config from namespace success.");
            }
        }
        admin.close();
        Ok(())
    }
}
