//! Probing a running server from outside, std only: a TCP connect check and a minimal blocking
//! HTTP GET (the container health checks of `mqhealth`, and the tests), and a lookup of one
//! sample in Prometheus exposition text.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Whether a TCP connection to `addr` (`host:port`) opens within `timeout`.
pub fn tcp_open(addr: &str, timeout: Duration) -> std::io::Result<()> {
    let mut last = std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address");
    for sa in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `GET path` on `addr` (`host:port`) with one overall `timeout`; returns the status code and
/// the body. HTTP/1.0 so the server closes the connection after the body.
pub fn http_get(addr: &str, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let sa = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address"))?;
    let mut s = TcpStream::connect_timeout(&sa, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response");
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(bad)?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// The value of the first sample called `name` whose labels include every `labels` pair.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = match series.split_once('{') {
            Some((n, rest)) => (n, rest),
            None => (series, ""),
        };
        if n != name {
            return None;
        }
        let all = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        all.then(|| value.trim().parse().ok()).flatten()
    })
}

/// Sum of every sample called `name` whose labels include every `labels` pair.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            (n == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_samples_by_labels() {
        let t = "# TYPE x counter\nx_total{a=\"1\",b=\"2\"} 5\nx_total{a=\"3\"} 7\ny 1.5\n";
        assert_eq!(sample(t, "x_total", &[("b", "2")]), Some(5.0));
        assert_eq!(sample(t, "x_total", &[("a", "3")]), Some(7.0));
        assert_eq!(sample(t, "y", &[]), Some(1.5));
        assert_eq!(sample(t, "x_total", &[("a", "9")]), None);
        assert_eq!(sum(t, "x_total", &[]), 12.0);
    }
}
