//! Hostile-client probes shared by the robustness tests of every HTTP listener.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What became of a batch of half-sent HTTP requests.
#[derive(Debug, Clone, Copy)]
pub struct HalfSent {
    /// Answered `503` at once (past the server's connection cap).
    pub refused: usize,
    /// Closed by the server without an answer (header-read timeout).
    pub closed: usize,
    /// Still open when the probe gave up.
    pub held: usize,
    /// From opening the first connection until the last one ended (or the probe gave up).
    pub slowest: Duration,
    /// How long the server took to see all `n` connections: until the probe had opened the
    /// last one or received the last refusal, whichever came later. On a loaded machine this
    /// can exceed the server's header timeout, and then the first batch is closed and frees
    /// its slots before the last connections are accepted, so more than `cap` are served.
    pub opening: Duration,
}

impl HalfSent {
    /// Whether a server with connection cap `cap` and header timeout `header_timeout` behaved:
    /// nothing held, every connection refused or closed, and no more served than the cap
    /// allows for the time the probe spent opening them (one full cap per timeout elapsed,
    /// plus the first).
    pub fn within_cap(&self, cap: usize, header_timeout: Duration) -> bool {
        let rounds =
            1 + (self.opening.as_secs_f64() / header_timeout.as_secs_f64()).floor() as usize;
        self.held == 0 && self.closed <= cap * rounds
    }
}

/// Open `n` connections to `addr`, send each an HTTP request line and one header but never
/// the blank line that ends the head, and wait (up to `give_up`, from when all are open) for
/// the server to end each.
pub async fn half_sent_requests(addr: &str, n: usize, give_up: Duration) -> HalfSent {
    let t0 = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        conns.push(s);
    }
    let opening = t0.elapsed();
    let ends = futures::future::join_all(conns.into_iter().map(|mut s| async move {
        let mut out = Vec::new();
        let done = tokio::time::timeout(give_up, s.read_to_end(&mut out)).await.is_ok();
        let refused = out.starts_with(b"HTTP/1.1 503");
        (done, refused, t0.elapsed())
    }))
    .await;
    let last_refusal = ends.iter().filter(|(d, r, _)| *d && *r).map(|(_, _, t)| *t).max();
    HalfSent {
        opening: opening.max(last_refusal.unwrap_or_default()),
        refused: ends.iter().filter(|(d, r, _)| *d && *r).count(),
        closed: ends.iter().filter(|(d, r, _)| *d && !*r).count(),
        held: ends.iter().filter(|(d, _, _)| !*d).count(),
        slowest: ends.iter().map(|(_, _, t)| *t).max().unwrap_or_default(),
    }
}
