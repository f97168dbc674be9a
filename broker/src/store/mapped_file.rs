//! One pre-sized, memory-mapped file of a log (commit log or consume queue).
//!
//! Concurrency contract: exactly one writer (the holder of the store's put lock) appends at
//! `wrote_position`, then publishes the new position with `Release`. Readers load it with
//! `Acquire` and only ever touch bytes below it, so readers and the writer never access the same
//! bytes concurrently. Bytes below the published position are never modified again while the
//! store runs (recovery truncation happens before any reader exists), which is what makes
//! zero-copy [`Bytes`] slices of the mapping sound.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{Advice, MmapRaw};

/// Width of file names: 20 decimal digits of the start offset.
pub const FILE_NAME_WIDTH: usize = 20;

/// File name of a file starting at `offset`.
pub fn offset_to_file_name(offset: i64) -> String {
    format!("{:0width$}", offset, width = FILE_NAME_WIDTH)
}

/// Size `file` to `size` bytes with its disk blocks reserved (`posix_fallocate`), so a full
/// disk is an error here, at file creation, instead of a SIGBUS that kills the broker when an
/// append first touches a page of a sparse file (seen on the shared project disk at 100%).
/// Falls back to a sparse `set_len` where the filesystem cannot preallocate.
fn reserve(file: &File, size: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: plain syscall on a valid fd.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size as libc::off_t) };
        match rc {
            0 => return Ok(()),
            libc::EOPNOTSUPP | libc::EINVAL => {}
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
    file.set_len(size)
}

/// A memory-mapped file.
pub struct MappedFile {
    path: PathBuf,
    from_offset: i64,
    size: usize,
    map: MmapRaw,
    _file: File,
    wrote: AtomicUsize,
    flushed: AtomicUsize,
    /// Set when the file is removed from its queue; the mapping lives until the last reader drops
    /// its `Arc`.
    removed: AtomicBool,
    /// Bytes `[0, warmed_to)` are known warm (page tables populated writable).
    warmed_to: AtomicUsize,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("wrote", &self.wrote_position())
            .finish()
    }
}

