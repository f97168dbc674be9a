//! The put lock and the write token only it can make.
//!
//! Every byte the store writes into a mapped file is written by the holder of the put lock:
//! appends to the commit log, consume-queue units and index entries (dispatch runs under the
//! lock), and the repairs of recovery and replication truncation. [`MappedFile`]'s writing
//! methods take a [`WriteToken`], which exists only while the lock is held, so "one writer"
//! is a fact the compiler checks rather than a comment callers must honour.
//!
//! [`MappedFile`]: super::mapped_file::MappedFile

use std::cell::{RefCell, RefMut};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

/// The single-appender lock of a store. It owns the writer's encoding buffer (see
/// [`WriteToken::scratch`]), so that buffer needs no lock of its own and is reused by every
/// put.
#[derive(Default)]
pub struct PutLock(Mutex<RefCell<Vec<u8>>>);

/// Proof that the put lock is held: the right to write into mapped files. It cannot be
/// built elsewhere, cloned or sent to another thread.
pub struct WriteToken<'a> {
    guard: MutexGuard<'a, RefCell<Vec<u8>>>,
}

/// A scratch buffer that grew past this is given back after use (a rare 4 MiB message must
/// not pin 4 MiB for the broker's lifetime).
const SCRATCH_KEEP: usize = 1 << 20;

impl PutLock {
    /// Take the lock (blocking).
    pub fn lock(&self) -> WriteToken<'_> {
        WriteToken { guard: self.0.lock() }
    }

    /// Take the lock, waiting at most `d`.
    pub fn try_lock_for(&self, d: Duration) -> Option<WriteToken<'_>> {
        self.0.try_lock_for(d).map(|guard| WriteToken { guard })
    }
}

impl WriteToken<'_> {
    /// The writer's reusable buffer, `len` bytes long, holding whatever an earlier put left
    /// there (zeros where it grew): the caller overwrites all of it (records are encoded into
    /// it whole, then written to a file with one `pwrite`, commit log in pwrite mode), so
    /// clearing it first would be one wasted memset per put. Panics if it is borrowed twice at
    /// once (a writing method called from inside another's encoder).
    pub fn scratch(&self, len: usize) -> Scratch<'_> {
        let mut buf = self.guard.borrow_mut();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        Scratch(buf, len)
    }
}

/// A borrowed scratch buffer of the requested length (see [`WriteToken::scratch`]); shrinks
/// the buffer on drop if it grew big.
pub struct Scratch<'a>(RefMut<'a, Vec<u8>>, usize);

impl std::ops::Deref for Scratch<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0[..self.1]
    }
}

impl std::ops::DerefMut for Scratch<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let len = self.1;
        &mut self.0[..len]
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if self.0.capacity() > SCRATCH_KEEP {
            self.0.truncate(SCRATCH_KEEP);
            self.0.shrink_to(SCRATCH_KEEP);
        }
    }
}
