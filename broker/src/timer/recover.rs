//! Rebuilding the timer after a restart (clean or not) from the checkpoint, the timer log and
//! the commit log. The commit log is the truth: a timer record there is owed one delivery; a
//! copy there (see [`super::deliver`]) is that delivery.
//!
//! 1. Trust the timer log up to the checkpoint's `logEnd` (fsynced before the checkpoint was
//!    written); drop anything after it and anything from a damaged entry on. Entries past the
//!    cut are re-derived from `rmq_sys_wheel_timer`, starting at the next queue offset.
//! 2. If the store lost timer records (a torn commit-log tail), drop their entries too.
//! 3. Relink every entry due at or after the checkpoint's read time into its slot's list: the
//!    wheel again holds exactly the timers not yet known to be delivered.
//! 4. Scan the commit log from the checkpoint's `deliveredPhy` for copies: those timers were
//!    delivered before the crash and are skipped when their turn comes.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::time::Instant;

use mq_common::message::record::read_i32;
use mq_common::message::{RecordView, BLANK_MAGIC_CODE};
use mq_common::protocol::body::system_topics::WHEEL_TIMER_TOPIC;

use super::checkpoint::TimerCheckpoint;
use super::deliver::{copy_of, CopyOf};
use super::log::TimerLog;
use super::wheel::{Placement, Wheel};
use crate::store::MessageStore;

/// The state the service starts from.
pub(super) struct Recovered {
    pub wheel: Wheel,
    pub enqueue_offset: i64,
    /// Copies found above the checkpoint's `deliveredPhy`, by timer-record offset.
    pub copies: HashMap<i64, CopyOf>,
    /// What the checkpoint on disk says after the cuts (the service's last written state).
    pub checkpoint: TimerCheckpoint,
}

/// Rebuild (see the module docs).
pub(super) fn recover(
    precision_ms: i64,
    store: &MessageStore,
    log: &TimerLog,
    ck: Option<TimerCheckpoint>,
) -> io::Result<Recovered> {
    let t0 = Instant::now();
    let fresh = ck.is_none();
    let mut ck = ck.unwrap_or_default();
    ck.precision_ms = precision_ms;
    let first = log.first();
    let mut end = ck.log_end.min(log.end());
    if end < ck.log_end {
        tracing::error!(
            checkpoint = ck.log_end,
            log = end,
            "timer log is shorter than its checkpoint says"
        );
    }
    let mut last_cq = None;
    if let Some(bad) = log.scan(first, end, |_, e| last_cq = Some(e.cq_offset))? {
        tracing::error!(entry = bad, "damaged timer-log entry: cutting the log there and re-reading the timer topic from the entry before it");
        end = bad;
    }
    if end < ck.log_end || fresh {
        // Entries past the cut are re-derived from the queue, from after the last one kept
        // (no checkpoint and no log: a rebuild, from the queue's first retained record).
        ck.enqueue_offset = match last_cq {
            Some(q) => q + 1,
            None => store.get_min_offset_in_queue(WHEEL_TIMER_TOPIC, 0),
        };
    }
    let cq_max = store.get_max_offset_in_queue(WHEEL_TIMER_TOPIC, 0);
    if ck.enqueue_offset > cq_max {
        tracing::warn!(
            enqueue_offset = ck.enqueue_offset,
            queue_max = cq_max,
            "timer records were lost with the commit log's tail; dropping their entries"
        );
        let mut cut = None;
        log.scan(first, end, |i, e| {
            if cut.is_none() && e.cq_offset >= cq_max {
                cut = Some(i);
            }
        })?;
        end = cut.unwrap_or(end);
        ck.enqueue_offset = cq_max;
    }
    log.truncate(end)?;
    ck.log_end = end;

    let mut wheel = Wheel::new(precision_ms, ck.read_time_ms, ck.delivered_phy);
    let mut relink = Vec::new();
    let none = BTreeMap::new();
    log.scan(first, end, |idx, e| {
        if e.deliver_ms < ck.read_time_ms {
            return;
        }
        let Placement::Slot { slot, prev } = wheel.place(e.deliver_ms, &none) else {
            unreachable!("no slot is active during recovery")
        };
        if e.prev != prev {
            relink.push((idx, prev));
        }
        wheel.commit(slot, idx as i64);
    })?;
    // Not fsynced: every recovery relinks again, so a lost rewrite is harmless.
    for (idx, prev) in &relink {
        log.set_prev(*idx, *prev)?;
    }
    let mut copies = HashMap::new();
    let mut scanned = 0;
    if wheel.pending() > 0 || ck.enqueue_offset < cq_max {
        scanned = scan_commit_log(store, ck.delivered_phy, |v| {
            if let Some(c) = copy_of(v) {
                copies.insert(c.source_phy, c);
            }
        });
    }
    tracing::info!(
        pending = wheel.pending(),
        relinked = relink.len(),
        enqueue_offset = ck.enqueue_offset,
        queue_max = cq_max,
        read_time_ms = ck.read_time_ms,
        commit_log_bytes_scanned = scanned,
        copies_found = copies.len(),
        elapsed_ms = t0.elapsed().as_millis() as u64,
        "timer recovered"
    );
    Ok(Recovered { wheel, enqueue_offset: ck.enqueue_offset, copies, checkpoint: ck })
}

/// Visit every record of the commit log from `from` to its end; returns the bytes covered.
fn scan_commit_log(store: &MessageStore, from: i64, mut f: impl FnMut(&RecordView<'_>)) -> i64 {
    let file_size = store.config().mapped_file_size_commit_log as i64;
    let start = from.max(store.get_min_phy_offset());
    let end = store.get_max_phy_offset();
    let mut off = start;
    while off < end {
        let next_file = (off / file_size + 1) * file_size;
        let Some(data) = store.read_raw(off, (next_file - off) as usize).filter(|d| !d.is_empty())
        else {
            off = next_file;
            continue;
        };
        let mut pos = 0usize;
        while pos + 8 <= data.len() {
            let size = read_i32(&data, pos).unwrap_or(0);
            let magic = read_i32(&data, pos + 4).unwrap_or(0);
            if magic == BLANK_MAGIC_CODE || size <= 0 || pos + size as usize > data.len() {
                break;
            }
            if let Ok(v) = RecordView::parse(&data[pos..pos + size as usize], false) {
                f(&v);
            }
            pos += size as usize;
        }
        off = if pos == data.len() { off + pos as i64 } else { next_file };
    }
    end - start
}
