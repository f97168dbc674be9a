//! The console's own Prometheus metrics (`/metrics`): HTTP requests by status class, API
//! errors by kind, sampler runs, uptime. Plain atomics rendered as Prometheus text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counters.
pub struct Metrics {
    started: Instant,
    /// Requests by status class: 2xx, 3xx, 4xx, 5xx.
    by_class: [AtomicU64; 4],
    /// 502 responses (a broker or nameserver failed).
    upstream_errors: AtomicU64,
    /// Failed logins.
    failed_logins: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            by_class: Default::default(),
            upstream_errors: AtomicU64::new(0),
            failed_logins: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Count a finished request.
    pub fn record(&self, status: u16) {
        let i = match status {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        self.by_class[i].fetch_add(1, Ordering::Relaxed);
        if status == 502 || status == 504 {
            self.upstream_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count a failed login.
    pub fn failed_login(&self) {
        self.failed_logins.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition.
    pub fn render(&self, sampler_runs: u64, sampler_errors: u64) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP rmq_console_http_requests_total HTTP requests served, by status class."
        );
        let _ = writeln!(s, "# TYPE rmq_console_http_requests_total counter");
        for (i, c) in ["2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let _ = writeln!(
                s,
                "rmq_console_http_requests_total{{class=\"{c}\"}} {}",
                self.by_class[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(s, "# HELP rmq_console_upstream_errors_total Responses that reported a broker or nameserver failure (502/504).");
        let _ = writeln!(s, "# TYPE rmq_console_upstream_errors_total counter");
        let _ = writeln!(
            s,
            "rmq_console_upstream_errors_total {}",
            self.upstream_errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(s, "# HELP rmq_console_failed_logins_total Rejected login attempts.");
        let _ = writeln!(s, "# TYPE rmq_console_failed_logins_total counter");
        let _ = writeln!(
            s,
            "rmq_console_failed_logins_total {}",
            self.failed_logins.load(Ordering::Relaxed)
        );
        let _ = writeln!(s, "# HELP rmq_console_sampler_runs_total TPS sampler runs.");
        let _ = writeln!(s, "# TYPE rmq_console_sampler_runs_total counter");
        let _ = writeln!(s, "rmq_console_sampler_runs_total {sampler_runs}");
        let _ =
            writeln!(s, "# HELP rmq_console_sampler_errors_total TPS sampler runs that failed.");
        let _ = writeln!(s, "# TYPE rmq_console_sampler_errors_total counter");
        let _ = writeln!(s, "rmq_console_sampler_errors_total {sampler_errors}");
        let _ = writeln!(s, "# HELP rmq_console_uptime_seconds Seconds since start.");
        let _ = writeln!(s, "# TYPE rmq_console_uptime_seconds gauge");
        let _ = writeln!(s, "rmq_console_uptime_seconds {}", self.started.elapsed().as_secs());
        s
    }
}
