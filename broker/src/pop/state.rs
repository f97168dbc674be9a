//! One (group, topic, queue)'s POP state: the read cursor and the in-flight messages with
//! their invisible deadlines. The committed consumer offset is derived from it and never
//! passes an un-acked message: `min(in-flight offsets) or cursor`.

use std::collections::{BTreeMap, BTreeSet};

use super::journal::{EntryRec, Record};

/// A popped, un-acked message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Generation carried by the current receipt handle.
    pub gen: u64,
    /// Invisible until, ms.
    pub deadline: i64,
    /// Delivery attempt of the current delivery (1-based).
    pub attempt: i32,
    /// Commit-log offset.
    pub phy: i64,
}

/// The state of one queue for one group.
#[derive(Debug)]
pub struct QueueState {
    /// Journal id.
    pub id: u32,
    /// Group.
    pub group: String,
    /// Topic (a POP retry topic too).
    pub topic: String,
    /// Queue id.
    pub queue_id: i32,
    /// Next queue offset to read.
    pub cursor: i64,
    /// In-flight messages by queue offset.
    pub inflight: BTreeMap<i64, Entry>,
    /// (deadline, offset) of every in-flight message, for expiry scans.
    pub deadlines: BTreeSet<(i64, i64)>,
    /// Last offset handed to the offset table.
    pub reported: i64,
    /// The last pop was orderly (FIFO): expired messages stay here and are redelivered in place.
    pub fifo: bool,
}

impl QueueState {
    /// Empty state.
    pub fn new(id: u32, group: String, topic: String, queue_id: i32, cursor: i64) -> Self {
        QueueState {
            id,
            group,
            topic,
            queue_id,
            cursor,
            inflight: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            reported: -1,
            fifo: false,
        }
    }

    /// Offset below which everything is resolved.
    pub fn committed(&self) -> i64 {
        self.inflight.keys().next().copied().unwrap_or(self.cursor)
    }

    /// Put (or replace) an in-flight entry.
    pub fn set(&mut self, offset: i64, e: Entry) {
        if let Some(old) = self.inflight.insert(offset, e) {
            self.deadlines.remove(&(old.deadline, offset));
        }
        self.deadlines.insert((e.deadline, offset));
    }

    /// Remove an in-flight entry.
    pub fn remove(&mut self, offset: i64) -> Option<Entry> {
        let e = self.inflight.remove(&offset)?;
        self.deadlines.remove(&(e.deadline, offset));
        Some(e)
    }

    /// Earliest deadline of anything in flight.
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Offsets whose deadline is ≤ `now`, in deadline order.
    pub fn expired(&self, now: i64, limit: usize) -> Vec<i64> {
        self.deadlines.iter().take_while(|(d, _)| *d <= now).take(limit).map(|(_, o)| *o).collect()
    }

    /// True if something in flight is still invisible (an orderly queue is blocked).
    pub fn blocked(&self, now: i64) -> bool {
        self.deadlines.last().is_some_and(|(d, _)| *d > now)
    }

    /// Apply a replayed journal record.
    pub fn apply(&mut self, r: &Record) {
        match r {
            Record::Define { .. } => {}
            Record::Pop { cursor, entries, .. } => {
                self.cursor = self.cursor.max(*cursor);
                for e in entries {
                    self.set(e.offset, entry_of(e));
                }
            }
            Record::Ack { offset, .. } => {
                self.remove(*offset);
            }
            Record::Change { offset, gen, deadline, .. } => {
                if let Some(mut e) = self.inflight.get(offset).copied() {
                    e.gen = *gen;
                    e.deadline = *deadline;
                    self.set(*offset, e);
                }
            }
            Record::Reset { cursor, .. } => {
                self.inflight.clear();
                self.deadlines.clear();
                self.cursor = *cursor;
            }
        }
    }

    /// The records that recreate this state (snapshot).
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        Record::Define {
            id: self.id,
            group: self.group.clone(),
            topic: self.topic.clone(),
            queue_id: self.queue_id,
        }
        .encode(out);
        Record::Reset { id: self.id, cursor: self.cursor }.encode(out);
        let entries: Vec<EntryRec> = self
            .inflight
            .iter()
            .map(|(o, e)| EntryRec {
                offset: *o,
                gen: e.gen,
                deadline: e.deadline,
                attempt: e.attempt,
                phy: e.phy,
            })
            .collect();
        for chunk in entries.chunks(4096) {
            Record::Pop { id: self.id, cursor: self.cursor, entries: chunk.to_vec() }.encode(out);
        }
    }
}

/// In-memory entry of a journalled one.
pub fn entry_of(e: &EntryRec) -> Entry {
    Entry { gen: e.gen, deadline: e.deadline, attempt: e.attempt, phy: e.phy }
}
