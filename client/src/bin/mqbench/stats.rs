//! Counters, latency histograms, the live progress line and the final report.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::json;

/// A new latency histogram in µs (1 µs .. 1 h, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Shared run statistics. Hot-path recording is lock-free (atomics); workers keep their own
/// histograms and merge them in at the end (or per batch for consumers).
pub struct Stats {
    /// Messages that succeeded (counted only while measuring).
    pub ok: AtomicU64,
    /// Requests that failed (counted only while measuring).
    pub failed: AtomicU64,
    /// Body bytes of successful messages.
    pub bytes: AtomicU64,
    /// Merged latency histogram (µs).
    pub hist: Mutex<Histogram<u64>>,
    /// Second histogram for consumers: store → consume (µs).
    pub hist2: Mutex<Histogram<u64>>,
    /// Set once warm-up is over.
    pub measuring: AtomicBool,
    /// Set when the run must stop.
    pub stop: AtomicBool,
    /// When measurement started.
    pub measure_start: Mutex<Option<Instant>>,
    /// When measurement ended.
    pub measure_end: Mutex<Option<Instant>>,
}

impl Stats {
    /// Fresh statistics.
    pub fn new() -> Arc<Self> {
        Arc::new(Stats {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            hist: Mutex::new(histogram()),
            hist2: Mutex::new(histogram()),
            measuring: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            measure_start: Mutex::new(None),
            measure_end: Mutex::new(None),
        })
    }

    /// True while results count.
    pub fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    /// True once the run must stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Count `msgs` successful messages of `bytes` body bytes.
    pub fn add_ok(&self, msgs: u64, bytes: u64) {
        if self.measuring() {
            self.ok.fetch_add(msgs, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Count a failed request.
    pub fn add_failed(&self) {
        if self.measuring() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Start measuring now.
    pub fn begin(&self) {
        *self.measure_start.lock() = Some(Instant::now());
        self.measuring.store(true, Ordering::SeqCst);
    }

    /// Stop the run (and the measurement) now.
    pub fn finish(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            *self.measure_end.lock() = Some(Instant::now());
            self.measuring.store(false, Ordering::SeqCst);
        }
    }

    /// Measured seconds so far (or in total once finished).
    pub fn elapsed(&self) -> f64 {
        let start = *self.measure_start.lock();
        let end = self.measure_end.lock().unwrap_or_else(Instant::now);
        start.map(|s| end.duration_since(s).as_secs_f64()).unwrap_or(0.0)
    }
}

/// Drive warm-up, the live progress line and the stop condition (duration or message count).
/// Returns when the run is over.
pub async fn supervise(
    stats: Arc<Stats>,
    label: &'static str,
    warmup: Duration,
    duration: Duration,
    count: u64,
) {
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .expect("valid template"),
        );
        Some(b)
    } else {
        None
    };
    if !warmup.is_zero() {
        if let Some(b) = &bar {
            b.set_message(format!("warming up for {:.1} s", warmup.as_secs_f64()));
        }
        tokio::time::sleep(warmup).await;
    }
    stats.begin();
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let mut last_print = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let ok = stats.ok.load(Ordering::Relaxed);
        let done = (!duration.is_zero() && started.elapsed() >= duration)
            || (count > 0 && ok >= count)
            || stats.stopped();
        if last.0.elapsed() >= Duration::from_secs(1) || done {
            let rate = (ok - last.1) as f64 / last.0.elapsed().as_secs_f64();
            let line = format!(
                "{label}: {ok} msgs, {rate:.0} msgs/s now, {:.0} msgs/s avg, {} failed",
                ok as f64 / stats.elapsed().max(1e-9),
                stats.failed.load(Ordering::Relaxed)
            );
            match &bar {
                Some(b) => {
                    b.set_message(line);
                    b.tick();
                }
                None if last_print.elapsed() >= Duration::from_secs(5) => {
                    eprintln!("{line}");
                    last_print = Instant::now();
                }
                None => {}
            }
            last = (Instant::now(), ok);
        }
        if done {
            break;
        }
    }
    stats.finish();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

/// Print the summary (RocketMQ-style line + percentiles) to stderr and, with `json`, one JSON
/// record to stdout.
pub fn report(
    stats: &Stats,
    mode: &str,
    common: &crate::Common,
    extra: serde_json::Value,
    second_label: Option<&str>,
) {
    let secs = stats.elapsed().max(1e-9);
    let ok = stats.ok.load(Ordering::Relaxed);
    let failed = stats.failed.load(Ordering::Relaxed);
    let bytes = stats.bytes.load(Ordering::Relaxed);
    let h = stats.hist.lock();
    let pct = |q: f64| if h.is_empty() { 0 } else { h.value_at_quantile(q) };
    let msgs_s = ok as f64 / secs;
    let mb_s = bytes as f64 / secs / 1e6;
    eprintln!(
        "{} TPS: {:.0} Max RT(ms): {:.3} Average RT(ms): {:.3} Failed: {} ({} msgs in {:.2} s, {:.1} MB/s)",
        mode,
        msgs_s,
        h.max() as f64 / 1000.0,
        h.mean() / 1000.0,
        failed,
        ok,
        secs,
        mb_s
    );
    eprintln!(
        "latency µs: p50 {} p90 {} p99 {} p99.9 {} max {}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        h.max()
    );
    let mut rec = json!({
        "scenario": common.scenario,
        "system": common.system,
        "mode": mode,
        "msgs": ok,
        "failed": failed,
        "seconds": secs,
        "msgs_s": msgs_s,
        "mb_s": mb_s,
        "p50_us": pct(0.5),
        "p90_us": pct(0.9),
        "p99_us": pct(0.99),
        "p999_us": pct(0.999),
        "max_us": h.max(),
        "mean_us": h.mean(),
    });
    if let Some(label) = second_label {
        let h2 = stats.hist2.lock();
        if !h2.is_empty() {
            eprintln!(
                "{label} µs: p50 {} p90 {} p99 {} p99.9 {} max {}",
                h2.value_at_quantile(0.5),
                h2.value_at_quantile(0.9),
                h2.value_at_quantile(0.99),
                h2.value_at_quantile(0.999),
                h2.max()
            );
            rec[format!("{label}_p50_us")] = h2.value_at_quantile(0.5).into();
            rec[format!("{label}_p99_us")] = h2.value_at_quantile(0.99).into();
        }
    }
    if let (Some(r), Some(e)) = (rec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            r.insert(k.clone(), v.clone());
        }
    }
    if common.json {
        println!("{rec}");
    }
}
