//! Headers of client registry requests: UNREGISTER_CLIENT (35), GET_CONSUMER_LIST_BY_GROUP (38),
//! NOTIFY_CONSUMER_IDS_CHANGED (40), GET_CONSUMER_RUNNING_INFO (307),
//! CONSUME_MESSAGE_DIRECTLY (309).

use crate::command_header;

command_header! {
    /// UNREGISTER_CLIENT (35) request (note the capital `ID`).
    pub struct UnregisterClientRequestHeader {
        /// Client id.
        client_id: String => "clientID",
        /// Producer group to leave.
        producer_group: Option<String> => "producerGroup",
        /// Consumer group to leave.
        consumer_group: Option<String> => "consumerGroup",
    }
}

command_header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38) and NOTIFY_CONSUMER_IDS_CHANGED (40) header.
    pub struct ConsumerGroupRequestHeader {
        /// Consumer group.
        consumer_group: String => "consumerGroup",
    }
}

command_header! {
    /// GET_CONSUMER_RUNNING_INFO (307) request.
    pub struct GetConsumerRunningInfoRequestHeader {
        /// Consumer group.
        consumer_group: String => "consumerGroup",
        /// Client id.
        client_id: String => "clientId",
        /// Include a thread dump (Java only).
        jstack_enable: Option<bool> => "jstackEnable",
    }
}

command_header! {
    /// CONSUME_MESSAGE_DIRECTLY (309) request.
    pub struct ConsumeMessageDirectlyRequestHeader {
        /// Consumer group.
        consumer_group: String => "consumerGroup",
        /// Client id.
        client_id: Option<String> => "clientId",
        /// Message id.
        msg_id: Option<String> => "msgId",
        /// Broker name.
        broker_name: Option<String> => "brokerName",
    }
}
