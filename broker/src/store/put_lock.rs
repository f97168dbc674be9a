//! The put lock and the write token only it can make.
//!
//! Every byte the store writes into a mapped file is written by the holder of the put lock:
//! appends to the commit log, consume-queue units and index entries (dispatch runs under the
//! lock), and the repairs of recovery and replication truncation. [`MappedFile`]'s writing
//! methods take a [`WriteToken`], which exists only while the lock is held, so "one writer"
//! is a fact the compiler checks rather than a comment callers must honour.
//!
//! [`MappedFile`]: super::mapped_file::MappedFile

use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

/// The single-appender lock of a store.
#[derive(Default)]
pub struct PutLock(Mutex<()>);

/// Proof that the put lock is held: the right to write into mapped files. It cannot be
/// built elsewhere, cloned or sent to another thread.
pub struct WriteToken<'a> {
    _guard: MutexGuard<'a, ()>,
}

impl PutLock {
    /// Take the lock (blocking).
    pub fn lock(&self) -> WriteToken<'_> {
        WriteToken { _guard: self.0.lock() }
    }

    /// Take the lock, waiting at most `d`.
    pub fn try_lock_for(&self, d: Duration) -> Option<WriteToken<'_>> {
        self.0.try_lock_for(d).map(|g| WriteToken { _guard: g })
    }
}
