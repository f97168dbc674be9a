//! One (group, topic, queue)'s POP state: the read cursor and the in-flight messages with
//! their invisible deadlines. The committed consumer offset is derived from it and never
//! passes an un-acked message: `min(in-flight offsets) or cursor`.

use std::collections::{BTreeMap, BTreeSet};

use super::journal::{EntryRec, Record};

/// A popped, un-acked message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Check-point offset: the first queue offset the pop that delivered it handed out from
    /// this queue. The first field of its receipt handle (Java's client rebuilds handles and
    /// batch acks from it: a batch ack names offsets as bits above it).
    pub ck: i64,
    /// The deadline its current receipt handle names (pop or change time + invisible time):
    /// a handle is valid only while it names this deadline and `ck`.
    pub handle_deadline: i64,
    /// Invisible until, ms: the handle's deadline, or later while the broker renews it.
    pub deadline: i64,
    /// Delivery attempt of the current delivery (1-based).
    pub attempt: i32,
    /// Commit-log offset.
    pub phy: i64,
    /// gRPC session that renews it (push consumers' `auto_renew` receives); 0 = none. Not
    /// journalled: after a restart the message comes back at its last deadline.
    pub owner: u64,
}

impl Entry {
    /// A new delivery (handle deadline = deadline).
    pub fn delivered(ck: i64, deadline: i64, attempt: i32, phy: i64, owner: u64) -> Entry {
        Entry { ck, handle_deadline: deadline, deadline, attempt, phy, owner }
    }
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
    /// In-flight entries with an owner (renewed by the broker).
    pub renewing: usize,
    /// Last offset handed to the offset table.
    pub reported: i64,
    /// The last pop was orderly (FIFO): expired messages stay here and are redelivered in place.
    pub fifo: bool,
    /// `attempt_id` of the orderly pop that delivered what is in flight (a retried receive with
    /// the same id gets those messages again instead of waiting for them to expire).
    pub attempt_id: Option<Box<str>>,
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
            renewing: 0,
            reported: -1,
            fifo: false,
            attempt_id: None,
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
            self.renewing -= usize::from(old.owner != 0);
        }
        self.deadlines.insert((e.deadline, offset));
        self.renewing += usize::from(e.owner != 0);
    }

    /// Remove an in-flight entry.
    pub fn remove(&mut self, offset: i64) -> Option<Entry> {
        let e = self.inflight.remove(&offset)?;
        self.deadlines.remove(&(e.deadline, offset));
        self.renewing -= usize::from(e.owner != 0);
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

    /// Offsets of owned (renewed) entries whose deadline is ≤ `until`.
    pub fn owned_due(&self, until: i64) -> Vec<i64> {
        if self.renewing == 0 {
            return Vec::new();
        }
        self.deadlines
            .iter()
            .take_while(|(d, _)| *d <= until)
            .map(|(_, o)| *o)
            .filter(|o| self.inflight.get(o).is_some_and(|e| e.owner != 0))
            .collect()
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
            Record::Acks { offsets, .. } => {
                for o in offsets {
                    self.remove(*o);
                }
            }
            Record::Change { offset, ck, deadline, .. } => {
                if let Some(e) = self.inflight.get(offset).copied() {
                    let e = Entry { ck: *ck, handle_deadline: *deadline, deadline: *deadline, ..e };
                    self.set(*offset, Entry { owner: 0, ..e });
                }
            }
            Record::Renew { offset, deadline, .. } => {
                if let Some(e) = self.inflight.get(offset).copied() {
                    self.set(*offset, Entry { deadline: *deadline, ..e });
                }
            }
            Record::Reset { cursor, .. } => {
                self.inflight.clear();
                self.deadlines.clear();
                self.renewing = 0;
                self.attempt_id = None;
                self.cursor = *cursor;
            }
        }
    }

    /// The records that recreate this state (snapshot); the in-flight entries go in compact
    /// [`Record::Pop`]s, a few bytes each.
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        Record::Define {
            id: self.id,
            group: self.group.clone(),
            topic: self.topic.clone(),
            queue_id: self.queue_id,
        }
        .encode(out);
        Record::Reset { id: self.id, cursor: self.cursor }.encode(out);
        let entries: Vec<EntryRec> = self.inflight.iter().map(|(o, e)| rec_of(*o, e)).collect();
        for chunk in entries.chunks(4096) {
            Record::Pop { id: self.id, cursor: self.cursor, entries: chunk.to_vec() }.encode(out);
        }
        for (o, e) in self.inflight.iter().filter(|(_, e)| e.deadline != e.handle_deadline) {
            Record::Renew { id: self.id, offset: *o, deadline: e.deadline }.encode(out);
        }
    }
}

