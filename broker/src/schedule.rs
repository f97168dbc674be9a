//! Delay-level scheduler (spec §8.1). The store has already rewritten delayed messages into
//! queue `level−1` of SCHEDULE_TOPIC_XXXX; this service walks each level's queue in order and,
//! once a message is due (store time + level delay), re-appends it to its REAL_TOPIC /
//! REAL_QID without the delay. Progress per level lives in `config/delayOffset.json`
//! (`{"offsetTable":{"1":100}}`, Java writes the keys unquoted) so delivery resumes on time
//! after a restart.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mq_common::message::property::{DELAY, REAL_QID, REAL_TOPIC, WAIT};
use mq_common::message::{MessageExtBrokerInner, RecordView};
use mq_common::protocol::body::system_topics::SCHEDULE_TOPIC;
use mq_common::protocol::{lenient_json, now_millis};
use parking_lot::Mutex;

use crate::broker::Broker;
use crate::json_file::{self, JsonFile};
use crate::store::GetMessageStatus;

#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DelayFile {
    offset_table: BTreeMap<i32, i64>,
}

/// Per-level progress.
pub struct ScheduleService {
    offsets: Mutex<BTreeMap<i32, i64>>,
    levels_ms: Vec<i64>,
    file: JsonFile,
    dirty: AtomicBool,
}

impl ScheduleService {
    /// Load offsets from `<root>/config/delayOffset.json`.
    pub fn load(root: &std::path::Path, levels_ms: Vec<i64>) -> Self {
        let path = root.join("config").join("delayOffset.json");
        let f: Option<DelayFile> =
            json_file::read_with_backup(&path, |t| lenient_json::from_str(t).ok());
        ScheduleService {
            offsets: Mutex::new(f.map(|f| f.offset_table).unwrap_or_default()),
            levels_ms,
            file: JsonFile::new(path),
            dirty: AtomicBool::new(false),
        }
    }

    /// Delay of a level in ms.
    pub fn delay_of(&self, level: i32) -> Option<i64> {
        self.levels_ms.get((level - 1) as usize).copied()
    }

    /// Java-format JSON of the offsets (GET_ALL_DELAY_OFFSET).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&DelayFile { offset_table: self.offsets.lock().clone() })
            .unwrap_or_default()
    }

    /// A slave takes its master's delay offsets (metadata sync; Java writes the file
    /// verbatim, we also keep the table in memory so a promoted slave resumes from them).
    pub fn follow_master(&self, json: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(json).map_err(|e| e.to_string())?;
        let f: DelayFile = lenient_json::from_str(text).map_err(|e| e.to_string())?;
        *self.offsets.lock() = f.offset_table;
        self.dirty.store(true, Ordering::Relaxed);
        self.persist().map_err(|e| e.to_string())
    }

    /// Persist if changed (blocking I/O).
    pub fn persist(&self) -> std::io::Result<()> {
        if self.dirty.swap(false, Ordering::Relaxed) {
            self.file.mark_changed();
        }
        let r = self.file.write_if_changed(|| self.to_json()).map(|_| ());
        if r.is_err() {
            self.dirty.store(true, Ordering::Relaxed);
        }
        r
    }

    fn offset(&self, level: i32) -> i64 {
        self.offsets.lock().get(&level).copied().unwrap_or(0)
    }

    fn set_offset(&self, level: i32, off: i64) {
        self.offsets.lock().insert(level, off);
        self.dirty.store(true, Ordering::Relaxed);
    }
}

/// Deliver what is due on one level; returns how many messages were delivered.
async fn run_level(b: &Broker, level: i32, now: i64) -> usize {
    let Some(delay) = b.schedule.delay_of(level) else { return 0 };
    let qid = level - 1;
    let mut delivered = 0;
    loop {
        let offset = b.schedule.offset(level);
        let r = b.store.get_message("", SCHEDULE_TOPIC, qid, offset, 32, 1024 * 1024, None);
        match r.status {
            GetMessageStatus::Found => {}
            GetMessageStatus::OffsetTooSmall | GetMessageStatus::OffsetOverflowBadly => {
                b.schedule.set_offset(level, r.next_begin_offset);
                return delivered;
            }
            GetMessageStatus::NoMatchedMessage | GetMessageStatus::MessageWasRemoving
                if r.next_begin_offset > offset =>
            {
                b.schedule.set_offset(level, r.next_begin_offset);
                continue;
            }
            _ => return delivered,
        }
        for rec in &r.messages {
            let Ok(v) = RecordView::parse(rec, false) else {
                b.schedule.set_offset(level, b.schedule.offset(level) + 1);
                continue;
            };
            if v.store_timestamp + delay > now {
                return delivered;
            }
            let real_topic = v.property(REAL_TOPIC).unwrap_or("").to_string();
            let real_qid = v.property(REAL_QID).and_then(|q| q.parse().ok()).unwrap_or(0);
            if !real_topic.is_empty() {
                let mut m = MessageExtBrokerInner {
                    topic: real_topic,
                    queue_id: real_qid,
                    flag: v.flag,
                    sys_flag: v.sys_flag,
                    born_timestamp: v.born_timestamp,
                    born_host: v.born_host,
                    store_host: v.store_host,
                    reconsume_times: v.reconsume_times,
                    prepared_transaction_offset: 0,
                    body: rec.slice_ref(v.body),
                    properties: v.properties.to_string(),
                    tags_code: 0,
                };
                // Without DELAY the store appends it to the real queue instead of rescheduling.
                m.remove_property(DELAY);
                m.set_property(WAIT, "false");
                // WAIT=false: nothing to wait for, but a put is acknowledged through its ticket.
                let put = b.store.put_message(m).durable().await;
                if !put.status.is_stored() {
                    tracing::warn!(level, status = ?put.status, "re-delivery of a delayed message failed, retrying later");
                    return delivered;
                }
                delivered += 1;
            }
            b.schedule.set_offset(level, v.queue_offset + 1);
        }
    }
}

/// The scheduler task: every 100 ms deliver what is due on every level; persist offsets every
/// `flushDelayOffsetInterval`.
pub async fn run(b: Arc<Broker>) {
    let levels = b.schedule.levels_ms.len() as i32;
    let flush_every = Duration::from_millis(b.cfg.flush_delay_offset_interval.max(100));
    let mut last_flush = tokio::time::Instant::now();
    // Java starts 1 s after boot; recovery has finished by the time we are spawned.
    loop {
        let now = now_millis();
        // Controller mode: only a writable master delivers (the role changes at run time).
        for level in (1..=levels).filter(|_| b.ha.accepts_writes()) {
            run_level(&b, level, now).await;
        }
        if last_flush.elapsed() >= flush_every {
            if let Err(e) = b.schedule.persist() {
                tracing::warn!(error = %e, "persisting delayOffset.json failed");
            }
            last_flush = tokio::time::Instant::now();
        }
        tokio::select! {
            _ = b.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}
