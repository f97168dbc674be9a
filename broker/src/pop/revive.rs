//! Redelivery of messages whose invisible time is over. Normal groups: the message is copied
//! to the group's POP retry topic with `reconsumeTimes` = the attempt that failed (so the next
//! delivery is attempt + 1), or to `%DLQ%{group}` once `retryMaxTimes + 1` deliveries are
//! used up; the in-flight entry is resolved only after that put succeeded (a crash in between
//! means one more delivery, never a lost message). Orderly groups: entries stay where they are
//! and pollers are woken; the next pop redelivers them in place (see `PopService::pop`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mq_common::message::property::{DELAY, RETRY_TOPIC, TIMER_DELAY_SEC, TIMER_DELIVER_MS};
use mq_common::message::{MessageExtBrokerInner, RecordView};
use mq_common::protocol::body::{system_topics, PERM_READ, PERM_WRITE};
use mq_common::protocol::now_millis;

use super::journal::Record;
use super::retry_topic;
use crate::broker::Broker;
use crate::store::Put;

/// Expired entries handled per queue per round (the rest wait for the next round).
const PER_ROUND: usize = 1024;

/// Copy of a stored message for a redelivery topic.
fn copy_to(
    b: &Broker,
    rec: &Bytes,
    topic: String,
    reconsume: i32,
) -> Option<MessageExtBrokerInner> {
    let v = RecordView::parse(rec, false).ok()?;
    let mut m = MessageExtBrokerInner {
        topic,
        queue_id: 0,
        flag: v.flag,
        sys_flag: v.sys_flag,
        born_timestamp: v.born_timestamp,
        born_host: v.born_host,
        store_host: b.store_host,
        reconsume_times: reconsume,
        prepared_transaction_offset: 0,
        body: rec.slice_ref(v.body),
        properties: v.properties.to_string(),
        tags_code: 0,
    };
    if m.property(RETRY_TOPIC).is_none() {
        m.set_property(RETRY_TOPIC, v.topic);
    }
    // Redeliveries are due now: the invisible time was the delay.
    m.remove_property(DELAY);
    m.remove_property(TIMER_DELIVER_MS);
    m.remove_property(TIMER_DELAY_SEC);
    Some(m)
}

/// Put a message into `%DLQ%{group}`; true when stored.
pub fn to_dlq(b: &Broker, group: &str, rec: &Bytes, attempts: i32) -> bool {
    let dlq = system_topics::dlq_topic(group);
    b.topics.ensure(&dlq, 1, PERM_READ | PERM_WRITE);
    let Some(m) = copy_to(b, rec, dlq, attempts) else { return false };
    let ok = stored(b.store.put_message(m));
    if ok {
        tracing::info!(group, attempts, "message moved to the DLQ after its last delivery");
    }
    ok
}

fn to_retry(b: &Broker, group: &str, topic: &str, rec: &Bytes, attempt: i32) -> bool {
    let retry = retry_topic(group, topic);
    b.topics.ensure(&retry, 1, PERM_READ | PERM_WRITE);
    let Some(m) = copy_to(b, rec, retry, attempt) else { return false };
    stored(b.store.put_message(m))
}

/// Whether a redelivery copy was stored. Its durability ticket is forwarded, not awaited: this
/// runs under the queue's lock (on a runtime thread or inside a pop), and the in-flight entry
/// it resolves lives in the POP journal, which is synced at most once a second anyway. Under
/// SYNC_FLUSH the next group commit covers the copy; a failed fsync is logged (the store is
/// poisoned then and refuses later puts).
fn stored(put: Put) -> bool {
    let ok = put.result.status.is_stored();
    put.ticket.on_durable(Box::new(|r| {
        if let Err(e) = r {
            tracing::warn!(%e, "a POP redelivery copy may not be durable");
        }
    }));
    ok
}

/// One pass over every queue state.
pub fn revive_once(b: &Broker) {
    let now = now_millis();
    let mut journal = Vec::new();
    for st in b.pop.all() {
        let mut st = st.lock();
        if st.next_deadline().is_none_or(|d| d > now) {
            continue;
        }
        if st.fifo {
            // Redelivered in place by the next pop of this queue.
            let topic = st.topic.clone();
            b.pop.wake.wake(&topic);
            continue;
        }
        let max_attempts =
            b.groups.get(&st.group).map(|g| g.retry_max_times + 1).unwrap_or(17).max(1);
        // Messages popped from a retry topic keep retrying in that same retry topic.
        let origin_topic = match st.topic.strip_prefix(system_topics::RETRY_PREFIX) {
            Some(rest) => rest
                .strip_prefix(st.group.as_str())
                .and_then(|r| r.strip_prefix('_'))
                .unwrap_or(&st.topic)
                .to_string(),
            None => st.topic.clone(),
        };
        let mut resolved = Vec::new();
        for offset in st.expired(now, PER_ROUND) {
            let Some(e) = st.inflight.get(&offset).copied() else { continue };
            let moved = match b.store.look_message_by_offset(e.phy) {
                None => true, // gone with retention: nothing left to redeliver
                Some(rec) if e.attempt >= max_attempts => to_dlq(b, &st.group, &rec, e.attempt),
                Some(rec) => to_retry(b, &st.group, &origin_topic, &rec, e.attempt),
            };
            if moved {
                st.remove(offset);
                resolved.push(offset);
            } else {
                break; // store refuses writes: try again next round
            }
        }
        if !resolved.is_empty() {
            Record::Acks { id: st.id, offsets: resolved }.encode(&mut journal);
        }
        super::report(b, &mut st);
    }
    if !journal.is_empty() {
        let _ = b.pop.append(&journal);
    }
}

/// One renewal pass: the messages push consumers (`auto_renew` receives) hold stay invisible
/// while their gRPC session lives, with Apache's proxy defaults (renew what becomes visible
/// within 10 s by `defaultInvisibleTimeMills`, for at most 3 h; a message whose session ended
/// becomes visible after 1 s).
pub fn renew_once(b: &Broker) -> super::RenewStats {
    let policy = super::RenewPolicy {
        ahead_ms: 10_000,
        step_ms: b.cfg.default_invisible_time_mills as i64,
        max_ms: 3 * 3600 * 1000,
        released_ms: 1000,
    };
    let live = b.grpc.sessions.live_ids();
    b.pop.renew(now_millis(), policy, |owner| live.contains(&owner))
}

/// The background task: revive every `interval`; every second renew push consumers' messages
/// and sync the journal; compact it above 64 MiB.
pub async fn run(b: Arc<Broker>, interval: Duration) {
    let mut last_sync = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = b.shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
        if !b.ha.accepts_writes() {
            continue; // controller mode, while a replica or fenced
        }
        revive_once(&b);
        if last_sync.elapsed() >= Duration::from_secs(1) {
            renew_once(&b);
            b.pop.sync();
            b.pop.compact_if_above(64 << 20);
            last_sync = tokio::time::Instant::now();
        }
    }
    b.pop.sync();
}