/// The journal form of an in-flight entry (its handle's deadline; a renewal is a separate
/// [`Record::Renew`]).
pub fn rec_of(offset: i64, e: &Entry) -> EntryRec {
    EntryRec { offset, ck: e.ck, deadline: e.handle_deadline, attempt: e.attempt, phy: e.phy }
}

/// In-memory entry of a journalled one.
pub fn entry_of(e: &EntryRec) -> Entry {
    Entry::delivered(e.ck, e.deadline, e.attempt, e.phy, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_moves_the_deadline_not_the_handle_and_survives_a_snapshot() {
        let mut st = QueueState::new(1, "G".into(), "T".into(), 0, 0);
        st.apply(&Record::Pop {
            id: 1,
            cursor: 3,
            entries: vec![
                EntryRec { offset: 1, ck: 1, deadline: 100, attempt: 1, phy: 10 },
                EntryRec { offset: 2, ck: 1, deadline: 100, attempt: 1, phy: 20 },
            ],
        });
        st.apply(&Record::Renew { id: 1, offset: 2, deadline: 500 });
        let e = st.inflight[&2];
        assert_eq!((e.handle_deadline, e.deadline), (100, 500));
        assert_eq!(st.expired(200, 10), vec![1]);
        let mut buf = Vec::new();
        st.snapshot(&mut buf);
        let mut back = QueueState::new(1, "G".into(), "T".into(), 0, 0);
        for r in Record::decode_all(&buf) {
            back.apply(&r);
        }
        assert_eq!(back.inflight, st.inflight);
        assert_eq!(back.cursor, 3);
        // A change issues a new handle: both deadlines move.
        back.apply(&Record::Change { id: 1, offset: 2, ck: 2, deadline: 900 });
        let e = back.inflight[&2];
        assert_eq!((e.ck, e.handle_deadline, e.deadline), (2, 900, 900));
    }

    #[test]
    fn acks_remove_each_offset_and_snapshots_are_compact() {
        let mut st = QueueState::new(1, "G".into(), "T".into(), 0, 0);
        let d = 1_700_000_000_000;
        st.apply(&Record::Pop {
            id: 1,
            cursor: 1000,
            entries: (0..1000)
                .map(|o| EntryRec {
                    offset: o,
                    ck: o - o % 32,
                    deadline: d,
                    attempt: 1,
                    phy: o * 900,
                })
                .collect(),
        });
        // Unsorted, a duplicate, one not in flight.
        st.apply(&Record::Acks { id: 1, offsets: vec![5, 3, 5, 4000, 999] });
        assert_eq!(st.inflight.len(), 997);
        assert!(![3, 5, 999].iter().any(|o| st.inflight.contains_key(o)));
        let mut buf = Vec::new();
        st.snapshot(&mut buf);
        // Define + Reset + ~6 bytes per entry (fixed width: 36).
        assert!(buf.len() < 10 * 997, "{} bytes", buf.len());
        let mut back = QueueState::new(1, "G".into(), "T".into(), 0, 0);
        for r in Record::decode_all(&buf) {
            back.apply(&r);
        }
        assert_eq!((back.cursor, &back.inflight), (1000, &st.inflight));
    }

    #[test]
    fn owners_are_counted() {
        let mut st = QueueState::new(1, "G".into(), "T".into(), 0, 0);
        st.set(5, Entry::delivered(5, 100, 1, 0, 7));
        st.set(6, Entry::delivered(5, 100, 1, 0, 0));
        assert_eq!(st.renewing, 1);
        assert_eq!(st.owned_due(100), vec![5]);
        st.set(5, Entry { owner: 0, ..st.inflight[&5] });
        assert_eq!(st.renewing, 0);
        assert!(st.owned_due(100).is_empty());
        st.set(6, Entry { owner: 3, ..st.inflight[&6] });
        st.remove(6);
        assert_eq!(st.renewing, 0);
    }
}
