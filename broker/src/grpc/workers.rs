//! The threads that serve gRPC connections: `grpcWorkerLoopNum` single-threaded runtimes
//! (Apache's proxy has the same key for its Netty worker loops), each connection owned by one
//! of them for its whole life.
//!
//! Why not the broker's multi-threaded runtime: an HTTP/2 connection is a connection task
//! (reads frames, writes answers) plus one task per request stream, and they wake each other
//! for every request. On the work-stealing runtime those tasks land on different threads,
//! so each wake is a cross-thread notification (a futex and a context switch) and the
//! streams' shared state bounces between caches: measured on the 2-core machine, a gRPC send
//! cost the broker 27–31 µs with the broker on its usual runtime and 19.5–19.8 µs with the
//! connection and its streams kept on one thread (the broker run with one tokio worker,
//! `TOKIO_WORKER_THREADS=1`; RESULTS "gRPC connections on worker threads"). The remoting ports are not served here: their reader
//! answers each request itself and does not have that ping-pong.
//!
//! A connection's socket is re-registered with its worker's reactor ([`Workers::spawn`]),
//! so its readiness is also handled on that thread. Everything a handler spawns (the put
//! join's leader, long-polling waits, telemetry pushes) runs on the same worker.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The gRPC worker threads; stopped by [`Workers::stop`] (or on drop, without waiting).
pub(crate) struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Firing (or dropping) one ends its worker's runtime: tasks still on it are dropped.
    exits: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Start `n` workers (`0` = one per available core).
    pub(crate) fn start(n: usize) -> std::io::Result<Workers> {
        let n = if n == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            n
        };
        let mut w = Workers {
            handles: Vec::with_capacity(n),
            next: AtomicUsize::new(0),
            exits: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
        };
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (exit, exited) = oneshot::channel::<()>();
            w.handles.push(rt.handle().clone());
            w.exits.push(exit);
            w.threads.push(std::thread::Builder::new().name(format!("grpc-worker-{i}")).spawn(
                move || {
                    // Either a fired or a dropped sender ends the worker.
                    let _ = rt.block_on(exited);
                },
            )?);
        }
        Ok(w)
    }

    /// Number of workers.
    pub(crate) fn len(&self) -> usize {
        self.handles.len()
    }

    /// The next worker, round robin.
    pub(crate) fn pick(&self) -> &Handle {
        &self.handles[self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len()]
    }

    /// Run `fut` on the next worker; `tracker` tracks it.
    pub(crate) fn spawn<F>(&self, tracker: &tokio_util::task::TaskTracker, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tracker.spawn_on(fut, self.pick())); // tracked, not awaited
    }

    /// End every worker (tasks still on them are dropped) and wait for their threads.
    pub(crate) async fn stop(mut self) {
        self.exits.clear();
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work spawned on the workers runs there (one thread per worker, round robin), and
    /// `stop` ends them all.
    #[tokio::test]
    async fn connections_are_spread_and_stopped() {
        let w = Workers::start(2).unwrap();
        assert_eq!(w.len(), 2);
        let tracker = tokio_util::task::TaskTracker::new();
        let names = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        for _ in 0..4 {
            let names = names.clone();
            w.spawn(&tracker, async move {
                tokio::task::yield_now().await;
                let name = std::thread::current().name().unwrap_or("").to_string();
                names.lock().push(name);
            });
        }
        tracker.close();
        tracker.wait().await;
        let mut got = names.lock().clone();
        got.sort();
        assert_eq!(got, ["grpc-worker-0", "grpc-worker-0", "grpc-worker-1", "grpc-worker-1"]);
        tokio::time::timeout(std::time::Duration::from_secs(5), w.stop()).await.unwrap();
    }
}
