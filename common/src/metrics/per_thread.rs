//! Counters sharded per thread, summed at scrape time: the request path's way of counting.
//!
//! A shared atomic counter costs a locked read-modify-write per add (~6-9 ns on this project's
//! VM) and bounces its cache line between the cores that serve requests. A [`PerThread`] value
//! is written by one thread only, so an add is a plain load and store ([`owned_add`], ~1 ns);
//! the scrape reads every thread's value and sums them.
//!
//! Why only one thread writes a value: [`PerThread::local`] hands each thread its own value
//! (`thread_local::ThreadLocal`). A value outlives its thread and is handed to a later thread
//! only after the first exited (its id is recycled through a mutex, which orders the old
//! owner's writes before the new owner's), so counts are never lost or decremented.

use std::sync::atomic::{AtomicU64, Ordering};

use thread_local::ThreadLocal;

/// One `T` per thread that ever wrote to it; see the module docs.
pub struct PerThread<T: Send>(ThreadLocal<T>);

impl<T: Send> Default for PerThread<T> {
    fn default() -> Self {
        PerThread(ThreadLocal::new())
    }
}

impl<T: Send> std::fmt::Debug for PerThread<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerThread").finish_non_exhaustive()
    }
}

impl<T: Send + Default> PerThread<T> {
    /// This thread's value (created on its first use). Write it with [`owned_add`] and do
    /// not keep the reference across an `.await` (the task may resume on another thread).
    #[inline]
    pub fn local(&self) -> &T {
        self.0.get_or_default()
    }
}

impl<T: Send + Sync> PerThread<T> {
    /// Every thread's value, for the scrape.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }
}

/// Add to a counter only the calling thread writes (a [`PerThread`] value): a plain load and
/// store, no locked instruction. Readers on other threads see a value that only grows.
#[inline]
pub fn owned_add(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Sum of one counter over every thread's value.
pub fn sum<T: Send + Sync>(p: &PerThread<T>, f: impl Fn(&T) -> &AtomicU64) -> u64 {
    p.iter().map(|t| f(t).load(Ordering::Relaxed)).fold(0, u64::wrapping_add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_count_apart_and_sum_whole() {
        let p: Arc<PerThread<AtomicU64>> = Arc::default();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        owned_add(p.local(), 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // A thread started after the others exited may reuse one of their values: it
        // continues from that count.
        let p2 = p.clone();
        std::thread::spawn(move || owned_add(p2.local(), 5)).join().unwrap();
        assert_eq!(sum(&p, |c| c), 40_005);
    }
}
