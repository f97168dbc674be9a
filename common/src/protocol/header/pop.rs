//! Headers of the 5.x POP requests: POP_MESSAGE (200050), ACK_MESSAGE (200051),
//! CHANGE_MESSAGE_INVISIBLETIME (200053). Field names are Java's; `extraInfo` is the receipt
//! handle (`ckQueueOffset popTime invisibleTime reviveQid topicType brokerName queueId
//! queueOffset`, space-separated).

use crate::command_header;

command_header! {
    /// POP_MESSAGE (200050) request.
    pub struct PopMessageRequestHeader {
        /// Consumer group.
        consumer_group: String => "consumerGroup",
        /// Topic.
        topic: String => "topic",
        /// Queue id (−1 = any queue of the broker).
        queue_id: i32 => "queueId",
        /// Most messages.
        max_msg_nums: i32 => "maxMsgNums",
        /// Invisible time, ms.
        invisible_time: i64 => "invisibleTime",
        /// Long-polling time, ms.
        poll_time: i64 => "pollTime",
        /// Client time of the request, ms.
        born_time: i64 => "bornTime",
        /// Where a new group starts (0 = last, 1 = first).
        init_mode: i32 => "initMode",
        /// Filter type (TAG / SQL92).
        exp_type: Option<String> => "expType",
        /// Filter expression.
        exp: Option<String> => "exp",
        /// Orderly pop.
        order: Option<bool> => "order",
        /// Retry idempotency id.
        attempt_id: Option<String> => "attemptId",
    }
}

command_header! {
    /// POP_MESSAGE (200050) response.
    pub struct PopMessageResponseHeader {
        /// Pop time, ms.
        pop_time: i64 => "popTime",
        /// Invisible time, ms.
        invisible_time: i64 => "invisibleTime",
        /// Revive queue id (999 marks an orderly pop, as Java).
        revive_qid: i32 => "reviveQid",
        /// Messages left in the queues.
        rest_num: i64 => "restNum",
        /// `topicType queueId ckQueueOffset` per queue, `;`-separated.
        start_offset_info: Option<String> => "startOffsetInfo",
        /// `topicType queueId off1,off2,...` per queue, `;`-separated.
        msg_offset_info: Option<String> => "msgOffsetInfo",
        /// Orderly pops: `topicType queueId count` per queue.
        order_count_info: Option<String> => "orderCountInfo",
    }
}

command_header! {
    /// ACK_MESSAGE (200051) request.
    pub struct AckMessageRequestHeader {
        /// Consumer group.
        consumer_group: String => "consumerGroup",
        /// Topic (the original topic, also for retry deliveries).
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
        /// Receipt handle.
        extra_info: String => "extraInfo",
        /// Queue offset of the message.
        offset: i64 => "offset",
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME (200053) request.
    pub struct ChangeInvisibleTimeRequestHeader {
        /// Consumer group.
        consumer_group: String => "consumerGroup",
        /// Topic.
        topic: String => "topic",
        /// Queue id.
        queue_id: i32 => "queueId",
        /// Receipt handle.
        extra_info: String => "extraInfo",
        /// Queue offset of the message.
        offset: i64 => "offset",
        /// New invisible time from now, ms.
        invisible_time: i64 => "invisibleTime",
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME (200053) response: the client builds the new handle from it.
    pub struct ChangeInvisibleTimeResponseHeader {
        /// New pop time, ms.
        pop_time: i64 => "popTime",
        /// New invisible time, ms.
        invisible_time: i64 => "invisibleTime",
        /// Revive queue id.
        revive_qid: i32 => "reviveQid",
    }
}
