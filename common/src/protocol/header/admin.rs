//! Headers of broker admin requests (mqadmin, dashboard, our console).

use crate::command_header;

command_header! {
    /// UPDATE_AND_CREATE_TOPIC (17) request.
    pub struct CreateTopicRequestHeader {
        /// Topic.
        topic: String => "topic",
        /// Template topic (ignored by the broker, sent by tools).
        default_topic: Option<String> => "defaultTopic",
        /// Read queues.
        read_queue_nums: i32 => "readQueueNums",
        /// Write queues.
        write_queue_nums: i32 => "writeQueueNums",
        /// Permission bits.
        perm: i32 => "perm",
        /// `SINGLE_TAG` | `MULTI_TAG`.
        topic_filter_type: Option<String> => "topicFilterType",
        /// Topic sys flag.
        topic_sys_flag: Option<i32> => "topicSysFlag",
        /// Ordered topic.
        order: Option<bool> => "order",
        /// 5.x attributes (`+message.type=FIFO`).
        attributes: Option<String> => "attributes",
        /// 5.x force.
        force: Option<bool> => "force",
    }
}

command_header! {
    /// Requests naming one topic: DELETE_TOPIC_IN_BROKER (215), GET_TOPIC_STATS_INFO (202),
    /// QUERY_TOPIC_CONSUME_BY_WHO (300).
    pub struct TopicRequestHeader {
        /// Topic.
        topic: String => "topic",
    }
}

command_header! {
    /// GET_CONSUME_STATS (208) request.
    pub struct GetConsumeStatsRequestHeader {
        /// Consumer group.
        consumer_group: String => "consumerGroup",
        /// Restrict to one topic.
        topic: Option<String> => "topic",
    }
}

command_header! {
    /// GET_PRODUCER_CONNECTION_LIST (204) request.
    pub struct ProducerGroupRequestHeader {
        /// Producer group.
        producer_group: String => "producerGroup",
    }
}

command_header! {
    /// DELETE_SUBSCRIPTIONGROUP (207) request.
    pub struct DeleteSubscriptionGroupRequestHeader {
        /// Group name.
        group_name: String => "groupName",
        /// Also delete its offsets.
        clean_offset: Option<bool> => "cleanOffset",
    }
}

command_header! {
    /// QUERY_TOPICS_BY_CONSUMER (343) request.
    pub struct QueryTopicsByConsumerRequestHeader {
        /// Consumer group.
        group: String => "group",
    }
}
