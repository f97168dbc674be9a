//! The in-memory timer wheel: for every occupied slot (a `timerPrecisionMs`-wide time range)
//! the index of its newest timer-log entry and how many entries it holds; the entries
//! themselves stay in the log, chained through their `prev` fields. No I/O here.
//!
//! Delivery walks the slots in time order. When the oldest slot's start has come, its list is
//! taken out of the wheel and becomes the *active* slot: its entries wait in a min-heap by
//! delivery time and leave one by one as their millisecond comes. A timer that arrives for a
//! time already reached (late enqueue, short delay) is clamped to the cursor, the active slot
//! or the earliest slot not yet started, so it is delivered at once and never lands behind the
//! cursor, where a restart would no longer look for it.
//!
//! The cursor is the start of the oldest slot that may still hold undelivered entries; `mark`
//! is the commit-log end when the cursor last moved. Every copy delivered for a slot at or
//! after the cursor was appended above `mark`: recovery looks for already-delivered copies
//! only there.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::log::NO_PREV;

/// A timer waiting in the active slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due {
    /// Delivery time, ms (first: the heap orders by it).
    pub deliver_ms: i64,
    /// Offset in the timer topic (second: equal times leave in send order).
    pub cq_offset: i64,
    /// Commit-log offset of the timer record.
    pub phy: i64,
    /// Its size.
    pub size: i32,
}

/// Newest entry and population of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotHead {
    /// Index of the newest timer-log entry of the slot.
    pub last: i64,
    /// Entries in the slot.
    pub count: u32,
}

/// Where a newly enqueued timer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Into the active slot's heap (its list was already taken).
    Active,
    /// Into the list of `slot`, after entry `prev`.
    Slot {
        /// Slot start, ms.
        slot: i64,
        /// Index of the previous entry of the slot, or [`NO_PREV`].
        prev: i64,
    },
}

/// The wheel (see the module docs).
#[derive(Debug)]
pub struct Wheel {
    precision: i64,
    heads: BTreeMap<i64, SlotHead>,
    cursor: i64,
    mark: i64,
    active: Option<i64>,
    due: BinaryHeap<Reverse<Due>>,
}

impl Wheel {
    /// An empty wheel with slots `precision` ms wide whose cursor starts at `cursor` (the
    /// checkpoint's read time, rounded down to a slot) and whose mark is `mark`.
    pub fn new(precision: i64, cursor: i64, mark: i64) -> Wheel {
        let precision = precision.max(1);
        Wheel {
            precision,
            heads: BTreeMap::new(),
            cursor: cursor.div_euclid(precision) * precision,
            mark,
            active: None,
            due: BinaryHeap::new(),
        }
    }

    /// Slot start of time `t`.
    pub fn slot_of(&self, t: i64) -> i64 {
        t.div_euclid(self.precision) * self.precision
    }

    /// Slot width, ms.
    pub fn precision(&self) -> i64 {
        self.precision
    }

    /// Start of the oldest slot that may hold undelivered entries.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Commit-log end when the cursor last moved.
    pub fn mark(&self) -> i64 {
        self.mark
    }

    /// The time a timer asking for `t` is delivered at: never before the cursor.
    pub fn effective_time(&self, t: i64) -> i64 {
        t.max(self.cursor)
    }

    /// Where a timer with effective time `t` (see [`Wheel::effective_time`]) goes; `overlay`
    /// holds list heads of the same batch not yet [`Wheel::commit`]ted.
    pub fn place(&self, t: i64, overlay: &BTreeMap<i64, SlotHead>) -> Placement {
        let slot = self.slot_of(t);
        if self.active == Some(slot) {
            return Placement::Active;
        }
        let prev = overlay.get(&slot).or_else(|| self.heads.get(&slot)).map_or(NO_PREV, |h| h.last);
        Placement::Slot { slot, prev }
    }

    /// Record that entry `idx` was appended to the list of `slot`.
    pub fn commit(&mut self, slot: i64, idx: i64) {
        let h = self.heads.entry(slot).or_insert(SlotHead { last: NO_PREV, count: 0 });
        h.last = idx;
        h.count += 1;
    }

    /// Add a timer to the active slot.
    pub fn push_active(&mut self, d: Due) {
        self.due.push(Reverse(d));
    }

