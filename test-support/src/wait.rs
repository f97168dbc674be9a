//! Bounded polling: the only way tests wait for something.

use std::future::Future;
use std::time::{Duration, Instant};

/// Poll `f` every 50 ms until it returns true; panics after `deadline`, naming `what`.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + deadline;
    loop {
        if f().await {
            return;
        }
        if Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
