//! Replication's own thread: the HA tasks of either side (the `haListenPort` acceptor and
//! every slave connection on a master, the HA client on a slave, the SYNC_MASTER expiry
//! ticker) run on one OS thread named `ha` with a current-thread tokio runtime, not among
//! the broker's request tasks.
//!
//! Why: on the broker's multi-thread runtime a slave's report or a transfer wake-up may wait
//! behind the request tasks queued on the same worker; a thread that sleeps in its own epoll
//! most of the time is woken by the kernel as soon as a socket or a `Notify` wants it (Java
//! runs HA on dedicated threads too: HAConnection's read and write services, HAClient).
//! Waits of sends stay in the main runtime: completing them from here wakes the
//! connections' writer tasks there (`Channel::respond`).

use std::future::Future;
use std::pin::Pin;

use tokio::task::JoinHandle;

/// One HA task.
pub(super) type HaTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Run `tasks` on a new `ha` thread. The returned handle (a task on the caller's runtime)
/// completes once they all have (they end on the broker's shutdown token). If the caller's
/// runtime is dropped first (an embedding test), the thread stops and drops them too.
pub(super) fn spawn(tasks: Vec<HaTask>) -> std::io::Result<JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let (keep_tx, keep_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new().name("ha".into()).spawn(move || {
        rt.block_on(async move {
            let handles: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
            let all = async {
                for h in handles {
                    let _ = h.await;
                }
            };
            tokio::select! {
                _ = all => {}
                // The caller's runtime is gone (nothing can await these tasks any more).
                _ = keep_rx => {}
            }
        });
        // Connections the acceptor spawned that are still open are dropped with `rt`.
        drop(rt);
        let _ = done_tx.send(());
    })?;
    Ok(tokio::spawn(async move {
        let _keep = keep_tx;
        let _ = done_rx.await;
    }))
}
