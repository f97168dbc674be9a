//! Shared harness for rmq's process-spawning tests (a dev-dependency only, never published).
//!
//! It runs the real `mqnamesrv` / `mqbroker` binaries (and any other binary of the workspace)
//! on free loopback ports with their stores and logs in a temp dir, waits for readiness with a
//! deadline, and kills every process it started by PID when its handle drops; a test that is
//! panicking gets the tail of each log printed first.
//!
//! ```no_run
//! # async fn demo() {
//! use mq_test_support::{Stack, StackOptions};
//! // Fast nameserver expiry, one extra broker setting, two brokers.
//! let opts = StackOptions::default()
//!     .namesrv_set("scanNotActiveBrokerInterval", "500")
//!     .namesrv_set("brokerChannelExpiredTime", "3000")
//!     .broker_set("flushDiskType", "SYNC_FLUSH")
//!     .brokers(&["broker-a", "broker-b"]);
//! let mut stack = Stack::start(opts).await;
//! stack.create_topic("Orders", 4).await;
//! stack.kill_broker("broker-b");                 // SIGKILL
//! stack.start_broker("broker-b").await;          // restart on the same store
//! # }
//! ```
//!
//! Pieces: [`bins`] (locating and building the binaries), [`ports`] (free ports), [`proc`]
//! (one child process), [`wait`] (bounded polling), [`stack`] (nameserver + brokers),
//! [`cluster`] (several name servers and broker groups as separate hosts),
//! [`replica`] (checks on a group's replicas), [`fault_proxy`] (cutting and healing links), [`node`]
//! (the ali-ons interop directory), [`tls`] (test certificates) and [`write_mode`] (the
//! commit-log write mode of every test broker).

pub mod bins;
pub mod cluster;
pub mod controllers;
pub mod fault_proxy;
pub mod hostile;
pub mod node;
pub mod ports;
pub mod proc;
pub mod replica;
pub mod stack;
pub mod tls;
pub mod wait;
pub mod write_mode;

pub use bins::{ensure_bins, target_dir};
pub use hostile::{half_sent_requests, HalfSent};
pub use ports::free_port;
pub use proc::{
    accepted_connections, anon_rss_bytes, cpu_time, raise_nofile_limit, rss_bytes, written_bytes,
    Proc,
};
pub use stack::{Stack, StackOptions};
pub use tls::{make_test_certs, TestCerts};
pub use wait::{poll_until, wait_until, wait_until_blocking, Ready};
