//! [`MsgStore`] over the persistent [`crate::store::MessageStore`] (`storeType=file`).

use std::sync::Arc;

use bytes::Bytes;
use mq_common::message::MessageExtBrokerInner;

use crate::config::BrokerConfig;
use crate::store::{GetMessageStatus, MessageStore, PutMessageResult, PutMessageStatus, StoreConfig};
use crate::store_api::*;

/// The persistent store as a [`MsgStore`].
pub struct FileStore(pub Arc<MessageStore>);

/// Build the store config from the broker config's store keys (Apache names).
pub fn store_config(cfg: &BrokerConfig) -> Result<StoreConfig, String> {
    let mut sc = StoreConfig::default();
    sc.apply("storePathRootDir", &cfg.store_path_root_dir.display().to_string())?;
    sc.apply("maxMessageSize", &cfg.max_message_size.to_string())?;
    sc.apply("messageDelayLevel", &cfg.message_delay_level)?;
    for (k, v) in &cfg.store_keys {
        if !sc.apply(k, v)? {
            tracing::debug!(key = %k, "store key not used by this store");
        }
    }
    Ok(sc)
}

impl FileStore {
    /// Open (recover) and start the store.
    pub fn open(cfg: &BrokerConfig) -> anyhow::Result<FileStore> {
        let sc = store_config(cfg).map_err(|e| anyhow::anyhow!("invalid store config: {e}"))?;
        let s = MessageStore::open(sc).map_err(|e| anyhow::anyhow!("cannot open the message store: {e}"))?;
        s.start().map_err(|e| anyhow::anyhow!("cannot start the message store: {e}"))?;
        Ok(FileStore(s))
    }

    fn convert(&self, r: PutMessageResult) -> PutResult {
        let status = map_put(r.status);
        let durable: Option<DurableWait> = if r.status == PutMessageStatus::PutOk && r.needs_durable_wait {
            let s = self.0.clone();
            let end = r.end_offset();
            Some(Box::pin(async move {
                match s.wait_durable(end).await {
                    Ok(()) => PutStatus::PutOk,
                    Err(crate::store::DurabilityError::FlushTimeout) => PutStatus::FlushDiskTimeout,
                    Err(_) => PutStatus::ServiceNotAvailable,
                }
            }))
        } else {
            None
        };
        PutResult { status, wrote_offset: r.wrote_offset, queue_offset: r.queue_offset, msg_id: r.msg_id, remark: r.remark, store_timestamp: r.store_timestamp, durable }
    }
}

fn map_put(s: PutMessageStatus) -> PutStatus {
    match s {
        PutMessageStatus::PutOk => PutStatus::PutOk,
        PutMessageStatus::FlushDiskTimeout => PutStatus::FlushDiskTimeout,
        PutMessageStatus::MessageIllegal => PutStatus::MessageIllegal,
        PutMessageStatus::PropertiesSizeExceeded => PutStatus::PropertiesSizeExceeded,
        PutMessageStatus::ServiceNotAvailable | PutMessageStatus::Poisoned => PutStatus::ServiceNotAvailable,
        PutMessageStatus::OsPageCacheBusy => PutStatus::OsPageCacheBusy,
        PutMessageStatus::UnknownError => PutStatus::UnknownError,
    }
}

fn map_get(s: GetMessageStatus) -> GetStatus {
    match s {
        GetMessageStatus::Found => GetStatus::Found,
        GetMessageStatus::NoMatchedMessage => GetStatus::NoMatchedMessage,
        GetMessageStatus::MessageWasRemoving => GetStatus::MessageWasRemoving,
        GetMessageStatus::OffsetFoundNull => GetStatus::OffsetFoundNull,
        GetMessageStatus::OffsetOverflowBadly => GetStatus::OffsetOverflowBadly,
        GetMessageStatus::OffsetOverflowOne => GetStatus::OffsetOverflowOne,
        GetMessageStatus::OffsetTooSmall => GetStatus::OffsetTooSmall,
        GetMessageStatus::NoMatchedLogicQueue => GetStatus::NoMatchedLogicQueue,
        GetMessageStatus::NoMessageInQueue => GetStatus::NoMessageInQueue,
    }
}

