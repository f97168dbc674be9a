//! Controller-mode subcommands (Apache's names and flags): getControllerMetaData,
//! getSyncStateSet, electMaster. `-a` takes one or more controller addresses (`a;b;c`); the
//! tool finds the leader through CONTROLLER_GET_METADATA_INFO and asks it.

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use mq_common::protocol::body::BrokerReplicasInfo;
use mq_common::protocol::codes::{request as req, response as rc};
use mq_common::protocol::header::{
    ElectMasterRequestHeader, GetMetaDataResponseHeader, MasterInfoResponseHeader,
};
use mq_common::protocol::RemotingCommand;
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
}

const TIMEOUT: Duration = Duration::from_secs(5);

fn client(c: &Common) -> anyhow::Result<RemotingClient> {
    Ok(RemotingClient::new(ClientConfig {
        credentials: c.credentials()?,
        tls: c.tls()?,
        ..ClientConfig::default()
    }))
}

/// Ask each address who leads; the first answer naming a leader wins.
async fn metadata(
    client: &RemotingClient,
    addrs: &str,
) -> anyhow::Result<(String, GetMetaDataResponseHeader)> {
    let mut last_err = anyhow::anyhow!("no controller address given");
    for a in addrs.split(';').map(str::trim).filter(|a| !a.is_empty()) {
        match client
            .invoke(a, RemotingCommand::request(req::CONTROLLER_GET_METADATA_INFO), TIMEOUT)
            .await
        {
            Ok(r) if r.code == rc::SUCCESS => {
                let h: GetMetaDataResponseHeader = r.decode_header()?;
                if h.controller_leader_address.is_some() {
                    return Ok((a.to_string(), h));
                }
                last_err = anyhow::anyhow!("{a}: no controller leader yet");
            }
            Ok(r) => {
                last_err = anyhow::anyhow!("{a}: code {} {}", r.code, r.remark.unwrap_or_default())
            }
            Err(e) => last_err = anyhow::anyhow!("{a}: {e}"),
        }
    }
    Err(last_err)
}

/// Send `cmd` to the controller leader; a non-SUCCESS answer is returned, not an error.
async fn to_leader(
    client: &RemotingClient,
    addrs: &str,
    cmd: RemotingCommand,
) -> anyhow::Result<RemotingCommand> {
    let (_, meta) = metadata(client, addrs).await?;
    let leader = meta.controller_leader_address.unwrap_or_default();
    client
        .invoke(&leader, cmd, TIMEOUT)
        .await
        .with_context(|| format!("controller leader {leader}"))
}

impl ControllerCmd {
    pub async fn run(self, c: &Common) -> anyhow::Result<()> {
        let client = client(c)?;
        match self {
            ControllerCmd::GetControllerMetaData { controller } => {
                let (asked, h) = metadata(&client, &controller).await?;
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
                let cmd = RemotingCommand::request(req::CONTROLLER_GET_SYNC_STATE_DATA)
                    .with_body(serde_json::to_vec(&names)?);
                let r = to_leader(&client, &controller, cmd).await?;
                anyhow::ensure!(
                    r.code == rc::SUCCESS,
                    "code {}: {}",
                    r.code,
                    r.remark.unwrap_or_default()
                );
                let info: BrokerReplicasInfo = serde_json::from_slice(&r.body)?;
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
                let cmd = RemotingCommand::request_with_header(
                    req::CONTROLLER_ELECT_MASTER,
                    &ElectMasterRequestHeader {
                        cluster_name: cluster,
                        broker_name: broker_name.clone(),
                        broker_id: Some(broker_id),
                        designate_elect: Some(true),
                        invoke_time: Some(mq_common::protocol::now_millis()),
                    },
                );
                let r = to_leader(&client, &controller, cmd).await?;
                anyhow::ensure!(
                    r.code == rc::SUCCESS,
                    "code {}: {}",
                    r.code,
                    r.remark.unwrap_or_default()
                );
                let h: MasterInfoResponseHeader = r.decode_header()?;
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
