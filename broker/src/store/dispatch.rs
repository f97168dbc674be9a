//! Dispatch: from a commit-log record to its consume-queue unit and index entries, and the
//! tables of consume queues and index files it writes.
//!
//! Runs inline under the put lock (so a message is visible to `get_message` and
//! `query_message` as soon as its put returns), for replicated records as they are appended,
//! and during recovery replay, where it is idempotent: consume-queue units already present are
//! skipped and the index skips offsets it already holds.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use mq_common::fnv::FnvBuild;
use mq_common::message::property::{get_properties, DELAY, KEYS, TAGS, UNIQ_KEY, WAIT};
use mq_common::message::sysflag::{self, TRANSACTION_ROLLBACK_TYPE};
use mq_common::message::{tags_code, RecordView};
use mq_common::protocol::body::system_topics::SCHEDULE_TOPIC;
use parking_lot::RwLock;

use super::config::StoreConfig;
use super::consume_queue::ConsumeQueue;
use super::error::{IoContext, StoreError};
use super::index::IndexService;
use super::put_lock::WriteToken;

/// Called after a message's consume-queue unit is written:
/// `(topic, queue_id, logical offset, tagsCode)`. Runs on the putting thread, outside the put
/// lock; keep it cheap (e.g. wake a long-poll `Notify`).
pub type ArrivalListener = Arc<dyn Fn(&str, i32, i64, i64) + Send + Sync>;

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
    /// the properties dispatch reads
    pub props: RecordProps<'a>,
}

/// The properties the put path and dispatch read from one message, found in one walk over
/// the encoded string (each walk is a measurable share of a put: it runs under the put lock
/// path for every message).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordProps<'a> {
    /// TAGS
    pub tags: Option<&'a str>,
    /// DELAY (the delay level)
    pub delay: Option<&'a str>,
    /// UNIQ_KEY
    pub uniq: Option<&'a str>,
    /// KEYS (space-separated)
    pub keys: Option<&'a str>,
    /// WAIT
    pub wait: Option<&'a str>,
}

impl<'a> RecordProps<'a> {
    /// Read them from an encoded properties string.
    pub fn parse(properties: &'a str) -> Self {
        let [tags, delay, uniq, keys, wait] =
            get_properties(properties, [TAGS, DELAY, UNIQ_KEY, KEYS, WAIT]);
        RecordProps { tags, delay, uniq, keys, wait }
    }

    /// Number of index keys the message produces.
    pub fn index_keys(&self) -> usize {
        index_key_count(self.uniq, self.keys)
    }

    /// Whether the sender waits for the store (`WAIT`, default true).
    pub fn waits_for_store(&self) -> bool {
        self.wait.is_none_or(|v| v != "false")
    }
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
            props: RecordProps::parse(v.properties),
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

type CqTable = HashMap<String, HashMap<i32, Arc<ConsumeQueue>, FnvBuild>, FnvBuild>;

/// The consume queues and index files, and the writing of both.
pub struct Dispatcher {
    cq_root: PathBuf,
    cq_file_size: usize,
    cqs: RwLock<CqTable>,
    index: IndexService,
    index_enable: bool,
    delay_levels: Vec<i64>,
    listener: RwLock<Option<ArrivalListener>>,
}

/// Number of index keys a message's properties produce (`UNIQ_KEY` and each of `KEYS`).
pub fn index_key_count(uniq: Option<&str>, keys: Option<&str>) -> usize {
    uniq.iter().filter(|k| !k.is_empty()).count()
        + keys.unwrap_or("").split(' ').filter(|k| !k.is_empty()).count()
}

impl Dispatcher {
    /// A dispatcher for the store `cfg` describes (nothing loaded yet).
    pub fn new(cfg: &StoreConfig) -> Self {
        let root = &cfg.store_path_root_dir;
        Dispatcher {
            cq_root: root.join("consumequeue"),
            cq_file_size: cfg.cq_file_size() as usize,
            cqs: RwLock::new(HashMap::default()),
            index: IndexService::new(root.join("index"), cfg.max_hash_slot_num, cfg.max_index_num),
            index_enable: cfg.message_index_enable,
            delay_levels: cfg.delay_levels_ms(),
            listener: RwLock::new(None),
        }
    }

