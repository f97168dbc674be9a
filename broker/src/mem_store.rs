//! An in-memory [`MsgStore`]: same semantics as the persistent store (record encoding,
//! consume queues, DELAY rewrite, key lookup) without files. Used by unit tests and as the
//! broker's store when `storeType=memory`. One mutex serialises appends exactly like the
//! single commit-log appender of the real store; it is not meant for production load.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use mq_common::message::property::{KEYS, REAL_QID, REAL_TOPIC, UNIQ_KEY};
use mq_common::message::{crc32_masked, encode_offset_msg_id, encode_record, sysflag, tags_code, MessageExtBrokerInner};
use mq_common::protocol::body::system_topics::SCHEDULE_TOPIC;
use mq_common::protocol::now_millis;
use parking_lot::{Mutex, RwLock};

use crate::store_api::*;

#[derive(Clone, Copy)]
struct CqEntry {
    phys: i64,
    tags_code: i64,
    store_ts: i64,
}

#[derive(Default)]
struct Inner {
    log: BTreeMap<i64, Bytes>,
    next_phys: i64,
    queues: HashMap<(String, i32), Vec<CqEntry>>,
    /// "topic#key" → commit-log offsets.
    index: HashMap<String, Vec<i64>>,
}

/// In-memory store.
pub struct MemStore {
    inner: Mutex<Inner>,
    listener: RwLock<Option<ArrivalListener>>,
    delay_levels: Vec<i64>,
    puts: AtomicI64,
}

impl MemStore {
    /// New empty store with the given delay table (ms per level).
    pub fn new(delay_levels: Vec<i64>) -> Self {
        MemStore { inner: Mutex::new(Inner::default()), listener: RwLock::new(None), delay_levels, puts: AtomicI64::new(0) }
    }

    /// Apply the DELAY rewrite and return the consume-queue tagsCode.
    fn prepare(&self, msg: &mut MessageExtBrokerInner, now: i64) -> i64 {
        let tx = sysflag::transaction_value(msg.sys_flag);
        if tx == sysflag::TRANSACTION_NOT_TYPE || tx == sysflag::TRANSACTION_COMMIT_TYPE {
            let level = msg.delay_level();
            if level > 0 && !self.delay_levels.is_empty() {
                let level = level.min(self.delay_levels.len() as i32);
                let topic = std::mem::replace(&mut msg.topic, SCHEDULE_TOPIC.to_string());
                msg.set_property(REAL_TOPIC, &topic);
                msg.set_property(REAL_QID, &msg.queue_id.to_string());
                msg.queue_id = level - 1;
                return now + self.delay_levels[(level - 1) as usize];
            }
        }
        tags_code(msg.tags())
    }

    fn append(&self, inner: &mut Inner, mut msg: MessageExtBrokerInner, now: i64, notify: &mut Vec<(String, i32, i64, i64)>) -> Result<(i64, i64), PutStatus> {
        let tags = self.prepare(&mut msg, now);
        let key = (msg.topic.clone(), msg.queue_id);
        let queue_offset = inner.queues.get(&key).map_or(0, |q| q.len() as i64);
        let phys = inner.next_phys;
        let crc = crc32_masked(&msg.body);
        let rec = encode_record(&msg.record_fields(crc, queue_offset, phys, now)).map_err(|_| PutStatus::MessageIllegal)?;
        inner.next_phys += rec.len() as i64;
        inner.log.insert(phys, Bytes::from(rec));
        if sysflag::is_dispatchable(msg.sys_flag) {
            inner.queues.entry(key).or_default().push(CqEntry { phys, tags_code: tags, store_ts: now });
            let keys: Vec<String> = msg.keys().map(str::to_string).chain(msg.property(UNIQ_KEY).map(str::to_string)).collect();
            let _ = KEYS;
            for k in keys {
                inner.index.entry(format!("{}#{}", msg.topic, k)).or_default().push(phys);
            }
            notify.push((msg.topic, msg.queue_id, queue_offset, tags));
        }
        Ok((phys, queue_offset))
    }

    fn notify(&self, events: Vec<(String, i32, i64, i64)>) {
        if let Some(l) = self.listener.read().clone() {
            for (t, q, o, c) in events {
                l(&t, q, o, c);
            }
        }
    }

    fn entries(&self, topic: &str, queue_id: i32) -> Option<Vec<CqEntry>> {
        self.inner.lock().queues.get(&(topic.to_string(), queue_id)).cloned()
    }
}

impl MsgStore for MemStore {
    fn put(&self, msg: MessageExtBrokerInner) -> PutResult {
        self.put_batch(vec![msg])
    }

