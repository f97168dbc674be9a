//! Bodies of the 5.x controller requests (Java's `SyncStateSet`, `BrokerReplicasInfo`), shared
//! by `mqcontroller` and `mqadmin`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One election in a group's history (rmq's addition to `ReplicasInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EpochEntryBody {
    /// Master epoch.
    pub epoch: i32,
    /// Master elected at it (absent: the master died and nobody could be elected).
    pub master_broker_id: Option<u64>,
}

/// Java's `SyncStateSet` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SyncStateSetBody {
    /// In-sync replica ids.
    pub sync_state_set: BTreeSet<u64>,
    /// The set's epoch.
    pub sync_state_set_epoch: i32,
}

/// One replica in [`ReplicasInfo`] (Java's `BrokerReplicasInfo.ReplicaIdentity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReplicaIdentity {
    /// Group.
    pub broker_name: String,
    /// Id.
    pub broker_id: u64,
    /// Address.
    pub broker_address: String,
    /// Heart-beating to the answering controller.
    pub alive: bool,
}

/// One group in the CONTROLLER_GET_SYNC_STATE_DATA answer (Java's `BrokerReplicasInfo.ReplicasInfo`,
/// plus rmq's `epochHistory`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReplicasInfo {
    /// Master id (absent: none).
    pub master_broker_id: Option<u64>,
    /// Master address.
    pub master_address: Option<String>,
    /// Master epoch.
    pub master_epoch: i32,
    /// Set epoch.
    pub sync_state_set_epoch: i32,
    /// Replicas in the set.
    pub in_sync_replicas: Vec<ReplicaIdentity>,
    /// Replicas outside it.
    pub not_in_sync_replicas: Vec<ReplicaIdentity>,
    /// Every election, oldest first.
    pub epoch_history: Vec<EpochEntryBody>,
}

/// CONTROLLER_GET_SYNC_STATE_DATA body (Java's `BrokerReplicasInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BrokerReplicasInfo {
    /// By broker name.
    pub replicas_info_table: BTreeMap<String, ReplicasInfo>,
}

/// One epoch of a broker's commit log in the GET_BROKER_EPOCH_CACHE answer (Java's
/// `EpochEntry`): the records from `startOffset` up to `endOffset` were written under master
/// epoch `epoch`. The last entry's end is open: Java sends `Long.MAX_VALUE`, and
/// `mqadmin getBrokerEpoch` prints the broker's max offset there instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EpochEntry {
    /// Master epoch.
    pub epoch: i32,
    /// Commit-log offset of the epoch's first record.
    pub start_offset: i64,
    /// Where the next epoch starts (`i64::MAX` for the last one).
    pub end_offset: i64,
}

/// GET_BROKER_EPOCH_CACHE (1007) answer body (Java's `EpochEntryCache`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EpochEntryCache {
    /// `brokerClusterName`.
    pub cluster_name: String,
    /// `brokerName`.
    pub broker_name: String,
    /// The broker's id as Java's broker reports it: 0 while master, else its controller id.
    pub broker_id: i64,
    /// The epochs, ascending.
    pub epoch_list: Vec<EpochEntry>,
    /// The commit log's max physical offset.
    pub max_offset: i64,
}

impl EpochEntryCache {
    /// Java's `EpochEntry.toString()` of each entry, the last one ending at `maxOffset` as
    /// `GetBrokerEpochSubCommand` prints it.
    pub fn printable_entries(&self) -> Vec<String> {
        let n = self.epoch_list.len();
        self.epoch_list
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let end = if i + 1 == n { self.max_offset } else { e.end_offset };
                format!(
                    "EpochEntry{{epoch={}, startOffset={}, endOffset={end}}}",
                    e.epoch, e.start_offset
                )
            })
            .collect()
    }
}
