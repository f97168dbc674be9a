//! Request and response codes of the RocketMQ remoting protocol (spec §2.1, §2.2).
//!
//! Plain `i32` constants rather than enums: codes travel as integers, unknown codes must be
//! answered (REQUEST_CODE_NOT_SUPPORTED) rather than rejected at decode time, and Go clients
//! decode them as `int16`, so every value here fits in an `i16`.

/// Request codes (client → server, and server → client for the broker's callbacks).
pub mod request {
    /// SEND_MESSAGE (V1 header, long field names).
    pub const SEND_MESSAGE: i32 = 10;
    /// PULL_MESSAGE.
    pub const PULL_MESSAGE: i32 = 11;
    /// QUERY_MESSAGE (by key, time range).
    pub const QUERY_MESSAGE: i32 = 12;
    /// QUERY_BROKER_OFFSET.
    pub const QUERY_BROKER_OFFSET: i32 = 13;
    /// QUERY_CONSUMER_OFFSET.
    pub const QUERY_CONSUMER_OFFSET: i32 = 14;
    /// UPDATE_CONSUMER_OFFSET.
    pub const UPDATE_CONSUMER_OFFSET: i32 = 15;
    /// UPDATE_AND_CREATE_TOPIC.
    pub const UPDATE_AND_CREATE_TOPIC: i32 = 17;
    /// GET_ALL_TOPIC_CONFIG.
    pub const GET_ALL_TOPIC_CONFIG: i32 = 21;
    /// GET_TOPIC_CONFIG_LIST.
    pub const GET_TOPIC_CONFIG_LIST: i32 = 22;
    /// GET_TOPIC_NAME_LIST.
    pub const GET_TOPIC_NAME_LIST: i32 = 23;
    /// UPDATE_BROKER_CONFIG.
    pub const UPDATE_BROKER_CONFIG: i32 = 25;
    /// GET_BROKER_CONFIG.
    pub const GET_BROKER_CONFIG: i32 = 26;
    /// TRIGGER_DELETE_FILES.
    pub const TRIGGER_DELETE_FILES: i32 = 27;
    /// GET_BROKER_RUNTIME_INFO.
    pub const GET_BROKER_RUNTIME_INFO: i32 = 28;
    /// SEARCH_OFFSET_BY_TIMESTAMP.
    pub const SEARCH_OFFSET_BY_TIMESTAMP: i32 = 29;
    /// GET_MAX_OFFSET.
    pub const GET_MAX_OFFSET: i32 = 30;
    /// GET_MIN_OFFSET.
    pub const GET_MIN_OFFSET: i32 = 31;
    /// GET_EARLIEST_MSG_STORETIME.
    pub const GET_EARLIEST_MSG_STORETIME: i32 = 32;
    /// VIEW_MESSAGE_BY_ID.
    pub const VIEW_MESSAGE_BY_ID: i32 = 33;
    /// HEART_BEAT.
    pub const HEART_BEAT: i32 = 34;
    /// UNREGISTER_CLIENT.
    pub const UNREGISTER_CLIENT: i32 = 35;
    /// CONSUMER_SEND_MSG_BACK.
    pub const CONSUMER_SEND_MSG_BACK: i32 = 36;
    /// END_TRANSACTION.
    pub const END_TRANSACTION: i32 = 37;
    /// GET_CONSUMER_LIST_BY_GROUP.
    pub const GET_CONSUMER_LIST_BY_GROUP: i32 = 38;
    /// CHECK_TRANSACTION_STATE (broker → producer).
    pub const CHECK_TRANSACTION_STATE: i32 = 39;
    /// NOTIFY_CONSUMER_IDS_CHANGED (broker → consumer, oneway).
    pub const NOTIFY_CONSUMER_IDS_CHANGED: i32 = 40;
    /// LOCK_BATCH_MQ.
    pub const LOCK_BATCH_MQ: i32 = 41;
    /// UNLOCK_BATCH_MQ.
    pub const UNLOCK_BATCH_MQ: i32 = 42;
    /// GET_ALL_CONSUMER_OFFSET.
    pub const GET_ALL_CONSUMER_OFFSET: i32 = 43;
    /// GET_ALL_DELAY_OFFSET.
    pub const GET_ALL_DELAY_OFFSET: i32 = 45;
    /// CHECK_CLIENT_CONFIG.
    pub const CHECK_CLIENT_CONFIG: i32 = 46;
    /// PUT_KV_CONFIG (namesrv).
    pub const PUT_KV_CONFIG: i32 = 100;
    /// GET_KV_CONFIG (namesrv).
    pub const GET_KV_CONFIG: i32 = 101;
    /// DELETE_KV_CONFIG (namesrv).
    pub const DELETE_KV_CONFIG: i32 = 102;
    /// REGISTER_BROKER (namesrv).
    pub const REGISTER_BROKER: i32 = 103;
    /// UNREGISTER_BROKER (namesrv).
    pub const UNREGISTER_BROKER: i32 = 104;
    /// GET_ROUTEINFO_BY_TOPIC (namesrv; 4.x spelling GET_ROUTEINTO_BY_TOPIC).
    pub const GET_ROUTEINFO_BY_TOPIC: i32 = 105;
    /// GET_BROKER_CLUSTER_INFO (namesrv).
    pub const GET_BROKER_CLUSTER_INFO: i32 = 106;
    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP.
    pub const UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: i32 = 200;
    /// GET_ALL_SUBSCRIPTIONGROUP_CONFIG.
    pub const GET_ALL_SUBSCRIPTIONGROUP_CONFIG: i32 = 201;
    /// GET_TOPIC_STATS_INFO.
    pub const GET_TOPIC_STATS_INFO: i32 = 202;
    /// GET_CONSUMER_CONNECTION_LIST.
    pub const GET_CONSUMER_CONNECTION_LIST: i32 = 203;
    /// GET_PRODUCER_CONNECTION_LIST.
    pub const GET_PRODUCER_CONNECTION_LIST: i32 = 204;
    /// WIPE_WRITE_PERM_OF_BROKER (namesrv).
    pub const WIPE_WRITE_PERM_OF_BROKER: i32 = 205;
    /// GET_ALL_TOPIC_LIST_FROM_NAMESERVER (namesrv).
    pub const GET_ALL_TOPIC_LIST_FROM_NAMESERVER: i32 = 206;
    /// DELETE_SUBSCRIPTIONGROUP.
    pub const DELETE_SUBSCRIPTIONGROUP: i32 = 207;
    /// GET_CONSUME_STATS.
    pub const GET_CONSUME_STATS: i32 = 208;
    /// DELETE_TOPIC_IN_BROKER.
    pub const DELETE_TOPIC_IN_BROKER: i32 = 215;
    /// DELETE_TOPIC_IN_NAMESRV (namesrv).
    pub const DELETE_TOPIC_IN_NAMESRV: i32 = 216;
    /// REGISTER_TOPIC_IN_NAMESRV (namesrv, 5.x).
    pub const REGISTER_TOPIC_IN_NAMESRV: i32 = 217;
    /// GET_KVLIST_BY_NAMESPACE (namesrv).
    pub const GET_KVLIST_BY_NAMESPACE: i32 = 219;
    /// RESET_CONSUMER_CLIENT_OFFSET (broker → consumer).
    pub const RESET_CONSUMER_CLIENT_OFFSET: i32 = 220;
    /// GET_CONSUMER_STATUS_FROM_CLIENT (broker → consumer).
    pub const GET_CONSUMER_STATUS_FROM_CLIENT: i32 = 221;
    /// INVOKE_BROKER_TO_RESET_OFFSET (admin → broker).
    pub const INVOKE_BROKER_TO_RESET_OFFSET: i32 = 222;
    /// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (admin → broker).
    pub const INVOKE_BROKER_TO_GET_CONSUMER_STATUS: i32 = 223;
    /// GET_TOPICS_BY_CLUSTER (namesrv).
    pub const GET_TOPICS_BY_CLUSTER: i32 = 224;
    /// QUERY_TOPIC_CONSUME_BY_WHO.
    pub const QUERY_TOPIC_CONSUME_BY_WHO: i32 = 300;
    /// GET_SYSTEM_TOPIC_LIST_FROM_NS (namesrv).
    pub const GET_SYSTEM_TOPIC_LIST_FROM_NS: i32 = 304;
    /// GET_CONSUMER_RUNNING_INFO (admin → broker → consumer).
    pub const GET_CONSUMER_RUNNING_INFO: i32 = 307;
    /// CONSUME_MESSAGE_DIRECTLY (admin → broker → consumer).
    pub const CONSUME_MESSAGE_DIRECTLY: i32 = 309;
    /// POP_MESSAGE (5.x POP consumption).
    pub const POP_MESSAGE: i32 = 200050;
    /// ACK_MESSAGE (5.x POP consumption).
    pub const ACK_MESSAGE: i32 = 200051;
    /// CHANGE_MESSAGE_INVISIBLETIME (5.x POP consumption).
    pub const CHANGE_MESSAGE_INVISIBLETIME: i32 = 200053;
    /// BATCH_ACK_MESSAGE (5.x POP consumption; body `BatchAckMessageRequestBody`).
    pub const BATCH_ACK_MESSAGE: i32 = 200151;
    /// SEND_MESSAGE_V2 (short field names a..n).
    pub const SEND_MESSAGE_V2: i32 = 310;
    /// GET_UNIT_TOPIC_LIST (namesrv).
    pub const GET_UNIT_TOPIC_LIST: i32 = 311;
    /// GET_HAS_UNIT_SUB_TOPIC_LIST (namesrv).
    pub const GET_HAS_UNIT_SUB_TOPIC_LIST: i32 = 312;
    /// GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST (namesrv).
    pub const GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: i32 = 313;
    /// UPDATE_NAMESRV_CONFIG (namesrv).
    pub const UPDATE_NAMESRV_CONFIG: i32 = 318;
    /// GET_NAMESRV_CONFIG (namesrv).
    pub const GET_NAMESRV_CONFIG: i32 = 319;
    /// SEND_BATCH_MESSAGE.
    pub const SEND_BATCH_MESSAGE: i32 = 320;
    /// QUERY_DATA_VERSION (namesrv).
    pub const QUERY_DATA_VERSION: i32 = 322;
    /// SEND_REPLY_MESSAGE.
    pub const SEND_REPLY_MESSAGE: i32 = 324;
    /// SEND_REPLY_MESSAGE_V2.
    pub const SEND_REPLY_MESSAGE_V2: i32 = 325;
    /// ADD_WRITE_PERM_OF_BROKER (namesrv).
    pub const ADD_WRITE_PERM_OF_BROKER: i32 = 327;
    /// QUERY_TOPICS_BY_CONSUMER.
    pub const QUERY_TOPICS_BY_CONSUMER: i32 = 343;
    /// QUERY_CONSUME_QUEUE.
    pub const QUERY_CONSUME_QUEUE: i32 = 321;
    /// LITE_PULL_MESSAGE (5.x).
    pub const LITE_PULL_MESSAGE: i32 = 361;
    /// BROKER_HEARTBEAT (namesrv, 5.x).
    pub const BROKER_HEARTBEAT: i32 = 904;
    /// UPDATE_AND_CREATE_ACL_CONFIG (ACL 1.0 management).
    pub const UPDATE_AND_CREATE_ACL_CONFIG: i32 = 50;
    /// DELETE_ACL_CONFIG (ACL 1.0 management).
    pub const DELETE_ACL_CONFIG: i32 = 51;
    /// GET_BROKER_CLUSTER_ACL_INFO (ACL 1.0 management).
    pub const GET_BROKER_CLUSTER_ACL_INFO: i32 = 52;
    /// UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (ACL 1.0 management).
    pub const UPDATE_GLOBAL_WHITE_ADDRS_CONFIG: i32 = 53;
    /// GET_BROKER_CLUSTER_ACL_CONFIG (ACL 1.0 management).
    pub const GET_BROKER_CLUSTER_ACL_CONFIG: i32 = 54;
    /// CONTROLLER_ALTER_SYNC_STATE_SET (5.x controller mode; body `SyncStateSet` JSON).
    pub const CONTROLLER_ALTER_SYNC_STATE_SET: i32 = 1001;
    /// CONTROLLER_ELECT_MASTER.
    pub const CONTROLLER_ELECT_MASTER: i32 = 1002;
    /// CONTROLLER_REGISTER_BROKER (register a broker's address under its applied id).
    pub const CONTROLLER_REGISTER_BROKER: i32 = 1003;
    /// CONTROLLER_GET_REPLICA_INFO.
    pub const CONTROLLER_GET_REPLICA_INFO: i32 = 1004;
    /// CONTROLLER_GET_METADATA_INFO (any controller: who leads, the peers).
    pub const CONTROLLER_GET_METADATA_INFO: i32 = 1005;
    /// CONTROLLER_GET_SYNC_STATE_DATA (admin; body: JSON list of broker names).
    pub const CONTROLLER_GET_SYNC_STATE_DATA: i32 = 1006;
    /// GET_BROKER_EPOCH_CACHE (admin → broker).
    pub const GET_BROKER_EPOCH_CACHE: i32 = 1007;
    /// NOTIFY_BROKER_ROLE_CHANGED (controller → broker).
    pub const NOTIFY_BROKER_ROLE_CHANGED: i32 = 1008;
    /// CONTROLLER_GET_NEXT_BROKER_ID.
    pub const CONTROLLER_GET_NEXT_BROKER_ID: i32 = 1012;
    /// CONTROLLER_APPLY_BROKER_ID.
    pub const CONTROLLER_APPLY_BROKER_ID: i32 = 1013;
    /// rmq-only: Raft AppendEntries between controllers (JSON body; not a Java code).
    pub const CONTROLLER_RAFT_APPEND: i32 = 31001;
    /// rmq-only: Raft RequestVote between controllers.
    pub const CONTROLLER_RAFT_VOTE: i32 = 31002;
    /// rmq-only: Raft InstallSnapshot (one chunk) between controllers.
    pub const CONTROLLER_RAFT_SNAPSHOT: i32 = 31003;
}