    /// Entries in the slot starting at `slot` (flow control), including the active one.
    pub fn population(&self, slot: i64) -> i64 {
        if self.active == Some(slot) {
            return self.due.len() as i64;
        }
        self.heads.get(&slot).map_or(0, |h| h.count as i64)
    }

    /// Timers not yet delivered.
    pub fn pending(&self) -> u64 {
        self.due.len() as u64 + self.heads.values().map(|h| h.count as u64).sum::<u64>()
    }

    /// If no slot is active and the oldest slot has started by `now`, take its list out:
    /// it becomes the active slot, the cursor moves to it and `mark()` gives the mark.
    /// Returns the slot and its head.
    pub fn begin_due_slot(
        &mut self,
        now: i64,
        mark: impl FnOnce() -> i64,
    ) -> Option<(i64, SlotHead)> {
        if self.active.is_some() {
            return None;
        }
        let (&slot, _) = self.heads.iter().next().filter(|(s, _)| **s <= now)?;
        let head = self.heads.remove(&slot)?;
        self.move_cursor(slot, mark);
        self.active = Some(slot);
        Some((slot, head))
    }

    fn move_cursor(&mut self, to: i64, mark: impl FnOnce() -> i64) {
        if to > self.cursor {
            self.cursor = to;
            self.mark = mark();
        }
    }

