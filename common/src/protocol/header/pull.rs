//! Headers of PULL_MESSAGE (11), QUERY_MESSAGE (12) and VIEW_MESSAGE_BY_ID (33).

use crate::command_header;

/// PullSysFlag bit: commit the carried offset.
pub const PULL_FLAG_COMMIT_OFFSET: i32 = 0x1;
/// PullSysFlag bit: long polling allowed.
pub const PULL_FLAG_SUSPEND: i32 = 0x2;
/// PullSysFlag bit: the subscription expression is in the header.
pub const PULL_FLAG_SUBSCRIPTION: i32 = 0x4;
/// PullSysFlag bit: class filter (obsolete).
pub const PULL_FLAG_CLASS_FILTER: i32 = 0x8;
/// PullSysFlag bit: lite pull.
pub const PULL_FLAG_LITE_PULL: i32 = 0x10;

command_header! {
    /// PULL_MESSAGE (11) request (§2.4). Fields Java marks required but some clients omit are
    /// optional here; handlers default them.
    pub struct PullMessageRequestHeader {
        /// Consumer group.
        consumer_group: String => "consumerGroup",
        /// Topic.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
        /// Logical offset to start from.
        queue_offset: i64 => "queueOffset",
        /// Max messages to return.
        max_msg_nums: i32 => "maxMsgNums",
        /// PullSysFlag bits.
        sys_flag: i32 => "sysFlag",
        /// Consumer's current offset (committed when bit 0 set).
        commit_offset: Option<i64> => "commitOffset",
        /// Long-poll hold time.
        suspend_timeout_millis: Option<i64> => "suspendTimeoutMillis",
        /// Subscription expression (when bit 2 set).
        subscription: Option<String> => "subscription",
        /// Subscription version.
        sub_version: Option<i64> => "subVersion",
        /// `TAG` (default) or `SQL92`.
        expression_type: Option<String> => "expressionType",
        /// 5.x byte limit.
        max_msg_bytes: Option<i32> => "maxMsgBytes",
    }
}

command_header! {
    /// PULL_MESSAGE response; all four fields are sent on every code (clients read them).
    pub struct PullMessageResponseHeader {
        /// Broker id to pull from next (0 = master).
        suggest_which_broker_id: i64 => "suggestWhichBrokerId",
        /// Offset to use next.
        next_begin_offset: i64 => "nextBeginOffset",
        /// Queue min offset.
        min_offset: i64 => "minOffset",
        /// Queue max offset.
        max_offset: i64 => "maxOffset",
    }
}

command_header! {
    /// QUERY_MESSAGE (12) request (§2.9).
    pub struct QueryMessageRequestHeader {
        /// Topic.
        topic: String => "topic",
        /// Key (or UNIQ_KEY when `_UNIQUE_KEY_QUERY=true`).
        key: String => "key",
        /// Max messages.
        max_num: i32 => "maxNum",
        /// Range start, ms.
        begin_timestamp: i64 => "beginTimestamp",
        /// Range end, ms.
        end_timestamp: i64 => "endTimestamp",
        /// Key is a UNIQ_KEY.
        unique_key_query: Option<bool> => "_UNIQUE_KEY_QUERY",
    }
}

command_header! {
    /// QUERY_MESSAGE response.
    pub struct QueryMessageResponseHeader {
        /// Store time of the newest indexed message.
        index_last_update_timestamp: i64 => "indexLastUpdateTimestamp",
        /// Commit-log offset of the newest indexed message.
        index_last_update_phyoffset: i64 => "indexLastUpdatePhyoffset",
    }
}

command_header! {
    /// VIEW_MESSAGE_BY_ID (33) request.
    pub struct ViewMessageRequestHeader {
        /// Commit-log offset.
        offset: i64 => "offset",
        /// 5.x topic.
        topic: Option<String> => "topic",
    }
}