/// Response codes (spec §2.1).
pub mod response {
    /// SUCCESS.
    pub const SUCCESS: i32 = 0;
    /// SYSTEM_ERROR.
    pub const SYSTEM_ERROR: i32 = 1;
    /// SYSTEM_BUSY.
    pub const SYSTEM_BUSY: i32 = 2;
    /// REQUEST_CODE_NOT_SUPPORTED.
    pub const REQUEST_CODE_NOT_SUPPORTED: i32 = 3;
    /// TRANSACTION_FAILED.
    pub const TRANSACTION_FAILED: i32 = 4;
    /// CONTROLLER_FENCED_MASTER_EPOCH: the request's master epoch is stale.
    pub const CONTROLLER_FENCED_MASTER_EPOCH: i32 = 2000;
    /// CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH: the request's sync-state-set epoch is stale.
    pub const CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH: i32 = 2001;
    /// CONTROLLER_INVALID_MASTER: the requester is not the current master.
    pub const CONTROLLER_INVALID_MASTER: i32 = 2002;
    /// CONTROLLER_INVALID_REPLICAS: a replica in the new set is unknown.
    pub const CONTROLLER_INVALID_REPLICAS: i32 = 2003;
    /// CONTROLLER_MASTER_NOT_AVAILABLE: the master died and no replica could be elected.
    pub const CONTROLLER_MASTER_NOT_AVAILABLE: i32 = 2004;
    /// CONTROLLER_INVALID_REQUEST.
    pub const CONTROLLER_INVALID_REQUEST: i32 = 2005;
    /// CONTROLLER_BROKER_NOT_ALIVE.
    pub const CONTROLLER_BROKER_NOT_ALIVE: i32 = 2006;
    /// CONTROLLER_NOT_LEADER: ask the leader (CONTROLLER_GET_METADATA_INFO names it).
    pub const CONTROLLER_NOT_LEADER: i32 = 2007;
    /// CONTROLLER_BROKER_METADATA_NOT_EXIST.
    pub const CONTROLLER_BROKER_METADATA_NOT_EXIST: i32 = 2008;
    /// CONTROLLER_BROKER_NEED_TO_BE_REGISTERED.
    pub const CONTROLLER_BROKER_NEED_TO_BE_REGISTERED: i32 = 2010;
    /// CONTROLLER_MASTER_STILL_EXIST: an election found the current master alive.
    pub const CONTROLLER_MASTER_STILL_EXIST: i32 = 2011;
    /// CONTROLLER_ELECT_MASTER_FAILED.
    pub const CONTROLLER_ELECT_MASTER_FAILED: i32 = 2012;
    /// CONTROLLER_ALTER_SYNC_STATE_SET_FAILED.
    pub const CONTROLLER_ALTER_SYNC_STATE_SET_FAILED: i32 = 2013;
    /// CONTROLLER_BROKER_ID_INVALID.
    pub const CONTROLLER_BROKER_ID_INVALID: i32 = 2014;
    /// FLUSH_DISK_TIMEOUT.
    pub const FLUSH_DISK_TIMEOUT: i32 = 10;
    /// SLAVE_NOT_AVAILABLE.
    pub const SLAVE_NOT_AVAILABLE: i32 = 11;
    /// FLUSH_SLAVE_TIMEOUT.
    pub const FLUSH_SLAVE_TIMEOUT: i32 = 12;
    /// MESSAGE_ILLEGAL.
    pub const MESSAGE_ILLEGAL: i32 = 13;
    /// SERVICE_NOT_AVAILABLE.
    pub const SERVICE_NOT_AVAILABLE: i32 = 14;
    /// VERSION_NOT_SUPPORTED.
    pub const VERSION_NOT_SUPPORTED: i32 = 15;
    /// NO_PERMISSION.
    pub const NO_PERMISSION: i32 = 16;
    /// TOPIC_NOT_EXIST.
    pub const TOPIC_NOT_EXIST: i32 = 17;
    /// TOPIC_EXIST_ALREADY.
    pub const TOPIC_EXIST_ALREADY: i32 = 18;
    /// PULL_NOT_FOUND.
    pub const PULL_NOT_FOUND: i32 = 19;
    /// PULL_RETRY_IMMEDIATELY.
    pub const PULL_RETRY_IMMEDIATELY: i32 = 20;
    /// PULL_OFFSET_MOVED.
    pub const PULL_OFFSET_MOVED: i32 = 21;
    /// QUERY_NOT_FOUND.
    pub const QUERY_NOT_FOUND: i32 = 22;
    /// SUBSCRIPTION_PARSE_FAILED.
    pub const SUBSCRIPTION_PARSE_FAILED: i32 = 23;
    /// SUBSCRIPTION_NOT_EXIST.
    pub const SUBSCRIPTION_NOT_EXIST: i32 = 24;
    /// SUBSCRIPTION_NOT_LATEST.
    pub const SUBSCRIPTION_NOT_LATEST: i32 = 25;
    /// SUBSCRIPTION_GROUP_NOT_EXIST.
    pub const SUBSCRIPTION_GROUP_NOT_EXIST: i32 = 26;
    /// FILTER_DATA_NOT_EXIST.
    pub const FILTER_DATA_NOT_EXIST: i32 = 27;
    /// FILTER_DATA_NOT_LATEST.
    pub const FILTER_DATA_NOT_LATEST: i32 = 28;
    /// INVALID_PARAMETER (5.x).
    pub const INVALID_PARAMETER: i32 = 29;
    /// TRANSACTION_SHOULD_COMMIT.
    pub const TRANSACTION_SHOULD_COMMIT: i32 = 200;
    /// TRANSACTION_SHOULD_ROLLBACK.
    pub const TRANSACTION_SHOULD_ROLLBACK: i32 = 201;
    /// TRANSACTION_STATE_UNKNOW.
    pub const TRANSACTION_STATE_UNKNOW: i32 = 202;
    /// TRANSACTION_STATE_GROUP_WRONG.
    pub const TRANSACTION_STATE_GROUP_WRONG: i32 = 203;
    /// NO_BUYER_ID.
    pub const NO_BUYER_ID: i32 = 204;
    /// NOT_IN_CURRENT_UNIT.
    pub const NOT_IN_CURRENT_UNIT: i32 = 205;
    /// CONSUMER_NOT_ONLINE.
    pub const CONSUMER_NOT_ONLINE: i32 = 206;
    /// CONSUME_MSG_TIMEOUT.
    pub const CONSUME_MSG_TIMEOUT: i32 = 207;
    /// NO_MESSAGE (5.x pop).
    pub const NO_MESSAGE: i32 = 208;
}

