//! Test harness: the shared `mq-test-support` stack (real `mqnamesrv` + `mqbroker` on free
//! loopback ports, temp store, killed on drop) with this crate's defaults.
#![allow(dead_code)]

pub use mq_test_support::{wait_until, Stack, StackOptions};

/// Start a one-broker stack.
pub async fn stack() -> Stack {
    Stack::start(StackOptions::default()).await
}
