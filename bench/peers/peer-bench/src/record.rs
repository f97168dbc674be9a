//! The JSON record every driver prints, and the body's send stamp used by e2e runs.

use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

/// One result line: the fields `bench/compare.sh` and `bench/summary.py` read.
pub fn record(
    system: &str,
    msgs: u64,
    failed: u64,
    secs: f64,
    hist: Option<&Histogram<u64>>,
) -> serde_json::Value {
    let q = |p: f64| hist.map_or(0, |h| h.value_at_quantile(p));
    serde_json::json!({
        "system": system,
        "msgs": msgs,
        "failed": failed,
        "msgs_s": msgs as f64 / secs.max(1e-9),
        "p50_us": q(0.5),
        "p99_us": q(0.99),
        "max_us": hist.map_or(0, |h| h.max()),
    })
}

/// A latency histogram in µs (1 µs .. 60 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Microseconds since the Unix epoch: the stamp an e2e body starts with (sender and receiver
/// are one process, so one clock).
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// A `size`-byte body (at least 8) whose first 8 bytes are the send stamp.
pub fn stamped_body(size: usize) -> Vec<u8> {
    let mut b = vec![b'a'; size.max(8)];
    b[..8].copy_from_slice(&now_us().to_le_bytes());
    b
}

/// The send stamp of a body made by [`stamped_body`], if it has one.
pub fn stamp_of(body: &[u8]) -> Option<u64> {
    body.get(..8).map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

/// How long a send waits for a free slot in its window before the run fails: a server that
/// stopped confirming ends the run with an error instead of hanging it.
pub const WINDOW_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