    /// Load index files and every `consumequeue/<topic>/<queueId>/`; returns the queues that
    /// lost files (a hole), which recovery rebuilds.
    pub fn load(&self, t: &WriteToken<'_>) -> Result<Vec<Arc<ConsumeQueue>>, StoreError> {
        if self.index_enable {
            self.index.load(t).ctx(|| "load index files".into())?;
        }
        let mut damaged = Vec::new();
        let Ok(topics) = std::fs::read_dir(&self.cq_root) else {
            return Ok(damaged);
        };
        let mut table = self.cqs.write();
        for t in topics.flatten() {
            let Some(topic) = t.file_name().to_str().map(str::to_owned) else { continue };
            let Ok(queues) = std::fs::read_dir(t.path()) else { continue };
            for q in queues.flatten() {
                let Some(qid) = q.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                let cq = Arc::new(ConsumeQueue::new(&self.cq_root, &topic, qid, self.cq_file_size));
                let rep = cq.load().ctx(|| format!("load consume queue {topic}/{qid}"))?;
                if !rep.after_gap.is_empty() {
                    damaged.push(cq.clone());
                }
                table.entry(topic.clone()).or_default().insert(qid, cq);
            }
        }
        Ok(damaged)
    }

    /// The index files.
    pub fn index(&self) -> &IndexService {
        &self.index
    }

    /// Delay of each level, ms.
    pub fn delay_levels(&self) -> &[i64] {
        &self.delay_levels
    }

    /// All consume queues.
    pub fn all_cqs(&self) -> Vec<Arc<ConsumeQueue>> {
        self.cqs.read().values().flat_map(|m| m.values().cloned()).collect()
    }

