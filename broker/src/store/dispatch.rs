//! Dispatch of a commit-log record to its consume queue and the index.
//!
//! Runs inline under the put lock (so a message is visible to `get_message` and `query_message`
//! as soon as `put_message` returns) and again during recovery replay, where it is idempotent:
//! consume-queue units already present are skipped and the index skips offsets it already holds.

use std::io;
use std::sync::Arc;

use mq_common::message::property::{self, DELAY, KEYS, TAGS, UNIQ_KEY};
use mq_common::message::sysflag::{self, TRANSACTION_ROLLBACK_TYPE};
use mq_common::message::{tags_code, RecordView};

use super::consume_queue::ConsumeQueue;
use mq_common::protocol::body::system_topics::SCHEDULE_TOPIC;

use super::store::MessageStore;

/// What the dispatcher needs from one record.
#[derive(Debug, Clone, Copy)]
pub struct DispatchRequest<'a> {
    /// topic
    pub topic: &'a str,
    /// queue id
    pub queue_id: i32,
    /// logical offset
    pub queue_offset: i64,
    /// commit-log offset
    pub phy_offset: i64,
    /// record size
    pub size: i32,
    /// store timestamp
    pub store_timestamp: i64,
    /// SYSFLAG
    pub sys_flag: i32,
    /// encoded properties
    pub properties: &'a str,
}

impl<'a> DispatchRequest<'a> {
    /// From a decoded record at `phy`.
    pub fn from_view(phy: i64, v: &RecordView<'a>) -> Self {
        DispatchRequest {
            topic: v.topic,
            queue_id: v.queue_id,
            queue_offset: v.queue_offset,
            phy_offset: phy,
            size: v.total_size,
            store_timestamp: v.store_timestamp,
            sys_flag: v.sys_flag,
            properties: v.properties,
        }
    }
}

/// A message that reached a consume queue (for the arrival listener).
#[derive(Debug, Clone)]
pub struct Arrival {
    /// topic
    pub topic: String,
    /// queue id
    pub queue_id: i32,
    /// logical offset
    pub queue_offset: i64,
    /// tagsCode written
    pub tags_code: i64,
}

impl MessageStore {
    /// tagsCode of a record: delivery time for SCHEDULE_TOPIC_XXXX messages with a delay level,
    /// else the Java hash of TAGS (0 without tag). Derived from the stored record's properties so
    /// that replay reproduces exactly what the live path wrote.
    fn tags_code_from(
        &self,
        topic: &str,
        tags: Option<&str>,
        delay: Option<&str>,
        store_ts: i64,
    ) -> i64 {
        if topic == SCHEDULE_TOPIC {
            let level = delay.and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
            if level > 0 {
                let levels = self.delay_levels();
                let l = (level as usize).min(levels.len());
                if l > 0 {
                    return store_ts + levels[l - 1];
                }
            }
        }
        tags_code(tags)
    }

    /// Write the consume-queue unit and index entries of one record. Caller holds the put lock
    /// (or is recovering, single-threaded).
    pub(crate) fn dispatch(&self, d: &DispatchRequest<'_>) -> io::Result<Option<Arrival>> {
        self.dispatch_to(d, None)
    }

    /// [`MessageStore::dispatch`] with the record's consume queue already looked up (the put
    /// path has it from before the lock; saves a second table lookup per message).
    pub(crate) fn dispatch_to(
        &self,
        d: &DispatchRequest<'_>,
        cq: Option<&Arc<ConsumeQueue>>,
    ) -> io::Result<Option<Arrival>> {
        let mut arrival = None;
        // One pass over the properties for everything dispatch needs.
        let [tags, delay, uniq, keys] =
            property::get_properties(d.properties, [TAGS, DELAY, UNIQ_KEY, KEYS]);
        if sysflag::is_dispatchable(d.sys_flag) {
            let found;
            let cq: &Arc<ConsumeQueue> = match cq {
                Some(c) => c,
                None => {
                    found = self.find_or_create_cq(d.topic, d.queue_id);
                    &found
                }
            };
            let tags = self.tags_code_from(d.topic, tags, delay, d.store_timestamp);
            cq.put(d.queue_offset, d.phy_offset, d.size, tags)?;
            arrival = Some(Arrival {
                topic: d.topic.to_owned(),
                queue_id: d.queue_id,
                queue_offset: d.queue_offset,
                tags_code: tags,
            });
        }
        if self.config().message_index_enable
            && sysflag::transaction_value(d.sys_flag) != TRANSACTION_ROLLBACK_TYPE
            && (uniq.is_some() || keys.is_some())
        {
            self.index_service().build(d.topic, uniq, keys, d.phy_offset, d.store_timestamp)?;
        }
        Ok(arrival)
    }
}
