//! [`LogLimiter`]: at most one log line per interval for a repeated warning (one per
//! malformed connection, one per denied request...), with the count of the ones left out, so
//! a misbehaving or hostile peer cannot flood the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets one event through per interval; counts the rest. Use one `static` per call site.
pub struct LogLimiter {
    interval_ms: u64,
    /// Milliseconds since [`origin`] of the last event let through, +1 (0 = never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

fn origin() -> Instant {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl LogLimiter {
    /// A limiter letting one event through per `interval`.
    pub const fn new(interval: Duration) -> Self {
        LogLimiter {
            interval_ms: interval.as_millis() as u64,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)`: log this event, noting `n` similar ones were left out since the last line;
    /// `None`: leave it out.
    pub fn allow(&self) -> Option<u64> {
        let now = origin().elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < self.interval_ms {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_interval_with_a_count() {
        let l = LogLimiter::new(Duration::from_secs(3600));
        assert_eq!(l.allow(), Some(0));
        for _ in 0..5 {
            assert_eq!(l.allow(), None);
        }
        let l0 = LogLimiter::new(Duration::ZERO);
        assert_eq!(l0.allow(), Some(0));
        assert_eq!(l0.allow(), Some(0));
    }
}
