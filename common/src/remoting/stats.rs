//! [`ConnectionStats`]: the connection counters of one remoting server (all its listeners),
//! the one place metrics and admin requests read them from.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counters of a server's connections. Updated by the accept loop and the channels; read with
/// [`ConnectionStats::snapshot`]. Every field is a relaxed atomic touched once per connection
/// event (accept, close, pause), never per request.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    active: AtomicUsize,
    accepted: AtomicU64,
    refused: AtomicU64,
    idle_closed: AtomicU64,
    stalled_closed: AtomicU64,
    read_paused: AtomicU64,
    bad_frames: AtomicU64,
}

/// A copy of [`ConnectionStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStatsSnapshot {
    /// Connections open now.
    pub active: usize,
    /// Connections accepted since start (refused ones not included).
    pub accepted: u64,
    /// Connections closed at once because the server was at its connection cap.
    pub refused: u64,
    /// Connections closed because they were idle longer than the idle timeout.
    pub idle_closed: u64,
    /// Connections closed because their peer stopped reading responses (output above the
    /// high-water mark with no progress for the idle timeout).
    pub stalled_closed: u64,
    /// Times a connection's reading was paused because its output passed the high-water mark.
    pub read_paused: u64,
    /// Connections closed because they sent a malformed or oversized frame.
    pub bad_frames: u64,
}

impl ConnectionStats {
    /// A copy of every counter.
    pub fn snapshot(&self) -> ConnectionStatsSnapshot {
        let r = Ordering::Relaxed;
        ConnectionStatsSnapshot {
            active: self.active.load(r),
            accepted: self.accepted.load(r),
            refused: self.refused.load(r),
            idle_closed: self.idle_closed.load(r),
            stalled_closed: self.stalled_closed.load(r),
            read_paused: self.read_paused.load(r),
            bad_frames: self.bad_frames.load(r),
        }
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    pub(crate) fn opened(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
    }

    /// Count a refusal; returns the new total (the caller logs the first and every 1000th).
    pub(crate) fn refused(&self) -> u64 {
        self.refused.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn idle_closed(&self) {
        self.idle_closed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stalled_closed(&self) {
        self.stalled_closed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read_paused(&self) {
        self.read_paused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bad_frame(&self) {
        self.bad_frames.fetch_add(1, Ordering::Relaxed);
    }
}

impl ConnectionStatsSnapshot {
    /// `(name, value)` pairs with RocketMQ-style camelCase names, for runtime-info tables
    /// and metrics.
    pub fn entries(&self) -> [(&'static str, u64); 7] {
        [
            ("connectionsActive", self.active as u64),
            ("connectionsAccepted", self.accepted),
            ("connectionsRefused", self.refused),
            ("connectionsIdleClosed", self.idle_closed),
            ("connectionsStalledClosed", self.stalled_closed),
            ("connectionsReadPaused", self.read_paused),
            ("connectionsBadFrames", self.bad_frames),
        ]
    }
}
