//! Bounded polling: the one way tests wait for something.
//!
//! A condition is polled every 50 ms until it is ready or the deadline passes; there is never
//! a bare sleep that hopes the thing happened. A condition returns `bool` (ready or not) or
//! `Option<T>` (the value, once there). [`wait_until`] panics on timeout naming what it waited
//! for; [`poll_until`] returns `None` instead (for tests that measure how long something
//! took, or handle the timeout themselves); [`wait_until_blocking`] is [`wait_until`] for code
//! outside a runtime.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is polled.
pub const POLL_EVERY: Duration = Duration::from_millis(50);

/// What a polled condition returns: `bool`, or `Option<T>` to hand a value back when ready.
pub trait Ready {
    /// What [`wait_until`] returns once ready: `()` for `bool`, `T` for `Option<T>`.
    type Output;
    /// `Some` when ready.
    fn ready(self) -> Option<Self::Output>;
}

impl Ready for bool {
    type Output = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Ready for Option<T> {
    type Output = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Poll `f` until it is ready; `None` once `deadline` has passed without that.
pub async fn poll_until<F, Fut, R>(deadline: Duration, mut f: F) -> Option<R::Output>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = R>,
    R: Ready,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f().await.ready() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Poll `f` until it is ready and return what it returned; panics after `deadline`, naming
/// `what`.
pub async fn wait_until<F, Fut, R>(what: &str, deadline: Duration, f: F) -> R::Output
where
    F: FnMut() -> Fut,
    Fut: Future<Output = R>,
    R: Ready,
{
    match poll_until(deadline, f).await {
        Some(v) => v,
        None => panic!("timed out after {deadline:?} waiting for {what}"),
    }
}

/// [`wait_until`] for a synchronous condition on a plain thread (no async runtime).
pub fn wait_until_blocking<R: Ready>(
    what: &str,
    deadline: Duration,
    mut f: impl FnMut() -> R,
) -> R::Output {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f().ready() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(POLL_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_values_and_timeouts() {
        let mut n = 0;
        let v = wait_until("the third poll", Duration::from_secs(5), || {
            n += 1;
            let r = (n == 3).then_some(n);
            async move { r }
        })
        .await;
        assert_eq!(v, 3);
        assert_eq!(poll_until(Duration::from_millis(60), || async { false }).await, None);
        wait_until_blocking("true", Duration::from_secs(1), || true);
        let e = std::panic::catch_unwind(|| {
            wait_until_blocking("never", Duration::from_millis(10), || false)
        });
        assert!(e.is_err());
    }
}