/// Human-readable name of a request code, for logs and error remarks.
pub fn request_name(code: i32) -> &'static str {
    use request::*;
    match code {
        SEND_MESSAGE => "SEND_MESSAGE",
        PULL_MESSAGE => "PULL_MESSAGE",
        QUERY_MESSAGE => "QUERY_MESSAGE",
        QUERY_CONSUMER_OFFSET => "QUERY_CONSUMER_OFFSET",
        UPDATE_CONSUMER_OFFSET => "UPDATE_CONSUMER_OFFSET",
        UPDATE_AND_CREATE_TOPIC => "UPDATE_AND_CREATE_TOPIC",
        GET_ALL_TOPIC_CONFIG => "GET_ALL_TOPIC_CONFIG",
        UPDATE_BROKER_CONFIG => "UPDATE_BROKER_CONFIG",
        GET_BROKER_CONFIG => "GET_BROKER_CONFIG",
        GET_BROKER_RUNTIME_INFO => "GET_BROKER_RUNTIME_INFO",
        SEARCH_OFFSET_BY_TIMESTAMP => "SEARCH_OFFSET_BY_TIMESTAMP",
        GET_MAX_OFFSET => "GET_MAX_OFFSET",
        GET_MIN_OFFSET => "GET_MIN_OFFSET",
        GET_EARLIEST_MSG_STORETIME => "GET_EARLIEST_MSG_STORETIME",
        VIEW_MESSAGE_BY_ID => "VIEW_MESSAGE_BY_ID",
        HEART_BEAT => "HEART_BEAT",
        UNREGISTER_CLIENT => "UNREGISTER_CLIENT",
        CONSUMER_SEND_MSG_BACK => "CONSUMER_SEND_MSG_BACK",
        END_TRANSACTION => "END_TRANSACTION",
        GET_CONSUMER_LIST_BY_GROUP => "GET_CONSUMER_LIST_BY_GROUP",
        NOTIFY_CONSUMER_IDS_CHANGED => "NOTIFY_CONSUMER_IDS_CHANGED",
        LOCK_BATCH_MQ => "LOCK_BATCH_MQ",
        UNLOCK_BATCH_MQ => "UNLOCK_BATCH_MQ",
        PUT_KV_CONFIG => "PUT_KV_CONFIG",
        GET_KV_CONFIG => "GET_KV_CONFIG",
        DELETE_KV_CONFIG => "DELETE_KV_CONFIG",
        REGISTER_BROKER => "REGISTER_BROKER",
        UNREGISTER_BROKER => "UNREGISTER_BROKER",
        GET_ROUTEINFO_BY_TOPIC => "GET_ROUTEINFO_BY_TOPIC",
        GET_BROKER_CLUSTER_INFO => "GET_BROKER_CLUSTER_INFO",
        SEND_MESSAGE_V2 => "SEND_MESSAGE_V2",
        SEND_BATCH_MESSAGE => "SEND_BATCH_MESSAGE",
        _ => "UNKNOWN",
    }
}
