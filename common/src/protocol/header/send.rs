//! Headers of the send path: SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320),
//! CONSUMER_SEND_MSG_BACK (36), END_TRANSACTION (37), CHECK_TRANSACTION_STATE (39).

use super::{CommandHeader, HeaderError};
use crate::command_header;
use crate::protocol::command::ExtFields;

command_header! {
    /// SEND_MESSAGE (10) request, V1 long field names. Both wire forms decode into this struct
    /// via [`SendMessageRequestHeader::read_any`].
    pub struct SendMessageRequestHeader {
        /// Producer group.
        producer_group: String => "producerGroup",
        /// Target topic.
        topic: String => "topic",
        /// Template topic for auto-create (normally `TBW102`).
        default_topic: String => "defaultTopic",
        /// Queue count for auto-create.
        default_topic_queue_nums: i32 => "defaultTopicQueueNums",
        /// Target queue; `< 0` lets the broker pick.
        queue_id: i32 => "queueId",
        /// Message sysFlag.
        sys_flag: i32 => "sysFlag",
        /// Producer clock, ms.
        born_timestamp: i64 => "bornTimestamp",
        /// User flag.
        flag: i32 => "flag",
        /// Encoded properties string.
        properties: Option<String> => "properties",
        /// Reconsume count (retry resends).
        reconsume_times: Option<i32> => "reconsumeTimes",
        /// Unit mode.
        unit_mode: Option<bool> => "unitMode",
        /// Body is a packed batch.
        batch: Option<bool> => "batch",
        /// Max reconsume times (retry resends).
        max_reconsume_times: Option<i32> => "maxReconsumeTimes",
        /// 5.x target broker name.
        broker_name: Option<String> => "bname",
    }
}

command_header! {
    /// SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320) request: short field names `a`..`n`.
    pub struct SendMessageRequestHeaderV2 {
        /// producerGroup.
        a: String => "a",
        /// topic.
        b: String => "b",
        /// defaultTopic.
        c: String => "c",
        /// defaultTopicQueueNums.
        d: i32 => "d",
        /// queueId.
        e: i32 => "e",
        /// sysFlag.
        f: i32 => "f",
        /// bornTimestamp.
        g: i64 => "g",
        /// flag.
        h: i32 => "h",
        /// properties.
        i: Option<String> => "i",
        /// reconsumeTimes.
        j: Option<i32> => "j",
        /// unitMode.
        k: Option<bool> => "k",
        /// maxReconsumeTimes.
        l: Option<i32> => "l",
        /// batch.
        m: Option<bool> => "m",
        /// brokerName.
        n: Option<String> => "n",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v.a,
            topic: v.b,
            default_topic: v.c,
            default_topic_queue_nums: v.d,
            queue_id: v.e,
            sys_flag: v.f,
            born_timestamp: v.g,
            flag: v.h,
            properties: v.i,
            reconsume_times: v.j,
            unit_mode: v.k,
            max_reconsume_times: v.l,
            batch: v.m,
            broker_name: v.n,
        }
    }
}

impl From<&SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(v: &SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: v.producer_group.clone(),
            b: v.topic.clone(),
            c: v.default_topic.clone(),
            d: v.default_topic_queue_nums,
            e: v.queue_id,
            f: v.sys_flag,
            g: v.born_timestamp,
            h: v.flag,
            i: v.properties.clone(),
            j: v.reconsume_times,
            k: v.unit_mode,
            l: v.max_reconsume_times,
            m: v.batch,
            n: v.broker_name.clone(),
        }
    }
}

impl SendMessageRequestHeader {
    /// Decode a send header in whichever form it arrived: V2 short names for codes 310/320
    /// (and whenever `b` is present), V1 long names otherwise.
    pub fn read_any(code: i32, fields: &ExtFields) -> Result<Self, HeaderError> {
        let v2 = code == crate::protocol::codes::request::SEND_MESSAGE_V2
            || code == crate::protocol::codes::request::SEND_BATCH_MESSAGE
            || code == crate::protocol::codes::request::SEND_REPLY_MESSAGE_V2;
        if v2 && fields.contains_key("b")
            || !fields.contains_key("topic") && fields.contains_key("b")
        {
            SendMessageRequestHeaderV2::read(fields).map(Into::into)
        } else {
            SendMessageRequestHeader::read(fields)
        }
    }
}

