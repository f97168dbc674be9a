//! Broker liveness as one controller sees it (BROKER_HEARTBEAT, 904). Not replicated: every
//! controller keeps its own table (brokers heartbeat all of them), and the leader writes what
//! it saw into the commands it proposes.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The last heartbeat of one broker.
#[derive(Debug, Clone)]
pub struct BrokerLive {
    /// Cluster name.
    pub cluster: String,
    /// Its address.
    pub addr: String,
    /// When the last heartbeat arrived.
    pub last_seen: Instant,
    /// Silence longer than this means dead.
    pub timeout: Duration,
    /// Its master epoch.
    pub epoch: i32,
    /// Its commit-log max offset.
    pub max_offset: i64,
    /// Its confirmed offset.
    pub confirm_offset: i64,
    /// Election priority (lower wins among equals).
    pub priority: i32,
    /// The connection the last heartbeat came on (its id): when it closes the broker is
    /// dead at once (Java's `onBrokerChannelClose`), not after `timeout` of silence.
    pub channel: Option<u64>,
    /// That connection closed; the next heartbeat (a new entry) makes the broker alive again.
    pub closed: bool,
}

impl BrokerLive {
    fn alive(&self, now: Instant) -> bool {
        !self.closed && now.duration_since(self.last_seen) <= self.timeout
    }
}

/// Heartbeats by (broker name, broker id).
#[derive(Default)]
pub struct Liveness {
    table: Mutex<HashMap<(String, u64), BrokerLive>>,
}

impl Liveness {
    /// Record a heartbeat.
    pub fn heartbeat(&self, broker_name: &str, id: u64, live: BrokerLive) {
        self.table.lock().insert((broker_name.to_string(), id), live);
    }

    /// The connection `channel` closed: every broker whose last heartbeat came on it is dead
    /// now. Returns their (broker name, id).
    pub fn channel_closed(&self, channel: u64) -> Vec<(String, u64)> {
        let mut gone = Vec::new();
        for (key, b) in self.table.lock().iter_mut() {
            if b.channel == Some(channel) && !b.closed {
                b.closed = true;
                gone.push(key.clone());
            }
        }
        gone
    }

    /// A request other than a heartbeat (registration) reached this controller from a
    /// known broker: it is alive now. The broker's lease counts from when it sent such a
    /// request, so the leader's view must not be older than that (see the broker's
    /// `replicas_manager`).
    pub fn touch(&self, broker_name: &str, id: u64) {
        if let Some(b) = self.table.lock().get_mut(&(broker_name.to_string(), id)) {
            if !b.closed {
                b.last_seen = Instant::now();
            }
        }
    }

    /// Whether `id` of `broker_name` heart-beat within its timeout.
    pub fn is_alive(&self, broker_name: &str, id: u64) -> bool {
        let now = Instant::now();
        self.table.lock().get(&(broker_name.to_string(), id)).is_some_and(|b| b.alive(now))
    }

    /// Live ids of a group.
    pub fn alive_set(&self, broker_name: &str) -> BTreeSet<u64> {
        self.candidates(broker_name).into_iter().collect()
    }

    /// Live ids of a group, best election candidate first: highest epoch, then highest max
    /// offset, then lowest priority value, then lowest id (Java's `DefaultElectPolicy` order).
    pub fn candidates(&self, broker_name: &str) -> Vec<u64> {
        let now = Instant::now();
        let t = self.table.lock();
        let mut v: Vec<(&u64, &BrokerLive)> = t
            .iter()
            .filter(|((n, _), b)| n == broker_name && b.alive(now))
            .map(|((_, id), b)| (id, b))
            .collect();
        v.sort_by(|(ia, a), (ib, b)| {
            b.epoch
                .cmp(&a.epoch)
                .then(b.max_offset.cmp(&a.max_offset))
                .then(a.priority.cmp(&b.priority))
                .then(ia.cmp(ib))
        });
        v.into_iter().map(|(id, _)| *id).collect()
    }

    /// Drop entries silent for longer than their timeout (keeps the table bounded).
    pub fn forget_dead(&self) {
        let now = Instant::now();
        self.table.lock().retain(|_, b| b.alive(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(epoch: i32, max: i64, prio: i32, timeout_ms: u64) -> BrokerLive {
        BrokerLive {
            cluster: "c".into(),
            addr: "a".into(),
            last_seen: Instant::now(),
            timeout: Duration::from_millis(timeout_ms),
            epoch,
            max_offset: max,
            confirm_offset: 0,
            priority: prio,
            channel: Some(7),
            closed: false,
        }
    }

    #[test]
    fn candidates_are_ranked_and_expire() {
        let l = Liveness::default();
        l.heartbeat("b", 1, live(1, 100, 0, 60_000));
        l.heartbeat("b", 2, live(2, 50, 0, 60_000));
        l.heartbeat("b", 3, live(2, 80, 5, 60_000));
        l.heartbeat("b", 4, live(2, 80, 1, 60_000));
        l.heartbeat("other", 9, live(9, 9, 0, 60_000));
        assert_eq!(l.candidates("b"), vec![4, 3, 2, 1]);
        let mut dead = live(3, 999, 0, 1);
        dead.last_seen = Instant::now() - Duration::from_secs(1);
        l.heartbeat("b", 5, dead);
        assert!(!l.is_alive("b", 5) && l.is_alive("b", 1));
        assert_eq!(l.alive_set("b"), BTreeSet::from([1, 2, 3, 4]));
        l.forget_dead();
        assert_eq!(l.table.lock().len(), 5);
    }

    #[test]
    fn a_closed_connection_is_death_until_the_next_heartbeat() {
        let l = Liveness::default();
        l.heartbeat("b", 1, live(1, 0, 0, 60_000));
        let mut other = live(1, 0, 0, 60_000);
        other.channel = Some(8);
        l.heartbeat("b", 2, other);
        assert_eq!(l.channel_closed(7), vec![("b".to_string(), 1)]);
        assert!(!l.is_alive("b", 1) && l.is_alive("b", 2));
        assert!(l.channel_closed(7).is_empty(), "reported once");
        l.touch("b", 1);
        assert!(!l.is_alive("b", 1), "only a heartbeat revives it");
        l.heartbeat("b", 1, live(1, 0, 0, 60_000));
        assert!(l.is_alive("b", 1));
    }
}
