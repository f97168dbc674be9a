//! Test harness: the shared `mq-test-support` stack (real `mqnamesrv` + `mqbroker` on free
//! loopback ports, temp store, killed on drop) with this crate's defaults.
#![allow(dead_code)]

pub use mq_test_support::{wait_until, Stack, StackOptions};

/// Start a one-broker stack, or `None` (with a note) when the server binaries are not real yet.
pub async fn stack() -> Option<Stack> {
    Stack::start_or_skip(StackOptions::default()).await
}
