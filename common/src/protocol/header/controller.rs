//! Headers of the 5.x controller requests (docs: `../shared/docs/replication-acl.md` §1.10):
//! field names as Java's `org.apache.rocketmq.remoting.protocol.header.controller` classes.

use crate::command_header;

command_header! {
    /// CONTROLLER_GET_NEXT_BROKER_ID (1012) request.
    pub struct GetNextBrokerIdRequestHeader {
        /// Cluster name.
        cluster_name: String => "clusterName",
        /// Broker (group) name.
        broker_name: String => "brokerName",
    }
}

command_header! {
    /// CONTROLLER_GET_NEXT_BROKER_ID (1012) response.
    pub struct GetNextBrokerIdResponseHeader {
        /// Cluster name.
        cluster_name: String => "clusterName",
        /// Broker (group) name.
        broker_name: String => "brokerName",
        /// The id a new replica should apply for (1 for an unknown group).
        next_broker_id: i64 => "nextBrokerId",
    }
}

command_header! {
    /// CONTROLLER_APPLY_BROKER_ID (1013) request.
    pub struct ApplyBrokerIdRequestHeader {
        /// Cluster name.
        cluster_name: String => "clusterName",
        /// Broker (group) name.
        broker_name: String => "brokerName",
        /// The id applied for.
        applied_broker_id: i64 => "appliedBrokerId",
        /// `brokerAddress;timestamp`: proves a later apply for the same id comes from its owner.
        register_check_code: String => "registerCheckCode",
    }
}

command_header! {
    /// CONTROLLER_APPLY_BROKER_ID (1013) response.
    pub struct ApplyBrokerIdResponseHeader {
        /// Cluster name.
        cluster_name: String => "clusterName",
        /// Broker (group) name.
        broker_name: String => "brokerName",
    }
}

command_header! {
    /// CONTROLLER_REGISTER_BROKER (1003) request.
    pub struct RegisterBrokerToControllerRequestHeader {
        /// Cluster name.
        cluster_name: String => "clusterName",
        /// Broker (group) name.
        broker_name: String => "brokerName",
        /// The applied id.
        broker_id: i64 => "brokerId",
        /// `ip:port` of the broker.
        broker_address: String => "brokerAddress",
        /// Caller's clock, ms.
        invoke_time: Option<i64> => "invokeTime",
    }
}

command_header! {
    /// The master view shared by CONTROLLER_REGISTER_BROKER, CONTROLLER_ELECT_MASTER and
    /// CONTROLLER_GET_REPLICA_INFO responses (each Java class carries a subset of these).
    pub struct MasterInfoResponseHeader {
        /// Cluster name (register only).
        cluster_name: Option<String> => "clusterName",
        /// Broker (group) name (register only).
        broker_name: Option<String> => "brokerName",
        /// Current master's id; absent when the group has no live master.
        master_broker_id: Option<i64> => "masterBrokerId",
        /// Current master's address.
        master_address: Option<String> => "masterAddress",
        /// Master epoch.
        master_epoch: Option<i32> => "masterEpoch",
        /// Sync-state-set epoch.
        sync_state_set_epoch: Option<i32> => "syncStateSetEpoch",
    }
}

command_header! {
    /// CONTROLLER_GET_REPLICA_INFO (1004) request.
    pub struct GetReplicaInfoRequestHeader {
        /// Broker (group) name.
        broker_name: String => "brokerName",
    }
}

command_header! {
    /// CONTROLLER_ELECT_MASTER (1002) request.
    pub struct ElectMasterRequestHeader {
        /// Cluster name.
        cluster_name: Option<String> => "clusterName",
        /// Broker (group) name.
        broker_name: String => "brokerName",
        /// The requester (or the designated replica); -1 = any.
        broker_id: Option<i64> => "brokerId",
        /// Elect exactly `brokerId` (admin `electMaster`).
        designate_elect: Option<bool> => "designateElect",
        /// Caller's clock, ms.
        invoke_time: Option<i64> => "invokeTime",
    }
}

command_header! {
    /// CONTROLLER_ALTER_SYNC_STATE_SET (1001) request; the body is `{syncStateSet, syncStateSetEpoch}`.
    pub struct AlterSyncStateSetRequestHeader {
        /// Broker (group) name.
        broker_name: String => "brokerName",
        /// The master asking.
        master_broker_id: i64 => "masterBrokerId",
        /// Its epoch (fenced if stale).
        master_epoch: i32 => "masterEpoch",
        /// Caller's clock, ms.
        invoke_time: Option<i64> => "invokeTime",
    }
}

command_header! {
    /// CONTROLLER_ALTER_SYNC_STATE_SET (1001) response.
    pub struct AlterSyncStateSetResponseHeader {
        /// The set's new epoch.
        new_sync_state_set_epoch: i32 => "newSyncStateSetEpoch",
    }
}

command_header! {
    /// CONTROLLER_GET_METADATA_INFO (1005) response.
    pub struct GetMetaDataResponseHeader {
        /// Raft group name.
        group: Option<String> => "group",
        /// The leader's self id (`n0`...), absent while there is none.
        controller_leader_id: Option<String> => "controllerLeaderId",
        /// The leader's address, absent while there is none.
        controller_leader_address: Option<String> => "controllerLeaderAddress",
        /// Whether the answering controller leads.
        is_leader: bool => "isLeader",
        /// The peer list (`n0-host:port;...`).
        peers: Option<String> => "peers",
    }
}

command_header! {
    /// BROKER_HEARTBEAT (904) sent to a controller.
    pub struct BrokerHeartbeatToControllerHeader {
        /// Cluster name.
        cluster_name: String => "clusterName",
        /// `ip:port` of the broker.
        broker_addr: String => "brokerAddr",
        /// Broker (group) name.
        broker_name: String => "brokerName",
        /// The broker's applied id.
        broker_id: Option<i64> => "brokerId",
        /// The broker's last master epoch.
        epoch: Option<i32> => "epoch",
        /// Its commit-log max offset.
        max_offset: Option<i64> => "maxOffset",
        /// Its confirmed (replicated) offset.
        confirm_offset: Option<i64> => "confirmOffset",
        /// Silence longer than this marks it dead, ms.
        heartbeat_timeout_mills: Option<i64> => "heartbeatTimeoutMills",
        /// Lower wins an election among equals.
        election_priority: Option<i32> => "electionPriority",
    }
}

command_header! {
    /// NOTIFY_BROKER_ROLE_CHANGED (1008), controller → broker, oneway: the group's master
    /// changed (body: the SyncStateSet). rmq brokers answer it by asking the controller leader
    /// at once instead of at their next metadata round.
    pub struct NotifyBrokerRoleChangedRequestHeader {
        /// The new master's address.
        master_address: Option<String> => "masterAddress",
        /// The new master's id.
        master_broker_id: Option<i64> => "masterBrokerId",
        /// Its master epoch.
        master_epoch: Option<i32> => "masterEpoch",
        /// The in-sync set's epoch.
        sync_state_set_epoch: Option<i32> => "syncStateSetEpoch",
    }
}
