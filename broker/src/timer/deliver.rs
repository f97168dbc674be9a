//! The delivered copy of a timer message, and how recovery recognises one.
//!
//! Like Java's `TimerMessageStore.convert`/`convertMessage`: same body, flag, sysFlag, born and
//! store host, born time and reconsume times; topic and queue restored from `REAL_TOPIC` /
//! `REAL_QID` (both removed); `TIMER_ENQUEUE_MS` / `TIMER_DEQUEUE_MS` added; `WAIT=false`; every
//! other property kept (the request's `TIMER_*`, and `TIMER_OUT_MS`, which stops the copy from
//! being timed again if it is re-sent).
//!
//! One difference, invisible in the properties: the copy's PREPARED TRANSACTION OFFSET field
//! holds the commit-log offset of the timer record it came from (Java leaves 0 there; the field
//! means nothing outside transactions). Because a copy and that link are appended in one record,
//! recovery after a crash can tell exactly which timers were already delivered.

use bytes::Bytes;
use mq_common::message::property::{
    self, REAL_QID, REAL_TOPIC, TIMER_DEQUEUE_MS, TIMER_ENQUEUE_MS, WAIT,
};
use mq_common::message::{MessageExtBrokerInner, RecordView};
use mq_common::protocol::body::system_topics::WHEEL_TIMER_TOPIC;

/// The copy to append for the timer record `v` (the bytes `rec`, at commit-log offset `phy`),
/// delivered at `now`. `Err` names what makes the record undeliverable.
pub fn delivered_copy(
    rec: &Bytes,
    v: &RecordView<'_>,
    phy: i64,
    now: i64,
) -> Result<MessageExtBrokerInner, &'static str> {
    let [topic, qid] = property::get_properties(v.properties, [REAL_TOPIC, REAL_QID]);
    let topic = topic.filter(|t| !t.is_empty()).ok_or("no REAL_TOPIC")?;
    let queue_id = qid.and_then(|q| q.parse().ok()).ok_or("no valid REAL_QID")?;
    let mut props = String::with_capacity(v.properties.len() + 64);
    for (k, val) in property::iter_properties(v.properties) {
        if ![REAL_TOPIC, REAL_QID, WAIT, TIMER_ENQUEUE_MS, TIMER_DEQUEUE_MS].contains(&k) {
            property::append_property(&mut props, k, val);
        }
    }
    // Java stamps the time the timer log took the message; ours is within milliseconds of the
    // timer record's store time, which is what we keep.
    property::append_property(&mut props, TIMER_ENQUEUE_MS, &v.store_timestamp.to_string());
    property::append_property(&mut props, TIMER_DEQUEUE_MS, &now.to_string());
    property::append_property(&mut props, WAIT, "false");
    Ok(MessageExtBrokerInner {
        topic: topic.to_owned(),
        queue_id,
        flag: v.flag,
        sys_flag: v.sys_flag,
        born_timestamp: v.born_timestamp,
        born_host: v.born_host,
        store_host: v.store_host,
        reconsume_times: v.reconsume_times,
        prepared_transaction_offset: phy,
        body: rec.slice_ref(v.body),
        properties: props,
        tags_code: 0,
    })
}

/// A delivered copy found in the commit log: the timer record it came from and what must match
/// for it to count (body CRC and born time are copied unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOf {
    /// Commit-log offset of the timer record.
    pub source_phy: i64,
    /// The copy's BODYCRC.
    pub body_crc: i32,
    /// The copy's BORNTIMESTAMP.
    pub born_timestamp: i64,
}

/// If `v` is a delivered timer copy, what it is a copy of.
pub fn copy_of(v: &RecordView<'_>) -> Option<CopyOf> {
    (v.topic != WHEEL_TIMER_TOPIC
        && v.prepared_transaction_offset >= 0
        && v.property(TIMER_DEQUEUE_MS).is_some())
    .then_some(CopyOf {
        source_phy: v.prepared_transaction_offset,
        body_crc: v.body_crc,
        born_timestamp: v.born_timestamp,
    })
}

