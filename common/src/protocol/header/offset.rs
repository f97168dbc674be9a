//! Headers of offset requests: QUERY/UPDATE_CONSUMER_OFFSET (14/15), GET_MAX/MIN_OFFSET (30/31),
//! SEARCH_OFFSET_BY_TIMESTAMP (29), GET_EARLIEST_MSG_STORETIME (32), resets (220/222).

use crate::command_header;

command_header! {
    /// QUERY_CONSUMER_OFFSET (14) request.
    pub struct QueryConsumerOffsetRequestHeader {
        /// Consumer group.
        consumer_group: String => "consumerGroup",
        /// Topic.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
        /// 5.x: answer 0 when nothing is stored (default true).
        set_zero_if_not_found: Option<bool> => "setZeroIfNotFound",
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET (15) request.
    pub struct UpdateConsumerOffsetRequestHeader {
        /// Consumer group.
        consumer_group: String => "consumerGroup",
        /// Topic.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
        /// Offset to store.
        commit_offset: i64 => "commitOffset",
    }
}

command_header! {
    /// Response header carrying one `offset` (QUERY_CONSUMER_OFFSET, GET_MAX/MIN_OFFSET,
    /// SEARCH_OFFSET_BY_TIMESTAMP).
    pub struct OffsetResponseHeader {
        /// The offset.
        offset: i64 => "offset",
    }
}

command_header! {
    /// GET_MAX_OFFSET (30) / GET_MIN_OFFSET (31) / GET_EARLIEST_MSG_STORETIME (32) request.
    pub struct QueueRequestHeader {
        /// Topic.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
        /// 5.x (GET_MAX_OFFSET): committed offset only.
        committed: Option<bool> => "committed",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29) request.
    pub struct SearchOffsetRequestHeader {
        /// Topic.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
        /// Timestamp, ms.
        timestamp: i64 => "timestamp",
        /// 5.x `lower` / `upper`.
        boundary_type: Option<String> => "boundaryType",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME (32) response.
    pub struct EarliestMsgStoretimeResponseHeader {
        /// Store timestamp, ms.
        timestamp: i64 => "timestamp",
    }
}

command_header! {
    /// INVOKE_BROKER_TO_RESET_OFFSET (222) request (admin → broker), and
    /// RESET_CONSUMER_CLIENT_OFFSET (220) (broker → consumer).
    pub struct ResetOffsetRequestHeader {
        /// Topic.
        topic: String => "topic",
        /// Consumer group.
        group: String => "group",
        /// Target timestamp, ms (-1 with `offset` for an exact per-queue reset).
        timestamp: i64 => "timestamp",
        /// Reset even forward.
        is_force: Option<bool> => "isForce",
        /// 5.x: one queue only.
        queue_id: Option<i32> => "queueId",
        /// 5.x: exact offset.
        offset: Option<i64> => "offset",
    }
}

command_header! {
    /// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) / GET_CONSUMER_STATUS_FROM_CLIENT (221).
    pub struct GetConsumerStatusRequestHeader {
        /// Topic.
        topic: String => "topic",
        /// Group.
        group: String => "group",
        /// Client address filter.
        client_addr: Option<String> => "clientAddr",
    }
}