    fn put_batch(&self, msgs: Vec<MessageExtBrokerInner>) -> PutResult {
        let now = now_millis();
        let mut events = Vec::new();
        let mut phys_offsets = Vec::with_capacity(msgs.len());
        let mut ids = Vec::with_capacity(msgs.len());
        let mut first_q = -1;
        {
            let mut inner = self.inner.lock();
            for m in msgs {
                let host = m.store_host;
                match self.append(&mut inner, m, now, &mut events) {
                    Ok((p, q)) => {
                        if first_q < 0 {
                            first_q = q;
                        }
                        phys_offsets.push(p);
                        ids.push(encode_offset_msg_id(host, p));
                    }
                    Err(s) => return PutResult::failed(s),
                }
            }
        }
        self.puts.fetch_add(phys_offsets.len() as i64, Ordering::Relaxed);
        self.notify(events);
        PutResult { status: PutStatus::PutOk, wrote_offset: phys_offsets.first().copied().unwrap_or(-1), queue_offset: first_q, msg_id: ids.join(","), remark: String::new(), store_timestamp: now, durable: None }
    }

    fn get(&self, _group: &str, topic: &str, queue_id: i32, offset: i64, max_nums: i32, max_bytes: i32, filter: Option<TagsFilter<'_>>) -> GetResult {
        let inner = self.inner.lock();
        let Some(q) = inner.queues.get(&(topic.to_string(), queue_id)) else {
            return GetResult { status: GetStatus::NoMatchedLogicQueue, next_begin_offset: 0, min_offset: 0, max_offset: 0, messages: vec![] };
        };
        let max = q.len() as i64;
        let mk = |status, next| GetResult { status, next_begin_offset: next, min_offset: 0, max_offset: max, messages: vec![] };
        if max == 0 {
            return mk(GetStatus::NoMessageInQueue, 0);
        }
        if offset < 0 {
            return mk(GetStatus::OffsetTooSmall, 0);
        }
        if offset == max {
            return mk(GetStatus::OffsetOverflowOne, offset);
        }
        if offset > max {
            return mk(GetStatus::OffsetOverflowBadly, max);
        }
        let mut messages = Vec::new();
        let mut bytes = 0usize;
        let mut next = offset;
        let scan_limit = (max_nums.max(1) as i64 * 20).max(800);
        while next < max && messages.len() < max_nums.max(1) as usize && next - offset < scan_limit {
            let e = q[next as usize];
            next += 1;
            if let Some(f) = filter {
                if !f(e.tags_code) {
                    continue;
                }
            }
            let Some(rec) = inner.log.get(&e.phys) else { continue };
            if !messages.is_empty() && bytes + rec.len() > max_bytes.max(0) as usize {
                next -= 1;
                break;
            }
            bytes += rec.len();
            messages.push(rec.clone());
        }
        let status = if messages.is_empty() { GetStatus::NoMatchedMessage } else { GetStatus::Found };
        GetResult { status, next_begin_offset: next, min_offset: 0, max_offset: max, messages }
    }

    fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner.lock().queues.get(&(topic.to_string(), queue_id)).map_or(0, |q| q.len() as i64)
    }

    fn min_offset(&self, _topic: &str, _queue_id: i32) -> i64 {
        0
    }

    fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp: i64) -> i64 {
        let Some(q) = self.entries(topic, queue_id) else { return 0 };
        // First entry stored at or after the timestamp; past the end → max offset.
        q.partition_point(|e| e.store_ts < timestamp) as i64
    }

    fn earliest_time(&self, topic: &str, queue_id: i32) -> i64 {
        self.entries(topic, queue_id).and_then(|q| q.first().map(|e| e.store_ts)).unwrap_or(0)
    }

    fn store_time(&self, topic: &str, queue_id: i32, offset: i64) -> i64 {
        let inner = self.inner.lock();
        inner.queues.get(&(topic.to_string(), queue_id)).and_then(|q| q.get(offset.max(0) as usize)).map_or(0, |e| e.store_ts)
    }

    fn look_by_offset(&self, phys: i64) -> Option<Bytes> {
        self.inner.lock().log.get(&phys).cloned()
    }

    fn query(&self, topic: &str, key: &str, max_num: usize, begin: i64, end: i64) -> Vec<Bytes> {
        let inner = self.inner.lock();
        let Some(offs) = inner.index.get(&format!("{topic}#{key}")) else { return vec![] };
        offs.iter()
            .filter_map(|p| inner.log.get(p))
            .filter(|r| {
                let ts = mq_common::message::RecordView::parse(r, false).map(|v| v.store_timestamp).unwrap_or(0);
                ts >= begin && ts <= end
            })
            .take(max_num)
            .cloned()
            .collect()
    }

    fn delete_topics(&self, topics: &[String]) {
        let mut inner = self.inner.lock();
        inner.queues.retain(|(t, _), _| !topics.contains(t));
    }

    fn set_arrival_listener(&self, listener: ArrivalListener) {
        *self.listener.write() = Some(listener);
    }

    fn commit_log_range(&self) -> (i64, i64) {
        (0, self.inner.lock().next_phys)
    }

    fn runtime_info(&self) -> Vec<(String, String)> {
        vec![("storeType".into(), "memory".into())]
    }

    fn delay_levels_ms(&self) -> Vec<i64> {
        self.delay_levels.clone()
    }

    fn shutdown(&self) {}
}
