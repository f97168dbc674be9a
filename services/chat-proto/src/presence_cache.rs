//! The status cache kept by every gateway (and by presence's read-model): warm from the last
//! `presence_state` snapshot of each queue, then kept current by `presence_events`
//! (design §4.7 "Presence cache").

use std::collections::HashMap;

use crate::presence::Status;
use crate::presence_bodies::{StateBody, StatusEvent};

/// What the cache knows about one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    /// Display name.
    pub username: String,
    /// Effective status.
    pub status: Status,
    /// Status text.
    pub status_text: String,
}

/// uid → last known status. Unknown users are offline.
#[derive(Debug, Default)]
pub struct StatusCache {
    users: HashMap<String, Cached>,
}

impl StatusCache {
    /// Seed from a snapshot. Entries already present came from events received after the
    /// consumer started, which are newer than any snapshot read afterwards, so they win.
    pub fn apply_state(&mut self, state: &StateBody) {
        for (uid, u) in &state.users {
            self.users.entry(uid.clone()).or_insert_with(|| Cached {
                username: u.username.clone(),
                status: u.status,
                status_text: u.status_text.clone(),
            });
        }
    }

    /// Apply a status event; returns true when the visible status changed.
    pub fn apply_event(&mut self, e: &StatusEvent) -> bool {
        let new = Cached {
            username: e.username.clone(),
            status: e.status,
            status_text: e.status_text.clone(),
        };
        let old = self.users.insert(e.uid.clone(), new.clone());
        old.map(|o| o.status != new.status || o.status_text != new.status_text)
            .unwrap_or(new.status != Status::Offline)
    }

    /// The status of `uid` (offline when unknown).
    pub fn get(&self, uid: &str) -> Cached {
        self.users.get(uid).cloned().unwrap_or(Cached {
            username: uid.to_string(),
            status: Status::Offline,
            status_text: String::new(),
        })
    }

    /// Counts of users per non-offline status: (online, away, busy).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for u in self.users.values() {
            match u.status {
                Status::Online => c.0 += 1,
                Status::Away => c.1 += 1,
                Status::Busy => c.2 += 1,
                Status::Offline => {}
            }
        }
        c
    }
}
