//! Browser-facing hardening of the console: security headers on every response, a
//! same-origin check on every write (CSRF), an audit log line for every write, and the login
//! limiter (an address that fails too often is locked out for a while).
//!
//! The session cookie is already `HttpOnly; SameSite=Strict`, which modern browsers never send
//! cross-site; the origin check covers older browsers and same-site attackers (another port on
//! the same host). Requests without `Origin` / `Sec-Fetch-Site` (scripts with a bearer token,
//! curl) are not browsers' cross-site requests and pass.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::state::AppState;

/// `Content-Security-Policy`: the UI is self-contained (no inline or third-party scripts).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The client address of a request (`0.0.0.0` when the server did not record it, as in
/// in-process tests).
pub fn peer_ip(req_ext: &axum::http::Extensions) -> IpAddr {
    req_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Is this a browser request from another origin? (`Sec-Fetch-Site` when the browser sends
/// it, else `Origin` against `Host`.)
fn cross_origin(h: &HeaderMap) -> bool {
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return false };
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin);
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

/// The middleware: refuse cross-origin writes, log every write, add the security headers.
pub async fn harden(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let write = is_write(req.method()) && req.uri().path().starts_with("/api/");
    let audit = write.then(|| {
        let who = if st.auth.is_logged_in(req.headers()) { "admin" } else { "anonymous" };
        (peer_ip(req.extensions()), who, req.method().clone(), req.uri().path().to_string())
    });
    let mut resp = if write && cross_origin(req.headers()) {
        AppError::Forbidden("cross-origin request refused".into()).into_response()
    } else {
        next.run(req).await
    };
    if let Some((peer, who, method, path)) = audit {
        // One line per write, allowed or not: who, what, from where, and the outcome.
        tracing::info!(target: "audit", %peer, user = who, %method, %path, status = resp.status().as_u16(), "console write");
    }
    let h = resp.headers_mut();
    for (k, v) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    }
    resp
}

/// Failed logins per client address: after `max_failures` within `window` the address is
/// locked out for `lockout` (a correct password is refused too, so guessing gains nothing).
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    lockout: Duration,
    by_ip: Mutex<HashMap<IpAddr, Failures>>,
}

struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// Addresses tracked at most (a flood from many addresses cannot grow the table without bound).
const MAX_TRACKED: usize = 10_000;

impl Default for LoginLimiter {
    /// 5 failures in 15 minutes → 5 minutes locked out.
    fn default() -> Self {
        LoginLimiter::new(5, Duration::from_secs(900), Duration::from_secs(300))
    }
}

impl LoginLimiter {
    /// A limiter with these bounds.
    pub fn new(max_failures: u32, window: Duration, lockout: Duration) -> Self {
        LoginLimiter { max_failures: max_failures.max(1), window, lockout, by_ip: Mutex::default() }
    }

    /// `Err(retry after)` while `ip` is locked out.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let map = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&ip).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Count a failed login from `ip`; `true` when this one started a lockout.
    pub fn failed(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut map = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            let horizon = self.window.max(self.lockout);
            map.retain(|_, f| {
                now.duration_since(f.since) < horizon || f.locked_until.is_some_and(|u| u > now)
            });
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let f = map.entry(ip).or_insert(Failures { count: 0, since: now, locked_until: None });
        if now.duration_since(f.since) > self.window || f.locked_until.is_some_and(|u| u <= now) {
            *f = Failures { count: 0, since: now, locked_until: None };
        }
        f.count += 1;
        if f.count >= self.max_failures && f.locked_until.is_none() {
            f.locked_until = Some(now + self.lockout);
            return true;
        }
        false
    }

    /// A successful login from `ip` clears its failures.
    pub fn succeeded(&self, ip: IpAddr) {
        self.by_ip.lock().unwrap_or_else(|p| p.into_inner()).remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_failures_and_reset_on_success() {
        let l = LoginLimiter::new(3, Duration::from_secs(60), Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(!l.failed(a));
        assert!(!l.failed(a));
        l.check(a).unwrap();
        assert!(l.failed(a));
        assert!(l.check(a).is_err());
        l.check(b).unwrap();
        l.failed(b);
        l.succeeded(b);
        assert!(!l.failed(b));
        assert!(!l.failed(b));
        l.check(b).unwrap();
    }

    #[test]
    fn cross_origin_detection() {
        let mut h = HeaderMap::new();
        assert!(!cross_origin(&h));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8180"));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8180"));
        assert!(!cross_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:9999"));
        assert!(cross_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!cross_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(cross_origin(&h));
    }
}