impl MappedFile {
    /// Open or create `dir/<20-digit offset>` sized `size` bytes and map it. The write position
    /// starts at 0; recovery sets it.
    pub fn open(dir: &Path, from_offset: i64, size: usize) -> io::Result<MappedFile> {
        let path = dir.join(offset_to_file_name(from_offset));
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        let len = file.metadata()?.len();
        if len != size as u64 {
            if len > size as u64 {
                tracing::warn!(
                    ?path,
                    len,
                    size,
                    "file larger than configured size; using it as is"
                );
            }
            if len < size as u64 {
                reserve(&file, size as u64)?;
            }
        }
        let size = file.metadata()?.len() as usize;
        let map = MmapRaw::map_raw(&file)?;
        Ok(MappedFile {
            path,
            from_offset,
            size,
            map,
            _file: file,
            wrote: AtomicUsize::new(0),
            flushed: AtomicUsize::new(0),
            removed: AtomicBool::new(false),
            warmed_to: AtomicUsize::new(0),
        })
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Absolute offset of the first byte.
    pub fn from_offset(&self) -> i64 {
        self.from_offset
    }

    /// File size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Published write position (bytes in use).
    pub fn wrote_position(&self) -> usize {
        self.wrote.load(Ordering::Acquire)
    }

    /// Set the write position (writer / recovery only). Also clamps the flushed position.
    pub fn set_wrote_position(&self, pos: usize) {
        let pos = pos.min(self.size);
        self.wrote.store(pos, Ordering::Release);
        if self.flushed.load(Ordering::Acquire) > pos {
            self.flushed.store(pos, Ordering::Release);
        }
    }

    /// Position up to which data is known flushed.
    pub fn flushed_position(&self) -> usize {
        self.flushed.load(Ordering::Acquire)
    }

    /// Mark the whole written prefix as flushed (used after recovery of a clean store).
    pub fn set_flushed_position(&self, pos: usize) {
        self.flushed.store(pos.min(self.size), Ordering::Release);
    }

    /// Free bytes after the write position.
    pub fn remaining(&self) -> usize {
        self.size - self.wrote_position()
    }

    /// Whether the file is full.
    pub fn is_full(&self) -> bool {
        self.wrote_position() >= self.size
    }

    /// Whether it was removed from its queue.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Write `len` bytes at the write position through `f`, then publish them.
    ///
    /// Caller must be the single writer. Panics never: returns false if it does not fit.
    pub fn append_with(&self, len: usize, f: impl FnOnce(&mut [u8])) -> bool {
        let pos = self.wrote.load(Ordering::Acquire);
        if pos + len > self.size {
            return false;
        }
        // SAFETY: [pos, pos+len) is beyond the published position, so no reader references
        // it, and the single-writer rule means nobody else writes it. The mapping is valid for
        // `size` bytes for the lifetime of self.
        let dst = unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), len) };
        f(dst);
        self.wrote.store(pos + len, Ordering::Release);
        true
    }

    /// Overwrite bytes at `pos` (recovery/consume-queue repair only, before readers exist or
    /// beyond the published position).
    pub fn write_at(&self, pos: usize, data: &[u8]) -> bool {
        if pos + data.len() > self.size {
            return false;
        }
        // SAFETY: bounds checked; callers guarantee no concurrent reader of this range.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.map.as_mut_ptr().add(pos), data.len())
        };
        true
    }

    /// Zero `[from, size)` (truncating a torn tail so a later scan stops at `from`).
    ///
    /// The page-aligned bulk is zeroed with `fallocate(FALLOC_FL_ZERO_RANGE)`: a metadata
    /// operation that keeps the blocks reserved and drops the range from the page cache (so the
    /// mapping reads zeros), instead of faulting in and dirtying up to a whole 1 GiB file, which
    /// made crash recovery write back hundreds of MB. Falls back to writing zeros through the
    /// mapping where the filesystem does not support it.
    pub fn zero_from(&self, from: usize) {
        if from >= self.size {
            return;
        }
        let aligned = from.div_ceil(4096) * 4096;
        let head_end = aligned.min(self.size);
        // SAFETY: in bounds; called during recovery before readers exist.
        unsafe { std::ptr::write_bytes(self.map.as_mut_ptr().add(from), 0, head_end - from) };
        if head_end >= self.size {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: plain syscall on our open fd with an in-bounds range.
            let rc = unsafe {
                libc::fallocate(
                    self._file.as_raw_fd(),
                    libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
                    head_end as libc::off_t,
                    (self.size - head_end) as libc::off_t,
                )
            };
            if rc == 0 {
                return;
            }
        }
        // SAFETY: in bounds; called during recovery before readers exist.
        unsafe {
            std::ptr::write_bytes(self.map.as_mut_ptr().add(head_end), 0, self.size - head_end)
        };
    }

    /// Borrow `[pos, pos+len)` of the whole mapping (not limited to the write position).
    /// Used by recovery scans and the single writer.
    pub fn slice(&self, pos: usize, len: usize) -> Option<&[u8]> {
        if pos.checked_add(len)? > self.size {
            return None;
        }
        // SAFETY: in bounds; see the module contract about concurrent access.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// Zero-copy `Bytes` of `[pos, pos+len)`, only if below the published write position.
    /// Keeps the mapping alive through an `Arc`.
    pub fn read_bytes(self: &Arc<Self>, pos: usize, len: usize) -> Option<Bytes> {
        if pos.checked_add(len)? > self.wrote_position() {
            return None;
        }
        Some(Bytes::from_owner(MapSlice { file: self.clone(), pos, len }))
    }

    /// Read a big-endian i32 below the write position.
    pub fn read_i32(&self, pos: usize) -> Option<i32> {
        if pos + 4 > self.wrote_position() {
            return None;
        }
        let b = self.slice(pos, 4)?;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// msync `[flushed, wrote)` and advance the flushed position. Returns the new flushed
    /// position. Errors must poison the store: the kernel may have dropped the dirty pages.
    pub fn flush(&self) -> io::Result<usize> {
        let wrote = self.wrote_position();
        let flushed = self.flushed_position();
        if wrote > flushed {
            // msync needs a page-aligned start; MmapRaw::flush_range aligns for us.
            self.map.flush_range(flushed, wrote - flushed)?;
            self.flushed.store(wrote, Ordering::Release);
        }
        Ok(wrote)
    }

    /// Flush the whole mapping regardless of positions (consume queue / index style files).
    pub fn flush_all(&self) -> io::Result<()> {
        self.map.flush()
    }

    /// Turn fault readahead off for the whole mapping (`MADV_RANDOM`), for files appended in
    /// small units and read at random offsets: consume queues and index files.
    ///
    /// Why: a fault on a page that is not cached reads around it, up to the device's
    /// `read_ahead_kb` (8 MiB on this project's VM disk; the Linux default is 128 KiB). In a
    /// preallocated file that "read" is the kernel zero-filling that much page cache in one
    /// call with no preemption point (13-27 ms of a CPU there), and for these files it ran
    /// inline on the send path: dispatch appends the consume-queue unit and the index entry on
    /// the connection's task (`perf record -e major-faults`: `ConsumeQueue::append_unit`,
    /// `IndexFile::put_key`). With readahead off such a fault costs one page.
    ///
    /// The commit log keeps readahead: its warmer ([`MappedFile::warm_range`]) relies on it
    /// for large page-cache folios (see there).
    pub fn fault_readahead_off(&self) {
        if let Err(e) = self.map.advise(Advice::Random) {
            tracing::debug!(%e, "MADV_RANDOM failed; faults keep reading ahead");
        }
    }

    /// Prefault page tables writable for `[from, size)` without changing content, so later
    /// appends do not take first-touch faults. Safe to run concurrently with the writer because
    /// `MADV_POPULATE_WRITE` never modifies data. Falls back to nothing on old kernels.
    pub fn warm(&self, from: usize) {
        self.warm_range(from, self.size);
    }

    /// [`MappedFile::warm`] for `[from, to)`, skipping what was already warmed.
    ///
    /// Latency cost, known and measured: each populate fault on an uncached page reads around
    /// it, i.e. zero-fills up to `read_ahead_kb` of page cache in one non-preemptible call. With
    /// the Linux default (128 KiB) that is ~0.3 ms; on a device set to 8 MiB (this project's VM)
    /// it is 13-27 ms of a CPU every 8 MiB appended, which is what bounds e2e p99 there (see
    /// `bench/RESULTS.md`). Zero-filling with bounded `write(2)`s instead fixes the latency but
    /// yields order-0 folios, and msync writeback then pays a TLB-shootdown IPI per 4 KiB page:
    /// -18..-30% batch throughput (branch `exp-zero-fill-warm`). The
    /// pre-allocator warms a window ahead of the writer rather than a whole 1 GiB file at once:
    /// warming costs ~0.4-1 s of CPU per GiB (zero-filling page cache), which on a 2-core box
    /// competed with the first seconds of traffic after every start.
    pub fn warm_range(&self, from: usize, to: usize) {
        let page = 4096usize;
        // Page-aligned bounds: madvise needs an aligned start, and `warmed_to` becomes the
        // next start.
        let to = to.div_ceil(page).saturating_mul(page).min(self.size);
        let start = ((from / page) * page).max(self.warmed_to.load(Ordering::Acquire));
        if start >= to {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            let chunk = 4 * 1024 * 1024;
            let mut at = start;
            while at < to {
                if self.is_removed() {
                    return;
                }
                let len = chunk.min(to - at);
                // SAFETY: madvise on a range of our own mapping; POPULATE_WRITE is content
                // preserving.
                let rc = unsafe {
                    libc::madvise(
                        self.map.as_mut_ptr().add(at) as *mut libc::c_void,
                        len,
                        libc::MADV_POPULATE_WRITE,
                    )
                };
                if rc != 0 {
                    tracing::debug!(err = %io::Error::last_os_error(), "MADV_POPULATE_WRITE failed; not warming");
                    // Do not retry forever on kernels without it.
                    self.warmed_to.store(self.size, Ordering::Release);
                    return;
                }
                at += len;
                self.warmed_to.fetch_max(at, Ordering::AcqRel);
            }
        }
        #[cfg(not(target_os = "linux"))]
        self.warmed_to.fetch_max(to, Ordering::AcqRel);
    }

    /// Mark removed and delete the file from disk; the mapping stays valid for existing readers.
    pub fn destroy(&self) -> io::Result<()> {
        self.removed.store(true, Ordering::Release);
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Last-modified time of the file in ms since the epoch (0 if unknown).
    pub fn last_modified_ms(&self) -> i64 {
        std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// Owner of a zero-copy slice of a mapping.
struct MapSlice {
    file: Arc<MappedFile>,
    pos: usize,
    len: usize,
}

impl AsRef<[u8]> for MapSlice {
    fn as_ref(&self) -> &[u8] {
        // Bounds were checked at construction; bytes below the write position are immutable.
        self.file.slice(self.pos, self.len).unwrap_or(&[])
    }
}

impl MappedFile {
    /// An atomic view of the 4-byte-aligned i32 at `pos` (index hash slots, which readers load
    /// while the writer stores). The value is stored big-endian in the file; callers convert.
    pub fn atomic_i32(&self, pos: usize) -> Option<&std::sync::atomic::AtomicI32> {
        if pos & 3 != 0 || pos + 4 > self.size {
            return None;
        }
        // SAFETY: in bounds, 4-byte aligned (mapping is page aligned), and AtomicI32 has the
        // same layout as i32. Lives as long as &self (the mapping).
        Some(unsafe { &*(self.map.as_ptr().add(pos) as *const std::sync::atomic::AtomicI32) })
    }
}

impl MappedFile {
    /// Open (or create) a file at an explicit path (index files, which are named by time).
    /// `from_offset` is 0 and the write position is the whole file.
    pub fn open_path(path: &Path, size: usize) -> io::Result<MappedFile> {
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        if file.metadata()?.len() < size as u64 {
            file.set_len(size as u64)?;
        }
        let size = file.metadata()?.len() as usize;
        let map = MmapRaw::map_raw(&file)?;
        let f = MappedFile {
            path: path.to_path_buf(),
            from_offset: 0,
            size,
            map,
            _file: file,
            wrote: AtomicUsize::new(size),
            flushed: AtomicUsize::new(size),
            removed: AtomicBool::new(false),
            warmed_to: AtomicUsize::new(0),
        };
        // Index files are hash tables written and probed at random slots.
        f.fault_readahead_off();
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_read_flush() {
        let dir = tempfile::tempdir().unwrap();
        let f = Arc::new(MappedFile::open(dir.path(), 1024, 4096).unwrap());
        assert_eq!(f.path().file_name().unwrap(), "00000000000000001024");
        assert!(f.append_with(5, |b| b.copy_from_slice(b"hello")));
        assert_eq!(f.read_bytes(0, 5).unwrap(), Bytes::from_static(b"hello"));
        assert!(f.read_bytes(0, 6).is_none());
        assert!(!f.append_with(5000, |_| {}));
        f.warm_range(5, 100); // unaligned end: rounded to a page, next start stays aligned
        assert_eq!(f.warmed_to.load(Ordering::Acquire), 4096.min(f.size()));
        f.warm(0);
        assert_eq!(f.flush().unwrap(), 5);
        let b = f.read_bytes(1, 3).unwrap();
        f.destroy().unwrap();
        assert_eq!(&b[..], b"ell");
    }

    #[test]
    fn zero_from_clears_the_tail_through_the_mapping_and_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let f = MappedFile::open(dir.path(), 0, 64 * 1024).unwrap();
        f.warm(0);
        // SAFETY: test owns the only mapping.
        unsafe { std::ptr::write_bytes(f.map.as_mut_ptr(), 0xAB, f.size()) };
        f.flush_all().unwrap();
        f.zero_from(1000); // unaligned start: head written, aligned rest by fallocate
        let m = f.slice(0, f.size()).unwrap();
        assert!(m[..1000].iter().all(|&b| b == 0xAB));
        assert!(m[1000..].iter().all(|&b| b == 0), "mapping shows zeros");
        drop(f);
        let disk = std::fs::read(dir.path().join("00000000000000000000")).unwrap();
        assert_eq!(disk.len(), 64 * 1024);
        assert!(disk[..1000].iter().all(|&b| b == 0xAB));
        assert!(disk[1000..].iter().all(|&b| b == 0), "file shows zeros");
    }
}
