//! Headers of nameserver requests (spec §2.2 "Nameserver", §5).

use crate::command_header;

command_header! {
    /// REGISTER_BROKER (103) request.
    pub struct RegisterBrokerRequestHeader {
        /// Broker name (e.g. `broker-a`).
        broker_name: String => "brokerName",
        /// `brokerIP1:listenPort`.
        broker_addr: String => "brokerAddr",
        /// Cluster name.
        cluster_name: String => "clusterName",
        /// `brokerIP2:haListenPort`.
        ha_server_addr: String => "haServerAddr",
        /// 0 = master, ≥1 = slave.
        broker_id: i64 => "brokerId",
        /// 5.x: custom liveness timeout.
        heartbeat_timeout_millis: Option<i64> => "heartbeatTimeoutMillis",
        /// 5.x acting-master flag.
        enable_acting_master: Option<bool> => "enableActingMaster",
        /// Body is zlib-compressed (§5.2).
        compressed: Option<bool> => "compressed",
        /// Masked CRC32 of the body; 0 = don't check.
        body_crc32: Option<i32> => "bodyCrc32",
    }
}

command_header! {
    /// REGISTER_BROKER (103) response.
    pub struct RegisterBrokerResponseHeader {
        /// HA address of the live master (for slaves).
        ha_server_addr: Option<String> => "haServerAddr",
        /// Address of the live master (for slaves).
        master_addr: Option<String> => "masterAddr",
    }
}

command_header! {
    /// UNREGISTER_BROKER (104) request.
    pub struct UnregisterBrokerRequestHeader {
        /// Broker name.
        broker_name: String => "brokerName",
        /// Broker address.
        broker_addr: String => "brokerAddr",
        /// Cluster name.
        cluster_name: String => "clusterName",
        /// Broker id.
        broker_id: i64 => "brokerId",
    }
}

command_header! {
    /// GET_ROUTEINFO_BY_TOPIC (105) request.
    pub struct GetRouteInfoRequestHeader {
        /// Topic.
        topic: String => "topic",
        /// 5.x: caller wants strict JSON (we always emit strict JSON).
        accept_standard_json_only: Option<bool> => "acceptStandardJsonOnly",
    }
}

command_header! {
    /// DELETE_TOPIC_IN_NAMESRV (216) request.
    pub struct DeleteTopicFromNamesrvRequestHeader {
        /// Topic.
        topic: String => "topic",
        /// 5.x: only this cluster's brokers.
        cluster_name: Option<String> => "clusterName",
    }
}

command_header! {
    /// PUT_KV_CONFIG (100) request.
    pub struct PutKvConfigRequestHeader {
        /// Namespace.
        namespace: String => "namespace",
        /// Key.
        key: String => "key",
        /// Value.
        value: String => "value",
    }
}

command_header! {
    /// GET_KV_CONFIG (101) / DELETE_KV_CONFIG (102) request.
    pub struct KvConfigKeyRequestHeader {
        /// Namespace.
        namespace: String => "namespace",
        /// Key.
        key: String => "key",
    }
}

command_header! {
    /// GET_KV_CONFIG (101) response.
    pub struct GetKvConfigResponseHeader {
        /// The value, if found.
        value: Option<String> => "value",
    }
}

command_header! {
    /// GET_KVLIST_BY_NAMESPACE (219) request.
    pub struct GetKvListByNamespaceRequestHeader {
        /// Namespace.
        namespace: String => "namespace",
    }
}

command_header! {
    /// GET_TOPICS_BY_CLUSTER (224) request.
    pub struct GetTopicsByClusterRequestHeader {
        /// Cluster name.
        cluster: String => "cluster",
    }
}

command_header! {
    /// QUERY_DATA_VERSION (322) request.
    pub struct QueryDataVersionRequestHeader {
        /// Broker name.
        broker_name: String => "brokerName",
        /// Broker address.
        broker_addr: String => "brokerAddr",
        /// Cluster name.
        cluster_name: String => "clusterName",
        /// Broker id.
        broker_id: i64 => "brokerId",
    }
}

command_header! {
    /// QUERY_DATA_VERSION (322) response.
    pub struct QueryDataVersionResponseHeader {
        /// Whether the namesrv's data version differs from the broker's.
        changed: Option<bool> => "changed",
    }
}

command_header! {
    /// BROKER_HEARTBEAT (904, 5.x) request: only refreshes liveness.
    pub struct BrokerHeartbeatRequestHeader {
        /// Cluster name.
        cluster_name: String => "clusterName",
        /// Broker address.
        broker_addr: String => "brokerAddr",
        /// Broker name.
        broker_name: String => "brokerName",
        /// Broker id.
        broker_id: Option<i64> => "brokerId",
    }
}

command_header! {
    /// WIPE_WRITE_PERM_OF_BROKER (205) / ADD_WRITE_PERM_OF_BROKER (327) request.
    pub struct BrokerPermRequestHeader {
        /// Broker name.
        broker_name: String => "brokerName",
    }
}

command_header! {
    /// WIPE_WRITE_PERM_OF_BROKER (205) response.
    pub struct WipeWritePermResponseHeader {
        /// Number of topics changed.
        wipe_topic_count: i32 => "wipeTopicCount",
    }
}

command_header! {
    /// ADD_WRITE_PERM_OF_BROKER (327) response.
    pub struct AddWritePermResponseHeader {
        /// Number of topics changed.
        add_topic_count: i32 => "addTopicCount",
    }
}
