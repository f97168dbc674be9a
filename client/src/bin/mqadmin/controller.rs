//! Controller-mode subcommands (Apache's names and flags): getControllerMetaData,
//! getSyncStateSet, electMaster (at the controllers, `mq_client::admin::controller`) and
//! getBrokerEpoch (GET_BROKER_EPOCH_CACHE at each replica found through the name server).
//! `-a` takes one or more controller addresses (`a;b;c`); the tool finds the leader through
//! CONTROLLER_GET_METADATA_INFO and asks it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;

use mq_client::admin::controller as ctl;
use mq_common::protocol::body::EpochEntryCache;
use mq_common::remoting::{ClientConfig, RemotingClient};

use crate::output::json;
use crate::Common;

#[derive(Subcommand, Debug)]
pub enum ControllerCmd {
    /// Get controller cluster's metadata.
    #[command(name = "getControllerMetaData", visible_alias = "get-controller-meta-data")]
    GetControllerMetaData {
        /// the address of controller (one, or several separated by ';')
        #[arg(short = 'a', long = "controllerAddress")]
        controller: String,
    },
    /// Fetch syncStateSet for target brokers.
    #[command(name = "getSyncStateSet", visible_alias = "get-sync-state-set")]
    GetSyncStateSet {
        /// the address of controller
        #[arg(short = 'a', long = "controllerAddress")]
        controller: String,
        /// which broker to fetch (several separated by ','); all when absent
        #[arg(short = 'b', long = "brokerName")]
        broker_name: Option<String>,
    },
    /// Re-elect the specified broker as master.
    #[command(name = "electMaster", visible_alias = "elect-master")]
    ElectMaster {
        /// The address of controller
        #[arg(short = 'a', long = "controllerAddress")]
        controller: String,
        /// The id of the broker which requires to become master
        #[arg(short = 'b', long = "brokerId")]
        broker_id: i64,
        /// The broker name of the replicas that require to be manipulated
        #[arg(long = "bn", alias = "brokerName")]
        broker_name: String,
        /// the clusterName of broker
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Fetch broker epoch entries.
    #[command(name = "getBrokerEpoch", visible_alias = "get-broker-epoch")]
    GetBrokerEpoch {
        /// which broker to fetch (every replica of it, from the name server)
        #[arg(short = 'b', long = "brokerName", required_unless_present = "cluster")]
        broker_name: Option<String>,
        /// which cluster (every replica of every broker in it)
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
        /// the interval(second) of get info: repeat until interrupted
        #[arg(short = 'i', long = "interval")]
        interval: Option<u64>,
    },
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn client(c: &Common) -> anyhow::Result<RemotingClient> {
    Ok(RemotingClient::new(ClientConfig {
        credentials: c.credentials()?,
        tls: c.tls()?,
        ..ClientConfig::default()
    }))
}

/// Every address (master and replicas) of broker `name`, or of every broker of `cluster`,
/// from the name server (Java's `CommandUtil.fetchMasterAndSlaveAddrBy*`).
async fn group_addrs(
    admin: &mq_client::Admin,
    name: Option<&str>,
    cluster: Option<&str>,
) -> anyhow::Result<BTreeSet<String>> {
    let info = admin.cluster_info().await?;
    let names: Vec<String> = match (name, cluster) {
        (Some(n), _) => vec![n.to_string()],
        (None, Some(c)) => info
            .cluster_addr_table
            .get(c)
            .with_context(|| format!("cluster '{c}' not found"))?
            .iter()
            .cloned()
            .collect(),
        (None, None) => anyhow::bail!("give -b brokerName or -c clusterName"),
    };
    Ok(names
        .iter()
        .filter_map(|n| info.broker_addr_table.get(n))
        .flat_map(|bd| bd.broker_addrs.values().cloned())
        .collect())
}

/// `getBrokerEpoch` output for one broker, as Java's `GetBrokerEpochSubCommand#printData`.
fn print_epochs(addr: &str, e: &EpochEntryCache) {
    print!(
        "\n#clusterName\t{}\n#brokerName\t{}\n#brokerAddr\t{addr}\n#brokerId\t{}",
        e.cluster_name, e.broker_name, e.broker_id
    );
    for line in e.printable_entries() {
        print!("\n#Epoch: {line}");
    }
    println!();
}

impl ControllerCmd {
    pub async fn run(self, c: &Common) -> anyhow::Result<()> {
        let client = client(c)?;
        match self {
            ControllerCmd::GetBrokerEpoch { broker_name, cluster, interval } => loop {
                let admin = c.admin().await?;
                let addrs = group_addrs(&admin, broker_name.as_deref(), cluster.as_deref()).await?;
                let mut all = BTreeMap::new();
                for addr in addrs {
                    let e = admin
                        .broker_epoch_cache(&addr)
                        .await
                        .with_context(|| format!("GET_BROKER_EPOCH_CACHE at {addr}"))?;
                    all.insert(addr, e);
                }
                admin.close();
                if c.json {
                    json(&all);
                } else {
                    for (addr, e) in &all {
                        print_epochs(addr, e);
                    }
                }
                match interval {
                    Some(s) => tokio::time::sleep(Duration::from_secs(s.max(1))).await,
                    None => break,
                }
            },
            ControllerCmd::GetControllerMetaData { controller } => {
                let (asked, h) = ctl::metadata(&client, &controller, TIMEOUT).await?;
                if c.json {
                    json(&serde_json::json!({
                        "group": h.group,
                        "controllerLeaderId": h.controller_leader_id,
                        "controllerLeaderAddress": h.controller_leader_address,
                        "peers": h.peers,
                        "askedController": asked,
                    }));
                } else {
                    println!("ControllerGroup\t{}", h.group.unwrap_or_default());
                    println!("ControllerLeaderId\t{}", h.controller_leader_id.unwrap_or_default());
                    println!(
                        "ControllerLeaderAddress\t{}",
                        h.controller_leader_address.unwrap_or_default()
                    );
                    for p in h.peers.unwrap_or_default().split(';').filter(|p| !p.is_empty()) {
                        println!("#Peer:\t{p}");
                    }
                }
            }
            ControllerCmd::GetSyncStateSet { controller, broker_name } => {
                let names: Vec<String> = broker_name
                    .map(|b| {
                        b.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                let info = ctl::sync_state_data(&client, &controller, &names, TIMEOUT).await?;
                if c.json {
                    json(&info);
                    return Ok(());
                }
                for (name, g) in &info.replicas_info_table {
                    println!(
                        "\n#brokerName\t{name}\n#MasterBrokerId\t{}\n#MasterAddr\t{}\n#MasterEpoch\t{}\n#SyncStateSetEpoch\t{}\n#SyncStateSetNums\t{}",
                        g.master_broker_id.map_or("-".into(), |m| m.to_string()),
                        g.master_address.as_deref().unwrap_or("-"),
                        g.master_epoch,
                        g.sync_state_set_epoch,
                        g.in_sync_replicas.len(),
                    );
                    for r in &g.in_sync_replicas {
                        println!(
                            "\nInSyncReplica:\t{}:{}:{} alive={}",
                            r.broker_name, r.broker_id, r.broker_address, r.alive
                        );
                    }
                    for r in &g.not_in_sync_replicas {
                        println!(
                            "\nNotInSyncReplica:\t{}:{}:{} alive={}",
                            r.broker_name, r.broker_id, r.broker_address, r.alive
                        );
                    }
                    for e in &g.epoch_history {
                        println!(
                            "#Epoch\t{}\tmaster={}",
                            e.epoch,
                            e.master_broker_id.map_or("-".into(), |m| m.to_string())
                        );
                    }
                }
            }
            ControllerCmd::ElectMaster { controller, broker_id, broker_name, cluster } => {
                let h = ctl::elect_master(
                    &client,
                    &controller,
                    cluster.as_deref(),
                    &broker_name,
                    broker_id,
                    TIMEOUT,
                )
                .await?;
                if c.json {
                    json(&serde_json::json!({
                        "brokerName": broker_name,
                        "masterBrokerId": h.master_broker_id,
                        "masterAddress": h.master_address,
                        "masterEpoch": h.master_epoch,
                        "syncStateSetEpoch": h.sync_state_set_epoch,
                    }));
                } else {
                    println!(
                        "brokerName\t{broker_name}\nmasterBrokerId\t{}\nmasterAddress\t{}\nmasterEpoch\t{}\nsyncStateSetEpoch\t{}",
                        h.master_broker_id.unwrap_or(-1),
                        h.master_address.unwrap_or_default(),
                        h.master_epoch.unwrap_or(0),
                        h.sync_state_set_epoch.unwrap_or(0),
                    );
                }
            }
        }
        Ok(())
    }
}