command_header! {
    /// Response of every send (`SendMessageResponseHeader`); always present, success or not.
    pub struct SendMessageResponseHeader {
        /// offsetMsgId (comma-joined for a batch).
        msg_id: String => "msgId",
        /// Queue the message went to.
        queue_id: i32 => "queueId",
        /// Logical offset of the (first) message.
        queue_offset: i64 => "queueOffset",
        /// Transaction id (half messages).
        transaction_id: Option<String> => "transactionId",
        /// 5.x inner-batch unique id.
        batch_uniq_id: Option<String> => "batchUniqId",
        /// Region (Java adds `DefaultRegion`).
        msg_region: Option<String> => "MSG_REGION",
        /// Trace switch (Java adds `true`).
        trace_on: Option<String> => "TRACE_ON",
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK (36) request (§2.7).
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log offset of the failed message.
        offset: i64 => "offset",
        /// Consumer group.
        group: String => "group",
        /// Requested delay level (0 = broker picks 3 + reconsumeTimes; <0 = straight to DLQ).
        delay_level: i32 => "delayLevel",
        /// Original message id.
        origin_msg_id: Option<String> => "originMsgId",
        /// Original topic.
        origin_topic: Option<String> => "originTopic",
        /// Unit mode.
        unit_mode: Option<bool> => "unitMode",
        /// Max reconsume times.
        max_reconsume_times: Option<i32> => "maxReconsumeTimes",
    }
}

command_header! {
    /// END_TRANSACTION (37) request (§8.2).
    pub struct EndTransactionRequestHeader {
        /// Producer group.
        producer_group: String => "producerGroup",
        /// Queue offset of the half message.
        tran_state_table_offset: i64 => "tranStateTableOffset",
        /// Commit-log offset of the half message.
        commit_log_offset: i64 => "commitLogOffset",
        /// 0 unknown, 8 commit, 12 rollback.
        commit_or_rollback: i32 => "commitOrRollback",
        /// Answer to a broker check.
        from_transaction_check: Option<bool> => "fromTransactionCheck",
        /// Message id.
        msg_id: Option<String> => "msgId",
        /// Transaction id.
        transaction_id: Option<String> => "transactionId",
    }
}

command_header! {
    /// CHECK_TRANSACTION_STATE (39) request, broker → producer.
    pub struct CheckTransactionStateRequestHeader {
        /// Queue offset of the half message.
        tran_state_table_offset: i64 => "tranStateTableOffset",
        /// Commit-log offset of the half message.
        commit_log_offset: i64 => "commitLogOffset",
        /// UNIQ_KEY.
        msg_id: Option<String> => "msgId",
        /// Transaction id.
        transaction_id: Option<String> => "transactionId",
        /// offsetMsgId.
        offset_msg_id: Option<String> => "offsetMsgId",
    }
}

command_header! {
    /// PUSH_REPLY_MESSAGE_TO_CLIENT (326, broker → requesting producer): the reply message of
    /// a request-reply exchange, body = reply body.
    pub struct ReplyMessageRequestHeader {
        /// Replying producer's group.
        producer_group: String => "producerGroup",
        /// Reply topic.
        topic: String => "topic",
        /// Template topic.
        default_topic: String => "defaultTopic",
        /// Template queue count.
        default_topic_queue_nums: i32 => "defaultTopicQueueNums",
        /// Queue id.
        queue_id: i32 => "queueId",
        /// sysFlag.
        sys_flag: i32 => "sysFlag",
        /// Born timestamp.
        born_timestamp: i64 => "bornTimestamp",
        /// User flag.
        flag: i32 => "flag",
        /// Properties string.
        properties: Option<String> => "properties",
        /// Reconsume times.
        reconsume_times: Option<i32> => "reconsumeTimes",
        /// Unit mode.
        unit_mode: Option<bool> => "unitMode",
        /// Replier's address.
        born_host: String => "bornHost",
        /// Broker address.
        store_host: String => "storeHost",
        /// Broker time when pushed.
        store_timestamp: i64 => "storeTimestamp",
    }
}