impl MsgStore for FileStore {
    fn put(&self, msg: MessageExtBrokerInner) -> PutResult {
        self.convert(self.0.put_message(msg))
    }

    fn put_batch(&self, msgs: Vec<MessageExtBrokerInner>) -> PutResult {
        self.convert(self.0.put_messages(msgs))
    }

    fn get(&self, group: &str, topic: &str, queue_id: i32, offset: i64, max_nums: i32, max_bytes: i32, filter: Option<TagsFilter<'_>>) -> GetResult {
        let f: Option<&dyn Fn(i64) -> bool> = match filter {
            Some(f) => Some(f),
            None => None,
        };
        let r = self.0.get_message(group, topic, queue_id, offset, max_nums.max(1) as usize, max_bytes.max(1) as usize, f);
        GetResult { status: map_get(r.status), next_begin_offset: r.next_begin_offset, min_offset: r.min_offset, max_offset: r.max_offset, messages: r.messages }
    }

    fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.0.get_max_offset_in_queue(topic, queue_id)
    }

    fn min_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.0.get_min_offset_in_queue(topic, queue_id)
    }

    fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp: i64) -> i64 {
        self.0.get_offset_in_queue_by_time(topic, queue_id, timestamp)
    }

    fn earliest_time(&self, topic: &str, queue_id: i32) -> i64 {
        self.0.get_earliest_message_time(topic, queue_id).unwrap_or(0)
    }

    fn store_time(&self, topic: &str, queue_id: i32, offset: i64) -> i64 {
        self.0.get_message_store_timestamp(topic, queue_id, offset).unwrap_or(0)
    }

    fn look_by_offset(&self, phys: i64) -> Option<Bytes> {
        self.0.look_message_by_offset(phys)
    }

    fn query(&self, topic: &str, key: &str, max_num: usize, begin: i64, end: i64) -> Vec<Bytes> {
        self.0.query_message(topic, key, max_num, begin, end).messages
    }

    fn delete_topics(&self, topics: &[String]) {
        let v: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.0.delete_topics(&v);
    }

    fn set_arrival_listener(&self, listener: ArrivalListener) {
        self.0.set_arrival_listener(listener);
    }

    fn commit_log_range(&self) -> (i64, i64) {
        (self.0.get_min_phy_offset(), self.0.get_max_phy_offset())
    }

    fn runtime_info(&self) -> Vec<(String, String)> {
        let i = self.0.runtime_info();
        vec![
            ("commitLogMinOffset".into(), i.commit_log_min_offset.to_string()),
            ("commitLogMaxOffset".into(), i.commit_log_max_offset.to_string()),
            ("commitLogFlushedOffset".into(), i.commit_log_flushed_offset.to_string()),
            ("dispatchBehindBytes".into(), i.dispatch_behind_bytes.to_string()),
            ("commitLogDiskRatio".into(), format!("{:.4}", i.commit_log_disk_ratio)),
            ("putMessageTimesTotal".into(), i.put_message_times_total.to_string()),
            ("putMessageSizeTotal".into(), i.put_message_size_total.to_string()),
            ("putMessageFailedTimes".into(), i.put_message_failed_times.to_string()),
            ("putMessageEntireTimeMax".into(), (i.put_message_max_latency_us / 1000).to_string()),
            ("storePoisoned".into(), i.poisoned.to_string()),
            ("consumeQueueCount".into(), i.consume_queue_count.to_string()),
            ("indexFileCount".into(), i.index_file_count.to_string()),
            ("storeType".into(), "file".into()),
        ]
    }

    fn delay_levels_ms(&self) -> Vec<i64> {
        self.0.config().delay_levels_ms()
    }

    fn trigger_delete_files(&self) {
        self.0.trigger_delete_files();
    }

    fn shutdown(&self) {
        if let Err(e) = self.0.shutdown() {
            tracing::error!(error = %e, "store shutdown failed");
        }
    }
}