    /// The consume queues of `topic`.
    pub fn topic_cqs(&self, topic: &str) -> Vec<Arc<ConsumeQueue>> {
        self.cqs.read().get(topic).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// `(topic, queue ids)` of every consume queue.
    pub fn topic_queue_table(&self) -> HashMap<String, Vec<i32>> {
        let t = self.cqs.read();
        t.iter()
            .map(|(t, m)| {
                let mut q: Vec<i32> = m.keys().copied().collect();
                q.sort();
                (t.clone(), q)
            })
            .collect()
    }

    /// Forget queues whose files are all gone.
    pub fn remove_empty_cqs(&self) {
        let mut t = self.cqs.write();
        for m in t.values_mut() {
            m.retain(|_, cq| !cq.files().is_empty());
        }
        t.retain(|_, m| !m.is_empty());
    }

    /// The consume queue of (topic, queue), if any.
    pub fn find_cq(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.cqs.read().get(topic)?.get(&queue_id).cloned()
    }

    /// The consume queue of (topic, queue), created (in memory) if new.
    pub fn find_or_create_cq(&self, topic: &str, queue_id: i32) -> Arc<ConsumeQueue> {
        if let Some(cq) = self.find_cq(topic, queue_id) {
            return cq;
        }
        let mut t = self.cqs.write();
        t.entry(topic.to_owned())
            .or_default()
            .entry(queue_id)
            .or_insert_with(|| {
                Arc::new(ConsumeQueue::new(&self.cq_root, topic, queue_id, self.cq_file_size))
            })
            .clone()
    }

    /// Remove the consume queues of `topics` and their directories.
    pub fn delete_topics(&self, _t: &WriteToken<'_>, topics: &[&str]) {
        let mut t = self.cqs.write();
        for topic in topics {
            if let Some(m) = t.remove(*topic) {
                for cq in m.values() {
                    cq.destroy();
                }
                let _ = std::fs::remove_dir_all(self.cq_root.join(topic));
            }
        }
    }

    /// Make sure dispatching `units` consume-queue units to `cq` (the first at the given queue
    /// offset) and `keys` index keys will
    /// not need new disk blocks (the put path calls this before appending to the commit log,
    /// so a full disk refuses the put instead of breaking its dispatch).
    pub fn reserve(
        &self,
        t: &WriteToken<'_>,
        cq: Option<(&ConsumeQueue, i64)>,
        units: usize,
        keys: usize,
    ) -> io::Result<()> {
        if let Some((cq, queue_offset)) = cq {
            cq.reserve(t, queue_offset, units)?;
        }
        if self.index_enable && keys > 0 {
            self.index.reserve(t, keys)?;
        }
        Ok(())
    }

    /// tagsCode of a record: delivery time for SCHEDULE_TOPIC_XXXX messages with a delay level,
    /// else the Java hash of TAGS (0 without tag). Derived from the stored record's properties so
    /// that replay reproduces exactly what the live path wrote.
    fn tags_code_of(&self, topic: &str, tags: Option<&str>, delay: Option<&str>, ts: i64) -> i64 {
        if topic == SCHEDULE_TOPIC {
            let level = delay.and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
            let l = (level.max(0) as usize).min(self.delay_levels.len());
            if l > 0 {
                return ts + self.delay_levels[l - 1];
            }
        }
        tags_code(tags)
    }

    /// Write the consume-queue unit and index entries of one record. `cq` is the record's
    /// queue when the caller has it at hand (the put path looked it up before the lock).
    pub fn dispatch(
        &self,
        t: &WriteToken<'_>,
        d: &DispatchRequest<'_>,
        cq: Option<&Arc<ConsumeQueue>>,
    ) -> io::Result<Option<Arrival>> {
        let mut arrival = None;
        let RecordProps { tags, delay, uniq, keys, .. } = d.props;
        if sysflag::is_dispatchable(d.sys_flag) {
            let found;
            let cq: &Arc<ConsumeQueue> = match cq {
                Some(c) => c,
                None => {
                    found = self.find_or_create_cq(d.topic, d.queue_id);
                    &found
                }
            };
            let tags = self.tags_code_of(d.topic, tags, delay, d.store_timestamp);
            cq.put(t, d.queue_offset, d.phy_offset, d.size, tags)?;
            arrival = Some(Arrival {
                topic: d.topic.to_owned(),
                queue_id: d.queue_id,
                queue_offset: d.queue_offset,
                tags_code: tags,
            });
        }
        if self.index_enable
            && sysflag::transaction_value(d.sys_flag) != TRANSACTION_ROLLBACK_TYPE
            && (uniq.is_some() || keys.is_some())
        {
            self.index.build(t, d.topic, uniq, keys, d.phy_offset, d.store_timestamp)?;
        }
        Ok(arrival)
    }

    /// After the commit log was cut at `end`: drop consume-queue units and forget index
    /// progress beyond it.
    pub fn truncate_beyond(&self, t: &WriteToken<'_>, end: i64) -> io::Result<()> {
        for cq in self.all_cqs() {
            cq.truncate_beyond(t, end)?;
        }
        self.index.forget_beyond(t, end)
    }

    /// Register the arrival listener (long polling).
    pub fn set_arrival_listener(&self, l: ArrivalListener) {
        *self.listener.write() = Some(l);
    }

    /// Tell the listener about messages that reached their queues (outside the put lock).
    pub fn notify(&self, arrivals: &[Arrival]) {
        if arrivals.is_empty() {
            return;
        }
        let l = self.listener.read().clone();
        if let Some(l) = l {
            for a in arrivals {
                l(&a.topic, a.queue_id, a.queue_offset, a.tags_code);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_props_reads_every_field_in_one_walk() {
        let s =
            "TAGS\u{1}a\u{2}KEYS\u{1}k1 k2 \u{2}UNIQ_KEY\u{1}u\u{2}WAIT\u{1}false\u{2}DELAY\u{1}3";
        let p = RecordProps::parse(s);
        assert_eq!(
            p,
            RecordProps {
                tags: Some("a"),
                delay: Some("3"),
                uniq: Some("u"),
                keys: Some("k1 k2 "),
                wait: Some("false"),
            }
        );
        assert_eq!(p.index_keys(), 3);
        assert!(!p.waits_for_store());
        let none = RecordProps::parse("");
        assert_eq!((none.index_keys(), none.waits_for_store()), (0, true));
    }
}
