//! Free loopback ports, picked below the kernel's ephemeral range.
//!
//! A port the kernel handed out for `bind(0)` is an ephemeral port: between our check and the
//! server's own bind, any outgoing connection on the machine (a replica dialing its master, a
//! client) may be given that very port as its local end, and the server then dies with
//! "Address already in use" (seen in CI: a broker of a controller-mode group never started,
//! the group never came in sync). Ports below `ip_local_port_range` are never given to outgoing
//! connections, so only another pick can take them: picks of this process are never given
//! twice, and picks of other processes start at random points of the range (the same scheme
//! as `rmq_free_port` in `scripts/lib.sh`).

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::sync::Mutex;

/// Lowest port handed out (below: well-known and registered services).
const LOW: u16 = 20000;

/// Every port (with its neighbours) this process handed out.
static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A port `p` such that `p`, `p - 2` (the broker's VIP channel) and `p + 1` (its HA port) are
/// free right now on every address, below the ephemeral range and never handed out before by
/// this process. Checked by binding the wildcard address (never listening): a bind on
/// 127.0.0.1 succeeds while another test's server listens on 127.0.0.14 at that port, and
/// multi-host tests listen on 127.0.0.x.
pub fn free_port() -> u16 {
    let (lo, hi) = range();
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let mut rng = RandomState::new().build_hasher();
    for i in 0..2000u32 {
        rng.write_u32(i);
        let p = lo + (rng.finish() % u64::from(hi - lo)) as u16;
        let all = [p - 2, p - 1, p, p + 1];
        if all.iter().any(|q| given.contains(q)) {
            continue;
        }
        if [p - 2, p, p + 1].iter().all(|q| TcpListener::bind(("0.0.0.0", *q)).is_ok()) {
            given.extend(all);
            return p;
        }
    }
    panic!("no free port between {lo} and {hi}");
}

/// The ports to pick from: `[LOW, ephemeral start - 1)`, or above the ephemeral range on a
/// machine whose range starts too low to leave room.
fn range() -> (u16, u16) {
    let eph = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|x| x.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    if eph.0 > LOW + 1000 {
        (LOW, eph.0 - 2)
    } else {
        (eph.1.saturating_add(3).min(64000), 65000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_below_the_ephemeral_range() {
        let (lo, hi) = range();
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let set: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(set.len(), ports.len());
        assert!(ports.iter().all(|p| (lo..hi).contains(p)), "{ports:?} not in {lo}..{hi}");
    }
}
