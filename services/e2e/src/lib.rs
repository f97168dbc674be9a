//! End-to-end harness for the chat services: spawns the real `mqnamesrv`, `mqbroker`,
//! `chat-observer` and `chat-gateway` binaries on free loopback ports with a temp store, and
//! drives gateways with a small DDP client ([`ddp::DdpClient`]) over real WebSockets.
//!
//! Every process is killed (by PID) when its handle drops; if the test is panicking, the tail
//! of each log is printed first.
#![forbid(unsafe_code)]

pub mod cluster;
pub mod ddp;
pub mod presence;
pub mod proc;

pub use cluster::{Cluster, ClusterOpts};
pub use ddp::{DdpClient, Event};

pub use mq_test_support::wait_until;

/// The per-test scale factor `E2E_SCALE` (default 1.0): heavy tests multiply their sizes by it.
pub fn scale() -> f64 {
    std::env::var("E2E_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|x: &f64| *x > 0.0)
        .unwrap_or(1.0)
}

/// `n` scaled by [`scale`], at least `min`.
pub fn scaled(n: usize, min: usize) -> usize {
    ((n as f64 * scale()).round() as usize).max(min)
}

/// Held for the whole of a test: tests in one binary share the machine, so they run one at a
/// time. Each test has its own runtime, so holding it across awaits cannot deadlock.
pub struct SerialGuard(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

/// Take the per-binary test lock.
pub fn serial() -> SerialGuard {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SerialGuard(LOCK.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A random client message id.
pub fn msg_id() -> String {
    chat_proto::ids::random_id(&rand::random())
}
