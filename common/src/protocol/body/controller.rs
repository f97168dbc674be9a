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
