//! Child processes (the shared [`mq_test_support::Proc`]) and small HTTP probes of them.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

pub use mq_test_support::{free_port, Proc};

/// The binaries a chat cluster runs.
pub const BINS: [&str; 4] = ["mqnamesrv", "mqbroker", "chat-gateway", "chat-observer"];

/// Directory of the built binaries (`target/<profile>`), building the missing ones once.
pub fn bin_dir() -> PathBuf {
    mq_test_support::ensure_bins(&BINS)
}

/// Minimal HTTP/1.1 GET on loopback: `(status, body)`.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    http_get_bearer(addr, path, None)
}

/// [`http_get`] with `Authorization: Bearer <token>` when `token` is given.
pub fn http_get_bearer(
    addr: &str,
    path: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// A metric value from a `/metrics` body (0 when absent).
pub fn metric(body: &str, name: &str) -> i64 {
    body.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}
