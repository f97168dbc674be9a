//! `autoCreateTopicMaxPerClientPerMinute` (rmq's key, issue #16 B4): how many topics one
//! client address may make the broker auto-create (a send to an unknown topic through
//! TBW102) per minute. Without it any client, no credentials needed, can make the broker
//! create topics (config entries, registrations, consume queues) without bound.
//!
//! Keyed by the client's IP, not its socket address: a client that reconnects keeps its
//! budget. Fixed one-minute windows; only the auto-create path touches the map (sends to
//! existing topics never reach it), so a mutex costs nothing on the hot path.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The window the budget applies to.
const WINDOW: Duration = Duration::from_secs(60);
/// Past this many tracked addresses, expired windows are dropped (bounded memory).
const PRUNE_AT: usize = 4096;

/// Per-address auto-create budget.
#[derive(Debug)]
pub struct AutoCreateLimit {
    /// Topics per address per window; 0 = unlimited.
    max: u32,
    /// Address → (window start, topics created in it).
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl AutoCreateLimit {
    /// A budget of `max` auto-created topics per client address per minute (0 = unlimited).
    pub fn new(max: u32) -> Self {
        AutoCreateLimit { max, seen: Mutex::new(HashMap::new()) }
    }

    /// The budget per minute (0 = unlimited).
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Take one creation from `client`'s budget; false if it is spent for this window.
    pub fn admit(&self, client: IpAddr) -> bool {
        self.admit_at(client, Instant::now())
    }

    fn admit_at(&self, client: IpAddr, now: Instant) -> bool {
        if self.max == 0 {
            return true;
        }
        let mut seen = self.seen.lock();
        if seen.len() >= PRUNE_AT {
            seen.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let (start, n) = seen.entry(client).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *n = 0;
        }
        if *n >= self.max {
            return false;
        }
        *n += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_per_address_and_window() {
        let l = AutoCreateLimit::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        assert!(l.admit_at(a, t0));
        assert!(l.admit_at(a, t0));
        assert!(!l.admit_at(a, t0 + Duration::from_secs(59)));
        assert!(l.admit_at(b, t0), "another address has its own budget");
        assert!(l.admit_at(a, t0 + WINDOW), "a new window restores the budget");
    }

    #[test]
    fn zero_is_unlimited() {
        let l = AutoCreateLimit::new(0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert!((0..10_000).all(|_| l.admit(a)));
    }
}