    /// Up to `max` active timers due by `now`, earliest first.
    pub fn pop_due(&mut self, now: i64, max: usize) -> Vec<Due> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.due.peek() {
                Some(Reverse(d)) if d.deliver_ms <= now => {
                    out.push(self.due.pop().expect("peeked").0)
                }
                _ => break,
            }
        }
        out
    }

    /// Put back timers whose delivery failed for a passing reason.
    pub fn retry_later(&mut self, failed: impl IntoIterator<Item = Due>) {
        for d in failed {
            self.due.push(Reverse(d));
        }
    }

    /// Housekeeping at `now`: close the active slot once it is empty and its time range is
    /// over, and with no slot active let the cursor follow the clock up to the oldest waiting
    /// slot (so late timers clamp to the present, and the checkpoint's read time advances).
    pub fn tick(&mut self, now: i64, mark: impl FnOnce() -> i64) {
        if let Some(s) = self.active {
            if self.due.is_empty() && now >= s + self.precision {
                self.active = None;
            }
        }
        if self.active.is_none() {
            let oldest = self.heads.keys().next().copied().unwrap_or(i64::MAX);
            let to = oldest.min(self.slot_of(now));
            self.move_cursor(to, mark);
        }
    }

    /// When something next needs doing (ms), if anything is waiting.
    pub fn next_event(&self) -> Option<i64> {
        let due = self.due.peek().map(|Reverse(d)| d.deliver_ms);
        let close = self.active.map(|s| s + self.precision);
        let slot = self.heads.keys().next().copied();
        [due, close, slot].into_iter().flatten().min()
    }

    /// The active slot, if any.
    pub fn active(&self) -> Option<i64> {
        self.active
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn due(t: i64, q: i64) -> Due {
        Due { deliver_ms: t, cq_offset: q, phy: q * 10, size: 1 }
    }

    #[test]
    fn slots_chain_activate_and_close() {
        let mut w = Wheel::new(1000, 10_500, 0);
        assert_eq!(w.cursor(), 10_000);
        let none = BTreeMap::new();
        assert_eq!(w.place(12_300, &none), Placement::Slot { slot: 12_000, prev: NO_PREV });
        w.commit(12_000, 0);
        assert_eq!(w.place(12_999, &none), Placement::Slot { slot: 12_000, prev: 0 });
        w.commit(12_000, 1);
        assert_eq!(w.population(12_000), 2);
        assert_eq!(w.next_event(), Some(12_000));
        assert_eq!(w.begin_due_slot(11_999, || 1), None);
        let (slot, head) = w.begin_due_slot(12_000, || 77).unwrap();
        assert_eq!((slot, head), (12_000, SlotHead { last: 1, count: 2 }));
        assert_eq!((w.cursor(), w.mark()), (12_000, 77));
        // Late timers clamp to the cursor and join the active slot.
        assert_eq!(w.effective_time(5_000), 12_000);
        assert_eq!(w.place(w.effective_time(5_000), &none), Placement::Active);
        w.push_active(due(12_000, 9));
        w.push_active(due(12_500, 1));
        w.push_active(due(12_300, 0));
        assert_eq!(w.pop_due(12_400, 10), vec![due(12_000, 9), due(12_300, 0)]);
        w.tick(12_900, || 0);
        assert_eq!(w.active(), Some(12_000), "not empty yet");
        assert_eq!(w.pop_due(13_000, 10), vec![due(12_500, 1)]);
        w.tick(13_000, || 88);
        assert_eq!(w.active(), None);
        assert_eq!((w.cursor(), w.mark()), (13_000, 88), "the cursor follows the clock");
        w.tick(50_000, || 99);
        assert_eq!(w.cursor(), 50_000);
        assert_eq!(w.pending(), 0);
    }

    #[test]
    fn cursor_stops_at_the_oldest_waiting_slot() {
        let mut w = Wheel::new(100, 0, 0);
        w.commit(500, 0);
        w.tick(10_000, || 5);
        assert_eq!(w.cursor(), 500);
        assert!(w.begin_due_slot(10_000, || 6).is_some());
        assert_eq!(w.mark(), 5, "the cursor was already there");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(i64),
        Advance(i64),
    }

    proptest! {
        /// Against the model "each timer is delivered once, at the first moment the service
        /// looks (`step`) that is at or after both its time and its arrival", driving the wheel
        /// the way the service does (a vector stands in for the log).
        #[test]
        fn every_timer_once_never_early(ops in proptest::collection::vec(
            prop_oneof![(0i64..5_000).prop_map(Op::Add), (1i64..700).prop_map(Op::Advance)], 1..200))
        {
            let p = 200;
            let mut w = Wheel::new(p, 0, 0);
            let mut log: Vec<(i64, i64, i64)> = Vec::new(); // (time, prev, id)
            let mut now = 0i64;
            let mut asked: Vec<(i64, i64)> = Vec::new(); // (requested, arrival)
            let mut got: Vec<(i64, i64)> = Vec::new(); // (id, at)
            let mut steps: Vec<i64> = Vec::new();
            let mut step = |w: &mut Wheel, log: &Vec<(i64, i64, i64)>, now: i64, got: &mut Vec<(i64, i64)>| {
                steps.push(now);
                loop {
                    w.tick(now, || 0);
                    if let Some((_, head)) = w.begin_due_slot(now, || 0) {
                        let mut i = head.last;
                        let mut n = 0;
                        while i != NO_PREV {
                            let (t, prev, id) = log[i as usize];
                            w.push_active(Due { deliver_ms: t, cq_offset: id, phy: 0, size: 0 });
                            i = prev;
                            n += 1;
                        }
                        assert_eq!(n, head.count);
                    }
                    let d = w.pop_due(now, usize::MAX);
                    if d.is_empty() { break; }
                    got.extend(d.iter().map(|d| (d.cq_offset, now)));
                }
            };
            for op in ops {
                match op {
                    Op::Add(dt) => {
                        let id = asked.len() as i64;
                        asked.push((now + dt - 1_000, now));
                        let t = w.effective_time(now + dt - 1_000);
                        match w.place(t, &BTreeMap::new()) {
                            Placement::Active => w.push_active(Due { deliver_ms: t, cq_offset: id, phy: 0, size: 0 }),
                            Placement::Slot { slot, prev } => {
                                log.push((t, prev, id));
                                w.commit(slot, log.len() as i64 - 1);
                            }
                        }
                    }
                    Op::Advance(dt) => now += dt,
                }
                step(&mut w, &log, now, &mut got);
            }
            now += 10_000;
            step(&mut w, &log, now, &mut got);
            prop_assert_eq!(w.pending(), 0);
            let mut ids: Vec<i64> = got.iter().map(|g| g.0).collect();
            ids.sort();
            prop_assert_eq!(ids, (0..asked.len() as i64).collect::<Vec<_>>());
            for (id, at) in &got {
                let (req, arrival) = asked[*id as usize];
                let expected = steps.iter().copied().find(|s| *s >= req.max(arrival));
                prop_assert_eq!(Some(*at), expected, "timer {} asked {} arrived {}", id, req, arrival);
            }
        }
    }
}
