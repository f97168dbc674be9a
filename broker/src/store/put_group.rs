//! A put group: several puts (a connection's pipelined sends, or one put alone) appended
//! under **one** put-lock hold with as few commit-log writes as file ends allow (one `pwrite`
//! in pwrite mode), then dispatched in order.
//!
//! Each set of the group ([`PutSet`]: a message, or a SEND_BATCH) is checked, encoded and
//! answered on its own: a refused set (too big, full disk at reservation) does not fail the
//! others, and each stored one gets its own result and durability ticket. Consecutive sets of
//! one queue get consecutive queue offsets. A write error (disk full) fails the sets it and
//! every later write would have carried, so the queue offsets of the stored ones stay
//! gapless.

// The `Err` of the put path's helpers is the refused put itself: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use mq_common::message::property::DELAY;
use mq_common::message::{crc32_masked, encode_offset_msg_id, encode_record_into};
use mq_common::message::{sysflag, MessageExtBrokerInner};

use super::consume_queue::ConsumeQueue;
use super::dispatch::{Arrival, DispatchRequest, RecordProps};
use super::message_check;
use super::put_lock::WriteToken;
use super::types::{Put, PutMessageResult, PutMessageStatus};
use super::write::{PutEnv, WriteSide};

/// One put of a group, answered by one [`Put`].
#[derive(Debug)]
pub enum PutSet {
    /// A message (SEND_MESSAGE, SEND_MESSAGE_V2, and every internal put).
    One(MessageExtBrokerInner),
    /// A batch (SEND_BATCH): one topic and queue, plain and undelayed messages, kept in one
    /// commit-log file with consecutive queue offsets; the result carries every offsetMsgId.
    Batch(Vec<MessageExtBrokerInner>),
}

impl PutSet {
    fn msgs(&self) -> &[MessageExtBrokerInner] {
        match self {
            PutSet::One(m) => std::slice::from_ref(m),
            PutSet::Batch(v) => v,
        }
    }
}

/// One record of a group, checked: what encoding and dispatch read.
struct Rec<'a> {
    msg: &'a MessageExtBrokerInner,
    props: RecordProps<'a>,
    len: usize,
    crc: i32,
}

/// One set of a group, checked and looked up outside the lock.
struct Plan {
    /// its place in the group (and in the answers)
    idx: usize,
    /// its records in the group's `Rec`s
    recs: Range<usize>,
    /// bytes of all its records
    len: usize,
    /// every record waits for the store (`WAIT` not false)
    wait: bool,
    /// index keys of all its records
    keys: usize,
    /// its consume queue (`None`: PREPARED/ROLLBACK, not dispatched to a queue)
    cq: Option<Arc<ConsumeQueue>>,
    /// queue offset of its first record (assigned under the lock)
    q0: i64,
    /// a SEND_BATCH: msgId lists every record
    batch: bool,
}

impl WriteSide {
    /// Append several puts (a connection's pipelined sends) under **one** put-lock hold and
    /// dispatch them, in order: see `put_group.rs`. Returns one [`Put`] per set, in order;
    /// each is stored or refused on its own (one bad message does not fail the others).
    pub fn put_group(&self, env: &PutEnv<'_>, mut sets: Vec<PutSet>) -> Vec<Put> {
        let mut puts: Vec<Option<Put>> = (0..sets.len()).map(|_| None).collect();
        // Delayed messages are rewritten first (they change topic and queue); after that the
        // sets are only read, and their parsed properties borrow them.
        for set in &mut sets {
            if let PutSet::One(m) = set {
                // A cheap pre-filter: most messages carry no DELAY and need no extra walk.
                if m.properties.contains(DELAY) && RecordProps::parse(&m.properties).delay.is_some()
                {
                    message_check::apply_delay(m, env.dispatch.delay_levels());
                }
            }
        }
        let mut recs = Vec::with_capacity(sets.len());
        let mut plans = Vec::with_capacity(sets.len());
        for (i, set) in sets.iter().enumerate() {
            match self.plan(env, i, set, &mut recs) {
                Ok(p) => plans.push(p),
                Err(p) => puts[i] = Some(p),
            }
        }
        if !plans.is_empty() {
            self.write_group(env, &recs, &mut plans, &mut puts);
        }
        puts.into_iter()
            .map(|p| {
                p.unwrap_or_else(|| {
                    self.fail(PutMessageResult::failed(
                        PutMessageStatus::UnknownError,
                        "put not answered",
                    ))
                })
            })
            .collect()
    }

