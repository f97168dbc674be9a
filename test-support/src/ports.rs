//! Free loopback ports.

use std::net::TcpListener;

/// A port `p` such that `p`, `p - 2` (the broker's VIP channel) and `p + 1` (its HA port) are
/// free right now. Another process may still take it before use: the window is small and the
/// spawned server fails loudly (its log is dumped) if it does.
pub fn free_port() -> u16 {
    for _ in 0..500 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let p = l.local_addr().expect("local addr").port();
        if !(1100..=65000).contains(&p) {
            continue;
        }
        if [p - 2, p + 1].iter().all(|q| TcpListener::bind(("127.0.0.1", *q)).is_ok()) {
            return p;
        }
    }
    panic!("no free port");
}
