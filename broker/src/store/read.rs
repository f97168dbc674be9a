//! The read side: messages by queue offset (pulls), by key and by commit-log offset, queue
//! offsets and times. Lock-free: it reads published bytes only (see `mapped_file.rs`).

use bytes::Bytes;
use mq_common::message::RecordView;

use super::commit_log::CommitLog;
use super::consume_queue::{ConsumeQueue, CqUnit, CQ_UNIT};
use super::dispatch::Dispatcher;
use super::types::{
    GetMessageResult, GetMessageStatus, QueryMessageResult, QueueStats, ReadFilter,
};

/// A view of the store for reading. `confirmed` limits what consumers get: records ending
/// beyond it (not yet acknowledged by replicas, see `replication.rs`) are not returned.
pub struct ReadSide<'a> {
    /// the commit log
    pub log: &'a CommitLog,
    /// consume queues and index
    pub dispatch: &'a Dispatcher,
    /// commit-log offset reads are limited to
    pub confirmed: i64,
}

impl ReadSide<'_> {
    /// Up to `max_msgs` messages / `max_bytes` bytes from (topic, queue) at logical `offset`
    /// (§2.4 statuses), filtered on tagsCode and then on the record ([`ReadFilter`]; records
    /// filtered out count as scanned, not returned). Scans at most `max(16000, max_msgs*20)`
    /// bytes of units, within one consume-queue file. Records are zero-copy slices of the
    /// commit-log mapping.
    pub fn get_message(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        (max_msgs, max_bytes): (usize, usize),
        filter: Option<&dyn ReadFilter>,
    ) -> GetMessageResult {
        use GetMessageStatus::*;
        let Some(cq) = self.dispatch.find_cq(topic, queue_id) else {
            return GetMessageResult::empty(NoMatchedLogicQueue, 0, 0, 0);
        };
        let (min, max) = (cq.min_offset_in_queue(), cq.max_offset_in_queue());
        let early = match offset {
            _ if max == 0 => Some(GetMessageResult::empty(NoMessageInQueue, 0, min, max)),
            o if o < min => Some(GetMessageResult::empty(OffsetTooSmall, min, min, max)),
            o if o == max => Some(GetMessageResult::empty(OffsetOverflowOne, o, min, max)),
            o if o > max => Some(GetMessageResult::empty(OffsetOverflowBadly, max, min, max)),
            _ => None,
        };
        if let Some(r) = early {
            return r;
        }
        let max_units = (16000usize.max(max_msgs.saturating_mul(20))) / CQ_UNIT;
        let Some(units) = cq.units_from(offset, max_units) else {
            return GetMessageResult::empty(OffsetFoundNull, cq.roll_next_file(offset), min, max);
        };
        self.collect(&units, offset, (min, max), (max_msgs, max_bytes), filter)
    }

    fn collect(
        &self,
        units: &[CqUnit],
        offset: i64,
        (min, max): (i64, i64),
        (max_msgs, max_bytes): (usize, usize),
        filter: Option<&dyn ReadFilter>,
    ) -> GetMessageResult {
        use GetMessageStatus::*;
        let cl_min = self.log.min_offset();
        let mut r = GetMessageResult::empty(NoMatchedMessage, offset, min, max);
        let (mut scanned, mut filtered, mut removed) = (0i64, 0usize, 0usize);
        for u in units {
            if r.msg_count >= max_msgs
                || (r.msg_count > 0 && r.total_bytes + u.size.max(0) as usize > max_bytes)
            {
                break;
            }
            if !u.is_blank() && u.phy_offset + u.size as i64 > self.confirmed {
                // Not confirmed by the replicas yet: the consumer sees the queue end here.
                if scanned == 0 {
                    return GetMessageResult::empty(OffsetOverflowOne, offset, min, max);
                }
                break;
            }
            scanned += 1;
            if u.is_blank() {
                continue;
            }
            if u.phy_offset < cl_min {
                removed += 1;
                continue;
            }
            if filter.is_some_and(|f| !f.by_tags_code(u.tags_code)) {
                filtered += 1;
                continue;
            }
            match self.log.get_data(u.phy_offset, u.size as usize) {
                // SQL92 property filters look at the record itself; filtered out counts as scanned.
                Some(b) if filter.is_some_and(|f| !f.by_record(&b)) => filtered += 1,
                Some(b) => {
                    r.total_bytes += b.len();
                    r.messages.push(b);
                    r.queue_offsets.push(offset + scanned - 1);
                    r.msg_count += 1;
                }
                None => removed += 1,
            }
        }
        r.next_begin_offset = offset + scanned;
        r.status = if r.msg_count > 0 {
            Found
        } else if filtered > 0 || removed == 0 {
            NoMatchedMessage
        } else {
            MessageWasRemoving
        };
        r
    }

    /// Store timestamp of the message at logical `offset`, if present.
    pub fn store_timestamp(&self, cq: &ConsumeQueue, offset: i64) -> Option<i64> {
        let u = cq.get_unit(offset)?;
        if u.is_blank() {
            return None;
        }
        self.log.store_timestamp_at(u.phy_offset)
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP (4.9 semantics): binary search on store timestamps; an exact
    /// match wins (the first one), else the neighbour closer in time; all older → the last
    /// message's offset, all newer → the first; 0 if the queue is empty or unknown.
    pub fn offset_by_time(&self, topic: &str, queue_id: i32, ts: i64) -> i64 {
        let Some(cq) = self.dispatch.find_cq(topic, queue_id) else {
            return 0;
        };
        let (min, max) = (cq.min_offset_in_queue(), cq.max_offset_in_queue());
        if max <= min {
            return 0;
        }
        let time_at = |i: i64| self.store_timestamp(&cq, i);
        // First index with time >= ts (unknown timestamps count as older).
        let (mut lo, mut hi) = (min, max);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match time_at(mid) {
                Some(t) if t >= ts => hi = mid,
                _ => lo = mid + 1,
            }
        }
        if lo == max {
            return max - 1;
        }
        let right = time_at(lo).unwrap_or(i64::MAX);
        if right == ts || lo == min {
            return lo;
        }
        match time_at(lo - 1) {
            Some(left) if ts - left <= right - ts => lo - 1,
            _ => lo,
        }
    }

    /// Store time of the oldest message still in the queue.
    pub fn earliest_time(&self, topic: &str, queue_id: i32) -> Option<i64> {
        let cq = self.dispatch.find_cq(topic, queue_id)?;
        (cq.min_offset_in_queue()..cq.max_offset_in_queue())
            .find_map(|i| self.store_timestamp(&cq, i))
    }

    /// One raw record by commit-log offset (VIEW_MESSAGE_BY_ID).
    pub fn record_at(&self, phy_offset: i64) -> Option<Bytes> {
        let b = self.log.read_record(phy_offset)?;
        RecordView::parse(&b, false).ok()?;
        Some(b)
    }

    /// Query by key (or UNIQ_KEY) within `[begin_ts, end_ts]` through the index files.
    pub fn query(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        span: (i64, i64),
    ) -> QueryMessageResult {
        let (offs, last_ts, last_phy) =
            self.dispatch.index().query(topic, key, max.max(1), span.0, span.1);
        let mut r = QueryMessageResult {
            index_last_update_timestamp: last_ts,
            index_last_update_phyoffset: last_phy,
            ..Default::default()
        };
        let mut seen = std::collections::HashSet::new();
        for o in offs {
            // An offset can be indexed twice (a truncated log rewritten with the same record).
            if !seen.insert(o) {
                continue;
            }
            if let Some(b) = self.record_at(o) {
                r.messages.push(b);
                r.phy_offsets.push(o);
            }
        }
        r
    }

    /// Per-queue min/max offsets and last update time (GET_TOPIC_STATS_INFO).
    pub fn queue_stats(&self, topic: &str) -> Vec<QueueStats> {
        let mut v: Vec<QueueStats> = self
            .dispatch
            .topic_cqs(topic)
            .iter()
            .map(|cq| {
                let max = cq.max_offset_in_queue();
                QueueStats {
                    queue_id: cq.queue_id(),
                    min_offset: cq.min_offset_in_queue(),
                    max_offset: max,
                    last_update_timestamp: self.store_timestamp(cq, max - 1).unwrap_or(0),
                }
            })
            .collect();
        v.sort_by_key(|s| s.queue_id);
        v
    }
}
