//! Per-frame timestamps of the replication chain, for finding where a lag stall's time goes
//! (`bench/ha_trace.py` joins a master's and its slave's lines by offset). Off unless the
//! `ha_trace` target is enabled at debug level (`RUST_LOG=info,ha_trace=debug`): then each
//! step logs one line with wall-clock microseconds (both brokers run on one machine, so their
//! clocks agree):
//!
//! * master, transfer half: `tw FROM TO NOTIFIED WOKE WRITTEN` (the first SYNC_MASTER put's
//!   wake-up since the last write, 0 if none; when the task ran; when its write returned);
//! * master, report reader: `ack OFFSET RECEIVED DONE WAITERS` (when the report was read, when
//!   the waits it covers were completed, how many were waiting);
//! * slave: `sr REPORTED READ APPENDED SENT` (when the read returned, when its frames were
//!   appended, when the report went out).
//!
//! Disabled, each step costs one load of a cached flag.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The log target the lines go to.
pub const TARGET: &str = "ha_trace";

/// Whether tracing is on (decided once, after the subscriber is installed: HA starts later).
pub fn on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| tracing::enabled!(target: "ha_trace", tracing::Level::DEBUG))
}

/// Wall clock, µs since the epoch (comparable between two processes on one host).
pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}