    /// Checks and lookups of one set, outside the lock: record lengths, body CRCs, parsed
    /// properties (appended to `recs`), and its consume queue ready for the next unit.
    fn plan<'a>(
        &self,
        env: &PutEnv<'_>,
        idx: usize,
        set: &'a PutSet,
        recs: &mut Vec<Rec<'a>>,
    ) -> Result<Plan, Put> {
        let msgs = set.msgs();
        let lens = match set {
            PutSet::One(m) => vec![self.checked_len(env, m)?],
            PutSet::Batch(v) => message_check::batch_lens(v, env.max_body, self.log.file_size())
                .map_err(|r| self.fail(r))?,
        };
        let first = &msgs[0];
        let dispatchable = sysflag::is_dispatchable(first.sys_flag);
        let cq = match dispatchable.then(|| self.ready_cq(env, &first.topic, first.queue_id)) {
            Some(c) => Some(c?),
            None => None,
        };
        let from = recs.len();
        let (mut wait, mut keys) = (true, 0);
        for (m, len) in msgs.iter().zip(lens) {
            let props = RecordProps::parse(&m.properties);
            wait &= props.waits_for_store();
            keys += props.index_keys();
            recs.push(Rec { msg: m, props, len, crc: crc32_masked(&m.body) });
        }
        let len = recs[from..].iter().map(|r| r.len).sum();
        Ok(Plan {
            idx,
            recs: from..recs.len(),
            len,
            wait,
            keys,
            cq,
            q0: 0,
            batch: matches!(set, PutSet::Batch(_)),
        })
    }

    /// Under one lock hold: assign queue offsets and reserve dispatch's disk blocks per set
    /// (a set refused here is answered and skipped), append the rest with as few writes as
    /// the file ends allow, then dispatch each record in order. Fills `puts` for every plan.
    fn write_group(
        &self,
        env: &PutEnv<'_>,
        recs: &[Rec<'_>],
        plans: &mut Vec<Plan>,
        puts: &mut [Option<Put>],
    ) {
        let t0 = Instant::now();
        let t = self.lock();
        let now = env.clock.now_ms();
        // Next queue offset of each queue this group writes (the queue itself advances only
        // at dispatch, after the append). Few queues per group: a linear scan is enough.
        let mut next: Vec<(Arc<ConsumeQueue>, i64)> = Vec::new();
        plans.retain_mut(|p| {
            let Some(c) = p.cq.take() else {
                // PREPARED/ROLLBACK records get queue offset 0 and do not advance the queue.
                return match self.reserve(&t, env, None, p) {
                    Ok(()) => true,
                    Err(put) => {
                        puts[p.idx] = Some(put);
                        false
                    }
                };
            };
            // The topic may have been deleted between the lookup and the lock (rare).
            let m = recs[p.recs.start].msg;
            let c = if c.is_destroyed() {
                env.dispatch.find_or_create_cq(&m.topic, m.queue_id)
            } else {
                c
            };
            let slot = next.iter().position(|(q, _)| Arc::ptr_eq(q, &c));
            p.q0 = slot.map_or_else(|| c.max_offset_in_queue(), |s| next[s].1);
            if let Err(put) = self.reserve(&t, env, Some(&c), p) {
                puts[p.idx] = Some(put);
                return false;
            }
            let after = p.q0 + p.recs.len() as i64;
            match slot {
                Some(s) => next[s].1 = after,
                None => next.push((c.clone(), after)),
            }
            p.cq = Some(c);
            true
        });
        let lens: Vec<usize> = plans.iter().map(|p| p.len).collect();
        let encode = |j: usize, phy: i64, dst: &mut [u8]| {
            let p = &plans[j];
            let mut at = 0usize;
            for (k, r) in recs[p.recs.clone()].iter().enumerate() {
                let f = r.msg.record_fields(r.crc, p.q0 + k as i64, phy + at as i64, now);
                // Cannot fail: the length was checked and the slice is exactly `r.len` bytes.
                let _ = encode_record_into(&mut dst[at..at + r.len], &f);
                at += r.len;
            }
        };
        let (appended, err) = self.log.append_sets(&t, &lens, encode);
        if let Some(e) = err {
            // The write that failed and every later one: nothing of them was published.
            let refused = self.out_of_space_or_error("commit-log append", e);
            let r = refused.result.clone();
            let mut unwritten = plans[appended.len()..].iter();
            if let Some(p) = unwritten.next() {
                puts[p.idx] = Some(refused);
            }
            for p in unwritten {
                puts[p.idx] = Some(self.fail(r.clone()));
            }
        }
        plans.truncate(appended.len());
        if let (Some(p), Some(&(phy, _))) = (plans.last(), appended.last()) {
            let last = recs[p.recs.clone()].iter().rev().skip(1).map(|r| r.len).sum::<usize>();
            self.note_last_record(&t, phy + last as i64, now);
        }
        let mut arrivals = Vec::with_capacity(recs.len());
        let dispatched: Vec<std::io::Result<()>> = plans
            .iter()
            .zip(&appended)
            .map(|(p, &(phy, _))| {
                self.dispatch_set(&t, env, &recs[p.recs.clone()], p, phy, now, &mut arrivals)
            })
            .collect();
        drop(t);
        env.dispatch.notify(&arrivals);
        let mut rolled = false;
        for ((p, &(phy, r)), d) in plans.iter().zip(&appended).zip(dispatched) {
            rolled |= r;
            puts[p.idx] = Some(match self.after_append(t0, phy, d) {
                Ok(()) => self.stored(env, &recs[p.recs.clone()], p, phy, now),
                Err(put) => put,
            });
        }
        self.roll_hint(rolled);
    }

    /// Under the lock: reserve the consume-queue units and index entries a set will need (a
    /// full disk refuses it here, before anything is written).
    fn reserve(
        &self,
        t: &WriteToken<'_>,
        env: &PutEnv<'_>,
        cq: Option<&Arc<ConsumeQueue>>,
        p: &Plan,
    ) -> Result<(), Put> {
        let units = if cq.is_some() { p.recs.len() } else { 0 };
        env.dispatch
            .reserve(t, cq.map(|c| (&**c, p.q0)), units, p.keys)
            .map_err(|e| self.out_of_space_or_error("reserving consume-queue/index space", e))
    }

    /// Dispatch the records of one appended set, collecting their arrivals.
    #[allow(clippy::too_many_arguments)]
    fn dispatch_set(
        &self,
        t: &WriteToken<'_>,
        env: &PutEnv<'_>,
        recs: &[Rec<'_>],
        p: &Plan,
        phy: i64,
        now: i64,
        arrivals: &mut Vec<Arrival>,
    ) -> std::io::Result<()> {
        let mut at = phy;
        for (k, r) in recs.iter().enumerate() {
            let d = DispatchRequest {
                topic: &r.msg.topic,
                queue_id: r.msg.queue_id,
                queue_offset: p.q0 + k as i64,
                phy_offset: at,
                size: r.len as i32,
                store_timestamp: now,
                sys_flag: r.msg.sys_flag,
                props: r.props,
            };
            at += r.len as i64;
            arrivals.extend(env.dispatch.dispatch(t, &d, p.cq.as_ref())?);
        }
        Ok(())
    }

    /// The answer of a stored set: its offsets, offsetMsgIds and durability ticket.
    fn stored(&self, env: &PutEnv<'_>, recs: &[Rec<'_>], p: &Plan, phy: i64, now: i64) -> Put {
        self.stats.total.fetch_add(recs.len() as u64, Ordering::Relaxed);
        self.stats.bytes.fetch_add(p.len as u64, Ordering::Relaxed);
        let first = recs[0].msg;
        let mut ids = Vec::with_capacity(recs.len());
        let mut at = phy;
        for r in recs {
            ids.push(encode_offset_msg_id(first.store_host, at));
            at += r.len as i64;
        }
        let msg_id = if p.batch { ids.join(",") } else { ids[0].clone() };
        let result = PutMessageResult {
            status: PutMessageStatus::PutOk,
            wrote_offset: phy,
            wrote_bytes: p.len as i32,
            msg_id,
            msg_ids: ids,
            queue_offset: p.q0,
            msg_num: recs.len() as i32,
            store_timestamp: now,
            topic: first.topic.clone(),
            queue_id: first.queue_id,
            remark: String::new(),
            wait_store: p.wait,
        };
        let ticket = env.flusher.ticket(p.wait, phy + p.len as i64);
        Put { result, ticket }
    }
}
