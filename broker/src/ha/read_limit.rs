//! Controller mode: what consumers of a master may read. A message is readable once every
//! other member of the in-sync set holds it (Java dispatches to consume queues only up to the
//! commit log's confirm offset, `readUnCommitted=false`). Without this a consumer could get a
//! message from a master that dies before any replica has it; the new master then stores a
//! different message at that queue offset, and the consumer has seen something the group
//! never kept (found by the history checker's controller-mode schedule).
//!
//! The limit is the store's confirmed offset ([`MessageStore::set_confirmed_offset`]):
//! unlimited while the master is alone in the set (nobody else has to hold anything, as for
//! acknowledgements); otherwise the lowest offset the other members acknowledged, never below
//! what this master held when it took over (its log is the group's from then on) or when it
//! stopped being alone (those messages were already readable).
//!
//! A replica reads up to its master's limit, sent in the HA stream (`wire::CONFIRM`): its log
//! may hold what the master has not confirmed, and a master that dies before confirming is
//! replaced by one that stores other messages there (the history checker's schedule saw a
//! replica, and a deposed master before it truncated, deliver such messages). A broker starts
//! reading nothing as a replica until its master says; a deposed master keeps the limit it had
//! as master (what every in-sync member, hence its successor, holds).
//!
//! [`MessageStore::set_confirmed_offset`]: crate::store::MessageStore::set_confirmed_offset

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use tokio::sync::Notify;

use super::HaService;
use crate::config::BrokerRole;

/// The master's read-limit state.
pub(super) struct ReadLimit {
    /// Never limit below this: the log end at promotion, or when the set stopped being this
    /// master alone.
    floor: AtomicI64,
    /// The set was this master alone at the last update (reads unlimited).
    alone: AtomicBool,
    /// Woken when the limit moves up: POP receives waiting for a message re-read.
    advanced: Notify,
    /// As a replica: the master's limit as last received (or kept from this broker's own
    /// term as master).
    replica: AtomicI64,
}

impl Default for ReadLimit {
    fn default() -> Self {
        ReadLimit {
            floor: AtomicI64::new(0),
            alone: AtomicBool::new(true),
            advanced: Notify::new(),
            replica: AtomicI64::new(0),
        }
    }
}

impl HaService {
    /// Recompute consumers' read limit after an acknowledgement, an in-sync set change or a
    /// role change (controller mode; classic mode never limits reads).
    pub fn update_read_limit(&self) {
        if !self.controller_mode() {
            return;
        }
        let rl = &self.read_limit;
        if self.role() == BrokerRole::Slave {
            rl.alone.store(true, Ordering::Release);
            let limit = rl.replica.load(Ordering::Acquire);
            let old = self.store.confirmed_offset();
            self.store.set_confirmed_offset(limit);
            if old != i64::MAX && limit > old {
                rl.advanced.notify_waiters();
            }
            return;
        }
        let acks = self.member_acks();
        if acks.is_empty() {
            rl.alone.store(true, Ordering::Release);
            if self.store.confirmed_offset() != i64::MAX {
                self.store.set_confirmed_offset(i64::MAX);
                rl.advanced.notify_waiters();
            }
            return;
        }
        if rl.alone.swap(false, Ordering::AcqRel) {
            // Everything stored so far was readable: it stays readable.
            rl.floor.fetch_max(self.store.get_max_phy_offset(), Ordering::AcqRel);
        }
        let held = acks.into_iter().min().unwrap_or(-1);
        let limit = held.max(rl.floor.load(Ordering::Acquire));
        let old = self.store.confirmed_offset();
        if old == i64::MAX || limit > old {
            self.store.set_confirmed_offset(limit);
            if old != i64::MAX {
                rl.advanced.notify_waiters();
            }
        }
    }

    /// This broker just became the master with its log ending at `end`: that log is the
    /// group's, readable up to there whatever the replicas hold yet.
    pub fn start_master_term(&self, end: i64) {
        let rl = &self.read_limit;
        rl.floor.store(end, Ordering::Release);
        rl.alone.store(false, Ordering::Release);
        self.store.set_confirmed_offset(end);
        self.update_read_limit();
    }

    /// A replica received its master's read limit.
    pub fn set_master_confirm(&self, offset: i64) {
        self.read_limit.replica.store(offset, Ordering::Release);
        self.update_read_limit();
    }

    /// This master is deposed: as a replica it keeps the limit it had (everything below is on
    /// every in-sync member, its successor among them) until its new master sends one; its
    /// tail past that may be cut when it joins.
    pub(super) fn keep_read_limit_as_replica(&self) {
        let limit = self.store.confirmed_offset().min(self.store.get_max_phy_offset());
        self.read_limit.replica.store(limit, Ordering::Release);
    }

    /// Resolves the next time the read limit moves up.
    pub fn read_limit_advanced(&self) -> tokio::sync::futures::Notified<'_> {
        self.read_limit.advanced.notified()
    }
}
