//! The store's injectable environment: the clock and the disk-usage probe (tests replace
//! both).

use std::path::Path;
use std::sync::Arc;

use super::sys;

/// Source of time for store timestamps and retention (injectable for tests).
pub trait StoreClock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Current local hour (0..24), for `deleteWhen`.
    fn local_hour(&self) -> u32;
}

/// The system clock.
pub struct SystemClock;

impl StoreClock for SystemClock {
    fn now_ms(&self) -> i64 {
        mq_common::protocol::now_millis()
    }
    fn local_hour(&self) -> u32 {
        use chrono::Timelike;
        chrono::Local::now().hour()
    }
}

/// Injectable environment: clock and disk-usage probe.
#[derive(Clone)]
pub struct StoreHooks {
    /// clock
    pub clock: Arc<dyn StoreClock>,
    /// disk usage ratio of a path (0..1)
    pub disk_usage: Arc<dyn Fn(&Path) -> f64 + Send + Sync>,
}

impl Default for StoreHooks {
    fn default() -> Self {
        StoreHooks { clock: Arc::new(SystemClock), disk_usage: Arc::new(sys::disk_usage_ratio) }
    }
}