impl CopyOf {
    /// Whether this copy was made from the timer record `source`.
    pub fn matches(&self, source: &RecordView<'_>) -> bool {
        self.body_crc == source.body_crc && self.born_timestamp == source.born_timestamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::message::property::{TAGS, TIMER_DELAY_SEC, TIMER_OUT_MS};
    use mq_common::message::{crc32_masked, encode_properties, encode_record, RecordFields};

    fn record(topic: &str, props: &str, prepared: i64) -> Bytes {
        let body = b"hello";
        let host = "127.0.0.1:10911".parse().unwrap();
        Bytes::from(
            encode_record(&RecordFields {
                queue_id: 0,
                flag: 7,
                queue_offset: 3,
                physical_offset: 4096,
                sys_flag: 0,
                born_timestamp: 111,
                born_host: host,
                store_timestamp: 222,
                store_host: host,
                reconsume_times: 2,
                prepared_transaction_offset: prepared,
                body,
                body_crc: crc32_masked(body),
                topic,
                properties: props,
            })
            .unwrap(),
        )
    }

    #[test]
    fn copy_restores_topic_and_links_back() {
        let props = encode_properties([
            (TAGS, "a"),
            (TIMER_DELAY_SEC, "5"),
            (TIMER_OUT_MS, "1000"),
            (REAL_TOPIC, "Orders"),
            (REAL_QID, "2"),
            (WAIT, "true"),
        ]);
        let rec = record(WHEEL_TIMER_TOPIC, &props, 0);
        let v = RecordView::parse(&rec, true).unwrap();
        let m = delivered_copy(&rec, &v, 4096, 999).unwrap();
        assert_eq!((m.topic.as_str(), m.queue_id, m.flag, m.reconsume_times), ("Orders", 2, 7, 2));
        assert_eq!(m.body.as_ref(), b"hello");
        assert_eq!(m.prepared_transaction_offset, 4096);
        assert_eq!(m.property(REAL_TOPIC), None);
        assert_eq!(m.property(REAL_QID), None);
        assert_eq!(m.property(TAGS), Some("a"));
        assert_eq!(m.property(TIMER_DELAY_SEC), Some("5"));
        assert_eq!(m.property(TIMER_OUT_MS), Some("1000"));
        assert_eq!(m.property(TIMER_ENQUEUE_MS), Some("222"));
        assert_eq!(m.property(TIMER_DEQUEUE_MS), Some("999"));
        assert_eq!(m.property(WAIT), Some("false"));
        // Stored, the copy is recognised and matches its source.
        let stored = record("Orders", &m.properties, m.prepared_transaction_offset);
        let sv = RecordView::parse(&stored, true).unwrap();
        let c = copy_of(&sv).unwrap();
        assert_eq!(c.source_phy, 4096);
        assert!(c.matches(&v));
        // Neither the timer record nor an ordinary message is a copy.
        assert_eq!(copy_of(&v), None);
        let plain = record("Orders", &encode_properties([(TAGS, "a")]), 0);
        assert_eq!(copy_of(&RecordView::parse(&plain, true).unwrap()), None);
    }

    #[test]
    fn undeliverable_records_are_named() {
        let rec = record(WHEEL_TIMER_TOPIC, &encode_properties([(TAGS, "a")]), 0);
        let v = RecordView::parse(&rec, true).unwrap();
        assert_eq!(delivered_copy(&rec, &v, 0, 0).unwrap_err(), "no REAL_TOPIC");
        let rec = record(WHEEL_TIMER_TOPIC, &encode_properties([(REAL_TOPIC, "T")]), 0);
        let v = RecordView::parse(&rec, true).unwrap();
        assert_eq!(delivered_copy(&rec, &v, 0, 0).unwrap_err(), "no valid REAL_QID");
    }
}
