//! One fixed-size, memory-mapped file of a log (commit log, consume queue or index).
//!
//! Soundness contract, enforced by types where it can be:
//! * **One writer.** Every method that writes the mapping ([`MappedFile::append_with`],
//!   [`MappedFile::write_at`], [`MappedFile::zero_from`], [`MappedFile::set_wrote_position`])
//!   takes a [`WriteToken`], which only the store's put lock makes.
//! * **Readers see only published bytes.** The writer publishes the write position with
//!   `Release` after writing; readers load it with `Acquire` and touch only bytes below it
//!   ([`MappedFile::written`], [`MappedFile::read_bytes`]). Published bytes are never modified
//!   while a reader may hold them: truncation zeroes in place only a file nobody else holds
//!   (see [`MappedFile::zero_from`]); otherwise the queue replaces the file by a copy of the
//!   kept prefix and old readers keep the old, unlinked mapping.
//! * **Backed before written.** A write first makes sure the disk blocks under it exist
//!   ([`MappedFile::ensure_backed`], `fallocate`, or `pwrite` of zeros where the filesystem
//!   cannot preallocate). Storing through a mapping into a hole of a full filesystem raises
//!   SIGBUS and kills the process; allocating first turns a full disk into an error for that
//!   one put. Commit-log files are backed whole at creation (off the append path, by the
//!   pre-allocator); consume-queue and index files are sparse and backed in small steps as they
//!   fill, so disk use grows with data, not with the number of queues.
//! * **No file descriptor is kept** in mapping mode: the mapping needs none, and the rare
//!   backing or truncation step reopens the file by path. Ten thousand queues cost no
//!   descriptors. In pwrite mode ([`WriteVia::Pwrite`], commit-log files only: a handful of
//!   1 GiB files) each file keeps its descriptor for the writes.
//! * **Pwrite mode maps read-only.** [`WriteVia::Pwrite`] writes with `pwrite(2)` through the
//!   file descriptor into the page cache and maps the file `PROT_READ`: the variant holds a
//!   read-only [`Mmap`], which has no mutable pointer, so a stray store through the mapping
//!   does not compile. Readers see a pwrite at once (one page cache).
//! * **Sizes are fixed.** Files are created under a temporary name, sized and backed, then
//!   linked to their final name (never replacing an existing file); an existing file whose size
//!   is not the configured one is refused ([`MappedFile::open_existing`]), never resized.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{Advice, Mmap, MmapOptions, MmapRaw};

use super::put_lock::WriteToken;
use super::sys;

/// Width of file names: 20 decimal digits of the start offset.
pub const FILE_NAME_WIDTH: usize = 20;

const PAGE: usize = 4096;

/// File name of a file starting at `offset`.
pub fn offset_to_file_name(offset: i64) -> String {
    format!("{:0width$}", offset, width = FILE_NAME_WIDTH)
}

/// How a file's disk blocks are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// Reserve the whole file at creation (commit log: created ahead of the writer).
    Whole,
    /// Sparse file; reserve `prefix` bytes at creation, then `step` bytes at a time ahead of
    /// the writer (consume queues, index entries).
    Steps {
        /// bytes backed at creation (an index file's header and hash slots)
        prefix: usize,
        /// bytes backed per step after that
        step: usize,
    },
}

/// How the store writes a file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteVia {
    /// Memory stores into a shared writable mapping (consume queues and index always; the
    /// commit log with `commitLogPwriteEnable=false`, not the default).
    #[default]
    Mapping,
    /// `pwrite(2)` through the file descriptor; the mapping is read-only (commit log with
    /// `commitLogPwriteEnable=true`, the default). Why: pages that are never mapped writable need no
    /// write-protect (and no TLB shootdown) at writeback, and a buffered write allocates the
    /// page-cache folio itself, so no pre-fault (whose read-around zero-fills `read_ahead_kb`
    /// of page cache in one non-preemptible call) is needed. See `docs/store.md`.
    Pwrite,
}

/// `pwrite` all of `data` at `pos` (looped on a short write). If that fails part-way, the
/// first 4 bytes at `pos` (where the record's TOTALSIZE goes: writes start at a record
/// boundary) are zeroed, best effort: a recovery scan after a crash then ends at `pos` instead
/// of finding a record whose unwritten tail reads as zeros (its body CRC does not cover the
/// properties). Rewriting 4 bytes of a page the failed write already reached needs no new block.
fn pwrite_whole(file: &File, data: &[u8], pos: usize) -> io::Result<()> {
    file.write_all_at(data, pos as u64).inspect_err(|_| {
        let n = data.len().min(4);
        let _ = file.write_all_at(&[0u8; 4][..n], pos as u64);
    })
}

/// The mapping, and how writes reach the file.
enum Map {
    /// Shared writable mapping: writes are memory stores.
    Writable(MmapRaw),
    /// Read-only shared mapping for readers; writes go through `file` with `pwrite`.
    ReadOnly { map: Mmap, file: File },
}

impl Map {
    fn new(file: &File, via: WriteVia) -> io::Result<Self> {
        Ok(match via {
            WriteVia::Mapping => Map::Writable(MmapRaw::map_raw(file)?),
            WriteVia::Pwrite => {
                // The descriptor is opened read-write (writes, fdatasync); mapped PROT_READ.
                // SAFETY: the file is ours; its bytes change only through this process's
                // writer, under the module contract (readers touch published bytes only).
                let map = unsafe { MmapOptions::new().map(file)? };
                Map::ReadOnly { map, file: file.try_clone()? }
            }
        })
    }

    fn as_ptr(&self) -> *const u8 {
        match self {
            Map::Writable(m) => m.as_ptr(),
            Map::ReadOnly { map, .. } => map.as_ptr(),
        }
    }

    fn advise(&self, a: Advice) -> io::Result<()> {
        match self {
            Map::Writable(m) => m.advise(a),
            Map::ReadOnly { map, .. } => map.advise(a),
        }
    }
}

/// A memory-mapped file.
pub struct MappedFile {
    path: PathBuf,
    from_offset: i64,
    size: usize,
    map: Map,
    wrote: AtomicUsize,
    flushed: AtomicUsize,
    /// Set when the file leaves its queue; the mapping lives until the last reader drops it.
    removed: AtomicBool,
    /// Set when a copy replaced this file on disk: `destroy` must not unlink the copy.
    replaced: AtomicBool,
    /// Bytes `[0, warmed_to)` are known warm (page tables populated writable).
    warmed_to: AtomicUsize,
    /// Bytes `[0, backed_to)` are known to have disk blocks (only grows, except on truncation).
    backed_to: AtomicUsize,
    backing: Backing,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("wrote", &self.wrote_position())
            .finish()
    }
}

/// An error naming a file whose size is not the configured one.
fn wrong_size(path: &Path, len: u64, size: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{} is {len} bytes but the configured file size is {size}: the store was written \
             with other settings (restore them) or the file is damaged; it is not used, not \
             renamed and not changed",
            path.display()
        ),
    )
}

fn write_zeros(f: &File, from: u64, len: u64) -> io::Result<()> {
    let zeros = vec![0u8; PAGE.min(len as usize).max(1)];
    let mut at = from;
    while at < from + len {
        let n = zeros.len().min((from + len - at) as usize);
        f.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Make sure `[from, to)` of the new file `f` has disk blocks.
fn back_new(f: &File, from: usize, to: usize) -> io::Result<()> {
    if to > from && !sys::allocate(f, from as u64, (to - from) as u64)? {
        // No fallocate here: writing zeros allocates too, and fails with ENOSPC, not SIGBUS.
        write_zeros(f, from as u64, (to - from) as u64)?;
    }
    Ok(())
}

impl MappedFile {
    fn map_file(
        path: PathBuf,
        file: &File,
        from_offset: i64,
        (backing, via): (Backing, WriteVia),
    ) -> io::Result<Self> {
        let size = file.metadata()?.len() as usize;
        let map = Map::new(file, via)?;
        Ok(MappedFile {
            path,
            from_offset,
            size,
            map,
            wrote: AtomicUsize::new(0),
            flushed: AtomicUsize::new(0),
            removed: AtomicBool::new(false),
            replaced: AtomicBool::new(false),
            warmed_to: AtomicUsize::new(0),
            backed_to: AtomicUsize::new(0),
            backing,
        })
    }

    /// Create `path` with `size` bytes, backed as `backing` says, and map it for writes
    /// `via`. The file appears under its name only once sized and backed, and never replaces
    /// an existing file (an `AlreadyExists` error then). Nothing is left behind on error.
    pub fn create(
        path: &Path,
        from_offset: i64,
        size: usize,
        (backing, via): (Backing, WriteVia),
    ) -> io::Result<Self> {
        let tmp = path.with_extension("creating");
        let made = (|| -> io::Result<(File, usize)> {
            let f =
                OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp)?;
            f.set_len(size as u64)?;
            let prefix = match backing {
                Backing::Whole => size,
                Backing::Steps { prefix, step } => (prefix + step).min(size),
            };
            back_new(&f, 0, prefix)?;
            std::fs::hard_link(&tmp, path)?;
            Ok((f, prefix))
        })();
        let _ = std::fs::remove_file(&tmp);
        let (f, prefix) = made?;
        let m = Self::map_file(path.to_path_buf(), &f, from_offset, (backing, via))?;
        m.backed_to.store(prefix, Ordering::Release);
        Ok(m)
    }

    /// Map an existing file, which must be exactly `size` bytes (Java refuses other sizes too:
    /// a size change means the store was written with other settings). The write position is
    /// the whole file; recovery sets the real one.
    pub fn open_existing(
        path: &Path,
        from_offset: i64,
        size: usize,
        (backing, via): (Backing, WriteVia),
    ) -> io::Result<Self> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        let len = f.metadata()?.len();
        if len != size as u64 {
            return Err(wrong_size(path, len, size));
        }
        let m = Self::map_file(path.to_path_buf(), &f, from_offset, (backing, via))?;
        m.wrote.store(size, Ordering::Release);
        m.flushed.store(size, Ordering::Release);
        // Blocks exist up to the first hole (files written by older versions, or by Java, may
        // be sparse); later writes back what they touch beyond it.
        m.backed_to.store(sys::first_hole(&f).unwrap_or(0).min(len) as usize, Ordering::Release);
        Ok(m)
    }

    /// How this file is written.
    pub fn write_via(&self) -> WriteVia {
        match self.map {
            Map::Writable(_) => WriteVia::Mapping,
            Map::ReadOnly { .. } => WriteVia::Pwrite,
        }
    }

    /// Write `data` at `pos` (bounds checked and backed by the caller): a memory copy into the
    /// writable mapping, or one `pwrite` (looped on a short write) in pwrite mode.
    fn put_bytes(&self, _t: &WriteToken<'_>, pos: usize, data: &[u8]) -> io::Result<()> {
        match &self.map {
            // SAFETY: bounds checked and backed by the callers; single writer (token); the
            // bytes are past the published position or (index) tolerated torn by readers.
            Map::Writable(m) => unsafe {
                std::ptr::copy_nonoverlapping(data.as_ptr(), m.as_mut_ptr().add(pos), data.len());
            },
            Map::ReadOnly { file, .. } => pwrite_whole(file, data, pos)?,
        }
        Ok(())
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

    /// Set the write position (recovery, truncation). Also clamps the flushed position.
    pub fn set_wrote_position(&self, _t: &WriteToken<'_>, pos: usize) {
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

    /// Declare `[0, pos)` flushed (after recovery of a clean store).
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

    /// Whether it left its queue.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// Make sure the disk blocks under `[from, end)` exist before they are written; `from`
    /// is where the caller's write starts (nothing at or after it is in use). Backs a step
    /// ahead so the common case is one atomic load. An error here (ENOSPC) means the write
    /// must not happen.
    pub fn ensure_backed(&self, _t: &WriteToken<'_>, from: usize, end: usize) -> io::Result<()> {
        if end <= self.backed_to.load(Ordering::Acquire) {
            return Ok(());
        }
        if end > self.size {
            return Err(io::Error::other("write past the end of a mapped file"));
        }
        let target = match self.backing {
            Backing::Whole => self.size,
            Backing::Steps { step, .. } => end.div_ceil(step).saturating_mul(step).min(self.size),
        };
        let f = OpenOptions::new().write(true).open(&self.path)?;
        if !sys::allocate(&f, from as u64, (target - from) as u64)? {
            // No fallocate here: write the range's current bytes back (zeros where it is a
            // hole), which allocates without changing data, and fails with ENOSPC, not SIGBUS.
            // The token excludes concurrent writes to the range.
            // SAFETY: in bounds; only this (token-holding) writer changes these bytes.
            let cur =
                unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(from), target - from) };
            // A copy first: pwrite from a mapping of the very pages it writes is best avoided.
            #[allow(clippy::unnecessary_to_owned)]
            f.write_all_at(&cur.to_vec(), from as u64)?;
        }
        self.backed_to.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Write `len` bytes at the write position through `f`, then publish them. `Ok(false)`:
    /// they do not fit; `Err`: the disk blocks could not be allocated or the write failed
    /// (nothing published; in pwrite mode part of the bytes may be in the file past the write
    /// position, where the next append overwrites them and a recovery scan stops at them).
    ///
    /// Mapping mode: `f` writes straight into the mapping. Pwrite mode: `f` writes into the
    /// put lock's scratch buffer, which goes to the file with one `pwrite` before the position
    /// is published, so an acknowledged record is in the page cache (it survives kill -9).
    /// Either way `f` must write all `len` bytes: the scratch buffer is not cleared first.
    pub fn append_with(
        &self,
        t: &WriteToken<'_>,
        len: usize,
        f: impl FnOnce(&mut [u8]),
    ) -> io::Result<bool> {
        let pos = self.wrote.load(Ordering::Acquire);
        if pos + len > self.size {
            return Ok(false);
        }
        self.ensure_backed(t, pos, pos + len)?;
        match &self.map {
            Map::Writable(m) => {
                // SAFETY: [pos, pos+len) is beyond the published position, so no reader
                // references it, and the token proves we are the only writer. The mapping is
                // valid for `size` bytes for the lifetime of self, and the range has disk
                // blocks (no SIGBUS).
                let dst = unsafe { std::slice::from_raw_parts_mut(m.as_mut_ptr().add(pos), len) };
                f(dst);
            }
            Map::ReadOnly { file, .. } => {
                let mut buf = t.scratch(len);
                f(&mut buf);
                pwrite_whole(file, &buf, pos)?;
            }
        }
        self.wrote.store(pos + len, Ordering::Release);
        Ok(true)
    }

    /// Publish `len` bytes at the write position of which only the first, `head`, are written;
    /// the rest keep what the file holds there (zeros in a new file). The commit log's
    /// end-of-file blank marker: 8 bytes that stand for the file's unused tail.
    pub fn append_head(&self, t: &WriteToken<'_>, len: usize, head: &[u8]) -> io::Result<bool> {
        let pos = self.wrote.load(Ordering::Acquire);
        if pos + len > self.size {
            return Ok(false);
        }
        let head = &head[..head.len().min(len)];
        self.ensure_backed(t, pos, pos + head.len())?;
        self.put_bytes(t, pos, head)?;
        self.wrote.store(pos + len, Ordering::Release);
        Ok(true)
    }

    /// Overwrite bytes at `pos` in place: index slots and headers, whose readers use atomics
    /// or tolerate a torn value (see `index.rs`).
    pub fn write_at(&self, t: &WriteToken<'_>, pos: usize, data: &[u8]) -> io::Result<()> {
        if pos + data.len() > self.size {
            return Err(io::Error::other("write past the end of a mapped file"));
        }
        self.ensure_backed(t, pos, pos + data.len())?;
        self.put_bytes(t, pos, data)
    }

    /// Zero `[from, size)` in place and make `from` the write position, so a later scan stops
    /// there. Refused (`Ok(false)`) unless `self` is the only handle on this file: then no
    /// reader can hold the bytes being zeroed (the caller replaces the file instead, see
    /// [`MappedFile::copy_prefix`]).
    ///
    /// The page-aligned bulk is zeroed by punching a hole (`FALLOC_FL_PUNCH_HOLE`): a metadata
    /// operation that drops the range from the page cache and from the disk, so the mapping
    /// reads zeros without faulting in and dirtying up to a whole 1 GiB file, and it needs no
    /// free space. Where the filesystem cannot punch holes, zeros are written with `pwrite`
    /// (an error on a full disk, never a SIGBUS).
    pub fn zero_from(self: &mut Arc<Self>, t: &WriteToken<'_>, from: usize) -> io::Result<bool> {
        if Arc::get_mut(self).is_none() {
            return Ok(false);
        }
        let from = from.min(self.size);
        let aligned = from.div_ceil(PAGE) * PAGE;
        let head_end = aligned.min(self.size);
        let f = OpenOptions::new().write(true).open(&self.path)?;
        if head_end > from {
            f.write_all_at(&vec![0u8; head_end - from], from as u64)?;
        }
        if head_end < self.size
            && !sys::punch_hole(&f, head_end as u64, (self.size - head_end) as u64)?
        {
            write_zeros(&f, head_end as u64, (self.size - head_end) as u64)?;
        }
        // The punched tail has no blocks any more: back it again before writing there.
        self.backed_to.fetch_min(head_end, Ordering::AcqRel);
        self.set_wrote_position(t, from);
        Ok(true)
    }

    /// A new file with this one's bytes `[0, pos)`, replacing it on disk (rename), for
    /// truncating a file readers may still hold: they keep the old, now unlinked, mapping.
    pub fn copy_prefix(&self, t: &WriteToken<'_>, pos: usize) -> io::Result<MappedFile> {
        let pos = pos.min(self.wrote_position());
        let tmp = self.path.with_extension("truncating");
        let made = (|| -> io::Result<MappedFile> {
            let f =
                OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp)?;
            f.set_len(self.size as u64)?;
            let backed = match self.backing {
                Backing::Whole => self.size,
                Backing::Steps { prefix, step } => {
                    pos.max(prefix).div_ceil(step).saturating_mul(step).min(self.size)
                }
            };
            back_new(&f, 0, backed)?;
            f.write_all_at(self.written(0, pos).unwrap_or(&[]), 0)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            let m = Self::map_file(
                self.path.clone(),
                &f,
                self.from_offset,
                (self.backing, self.write_via()),
            )?;
            m.backed_to.store(backed, Ordering::Release);
            m.set_wrote_position(t, pos);
            m.set_flushed_position(pos);
            Ok(m)
        })();
        if made.is_err() {
            let _ = std::fs::remove_file(&tmp);
        } else {
            self.replaced.store(true, Ordering::Release);
            self.removed.store(true, Ordering::Release);
        }
        made
    }

    /// Borrow published bytes `[pos, pos+len)` (below the write position).
    pub fn written(&self, pos: usize, len: usize) -> Option<&[u8]> {
        if pos.checked_add(len)? > self.wrote_position() {
            return None;
        }
        // SAFETY: in bounds and published: nobody writes these bytes while we hold `&self`
        // (see the module contract).
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// Borrow `[pos, pos+len)` past the write position: bytes the caller (holding the put
    /// lock) wrote there but has not published yet (replication validates them first).
    pub fn unpublished(&self, _t: &WriteToken<'_>, pos: usize, len: usize) -> Option<&[u8]> {
        if pos.checked_add(len)? > self.size {
            return None;
        }
        // SAFETY: in bounds; the token excludes the only other writer, and readers stay below
        // the published position.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(pos), len) })
    }

    /// Write `data` at `pos` (at or past the write position) without publishing it.
    pub fn stage(&self, t: &WriteToken<'_>, pos: usize, data: &[u8]) -> io::Result<()> {
        if pos < self.wrote_position() {
            return Err(io::Error::other("staging over published bytes"));
        }
        self.write_at(t, pos, data)
    }

    /// Zero-copy `Bytes` of published `[pos, pos+len)`; keeps the mapping alive.
    pub fn read_bytes(self: &Arc<Self>, pos: usize, len: usize) -> Option<Bytes> {
        self.written(pos, len)?;
        Some(Bytes::from_owner(MapSlice { file: self.clone(), pos, len }))
    }

    /// A published big-endian i32.
    pub fn read_i32(&self, pos: usize) -> Option<i32> {
        let b = self.written(pos, 4)?;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An atomic view of the 4-byte-aligned i32 at `pos` (index hash slots, which readers load
    /// while the writer stores). The value is stored big-endian in the file; callers convert.
    /// `None` in pwrite mode: a read-only mapping must not hand out a storable atomic.
    pub fn atomic_i32(&self, pos: usize) -> Option<&std::sync::atomic::AtomicI32> {
        if pos & 3 != 0 || pos + 4 > self.size || self.write_via() != WriteVia::Mapping {
            return None;
        }
        // SAFETY: in bounds, 4-byte aligned (the mapping is page aligned), and AtomicI32 has
        // the layout of i32. Lives as long as &self (the mapping). Loads are fine on a hole
        // (it reads as zero); the writer backs a slot before storing into it.
        Some(unsafe { &*(self.map.as_ptr().add(pos) as *const std::sync::atomic::AtomicI32) })
    }

    /// Make `[flushed, wrote)` durable and advance the flushed position. Returns the new
    /// flushed position. Errors must poison the store: the kernel may have dropped the dirty
    /// pages.
    ///
    /// Mapping mode: `msync(MS_SYNC)` of the range. Pwrite mode: `fdatasync` of the file
    /// (the durability call that belongs to the descriptor the bytes were written through; it
    /// does not depend on the mapping's flags, and the file has no dirty pages outside the
    /// range: everything before `flushed` is clean, nothing after `wrote` is written).
    pub fn flush(&self) -> io::Result<usize> {
        let wrote = self.wrote_position();
        let flushed = self.flushed_position();
        if wrote > flushed {
            match &self.map {
                // msync needs a page-aligned start; MmapRaw::flush_range aligns for us.
                Map::Writable(m) => m.flush_range(flushed, wrote - flushed)?,
                Map::ReadOnly { file, .. } => file.sync_data()?,
            }
            self.flushed.store(wrote, Ordering::Release);
        }
        Ok(wrote)
    }

    /// Flush the whole file regardless of positions (index files).
    pub fn flush_all(&self) -> io::Result<()> {
        match &self.map {
            Map::Writable(m) => m.flush(),
            Map::ReadOnly { file, .. } => file.sync_data(),
        }
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

    /// Prefault page tables writable for `[from, to)` without changing content, so later
    /// appends do not take first-touch faults; skips what was already warmed. Safe beside the
    /// writer because `MADV_POPULATE_WRITE` never modifies data; it only covers backed bytes,
    /// and on a hole it allocates or fails with an error (never SIGBUS). Does nothing on old
    /// kernels.
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
    ///
    /// Pwrite mode needs no page tables (writes never go through the mapping) and no
    /// pre-fault; it still brings the window into the page cache ahead of the writer, with
    /// `POSIX_FADV_WILLNEED` in 128 KiB calls, so the writer's `pwrite` finds its pages there:
    /// on this VM the first touch of guest memory the host has taken back costs ~3 ms per MiB,
    /// which would otherwise be paid inside `pwrite`, under the put lock (`bench/RESULTS.md`
    /// §2.1). It preserves content (a page the writer already holds is skipped, a page being
    /// read in makes the writer wait for it), so it needs no handshake with the writer, and
    /// each call zero-fills at most 128 KiB (~0.4 ms on a cold VM page), never the device's
    /// 8 MiB readahead window in one go.
    pub fn warm_range(&self, from: usize, to: usize) {
        // Page-aligned bounds: madvise needs an aligned start, and `warmed_to` becomes the
        // next start.
        let to = to.div_ceil(PAGE).saturating_mul(PAGE).min(self.backed_to.load(Ordering::Acquire));
        let start = ((from / PAGE) * PAGE).max(self.warmed_to.load(Ordering::Acquire));
        if start >= to {
            return;
        }
        let chunk = match self.map {
            Map::Writable(_) => 4 * 1024 * 1024,
            Map::ReadOnly { .. } => 128 * 1024,
        };
        let mut at = start;
        while at < to {
            if self.is_removed() {
                return;
            }
            let len = chunk.min(to - at);
            let done = match &self.map {
                // SAFETY: madvise on a range of our own mapping; POPULATE_WRITE is content
                // preserving.
                Map::Writable(map) => unsafe {
                    let p = map.as_mut_ptr().add(at) as *mut libc::c_void;
                    match libc::madvise(p, len, libc::MADV_POPULATE_WRITE) {
                        0 => Ok(()),
                        _ => Err(io::Error::last_os_error()),
                    }
                },
                Map::ReadOnly { file, .. } => sys::will_need(file, at as u64, len as u64),
            };
            if let Err(err) = done {
                tracing::debug!(%err, "warming the commit log failed; not warming");
                // Do not retry forever on kernels without it.
                self.warmed_to.store(self.size, Ordering::Release);
                return;
            }
            at += len;
            self.warmed_to.fetch_max(at, Ordering::AcqRel);
        }
    }

    /// Mark removed and delete the file from disk; the mapping stays valid for existing readers.
    pub fn destroy(&self) -> io::Result<()> {
        self.removed.store(true, Ordering::Release);
        if self.replaced.load(Ordering::Acquire) {
            return Ok(()); // the name belongs to the copy now
        }
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
        // Checked at construction; published bytes stay as they are while we hold the Arc.
        self.file.written(self.pos, self.len).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::super::put_lock::PutLock;
    use super::*;

    fn steps() -> (Backing, WriteVia) {
        (Backing::Steps { prefix: 0, step: 8192 }, WriteVia::Mapping)
    }

    const MODES: [WriteVia; 2] = [WriteVia::Mapping, WriteVia::Pwrite];

    #[test]
    fn append_read_flush() {
        for via in MODES {
            append_read_flush_via(via);
        }
    }

    fn append_read_flush_via(via: WriteVia) {
        let lock = PutLock::default();
        let t = lock.lock();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(offset_to_file_name(1024));
        let f = Arc::new(MappedFile::create(&path, 1024, 4096, (Backing::Whole, via)).unwrap());
        assert_eq!(f.write_via(), via);
        assert!(f.append_with(&t, 5, |b| b.copy_from_slice(b"hello")).unwrap());
        assert_eq!(f.read_bytes(0, 5).unwrap(), Bytes::from_static(b"hello"));
        assert!(f.read_bytes(0, 6).is_none());
        assert!(!f.append_with(&t, 5000, |_| {}).unwrap());
        f.warm_range(5, 100); // unaligned end: rounded to a page, next start stays aligned
        assert_eq!(f.warmed_to.load(Ordering::Acquire), 4096.min(f.size()));
        // A head-only append (blank marker): the rest keeps the file's zeros.
        assert!(f.append_head(&t, 20, b"ab").unwrap());
        assert_eq!(&f.written(5, 20).unwrap()[..4], b"ab\0\0");
        assert_eq!(f.flush().unwrap(), 25);
        assert_eq!(&std::fs::read(&path).unwrap()[..7], b"helloab", "on disk through the fd");
        let b = f.read_bytes(1, 3).unwrap();
        f.destroy().unwrap();
        assert_eq!(&b[..], b"ell");
        assert!(!dir.path().read_dir().unwrap().any(|_| true), "no temp file left");
    }

    #[test]
    fn sparse_files_grow_their_blocks_with_the_data() {
        use std::os::unix::fs::MetadataExt;
        let lock = PutLock::default();
        let t = lock.lock();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let f = MappedFile::create(&path, 0, 1 << 20, steps()).unwrap();
        let blocks = || std::fs::metadata(&path).unwrap().blocks() * 512;
        assert!(blocks() <= 16384, "only the first step is allocated: {}", blocks());
        for _ in 0..1000 {
            assert!(f.append_with(&t, 20, |b| b.fill(7)).unwrap());
        }
        assert!(blocks() <= 32768, "{} bytes allocated for 20000 written", blocks());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
    }

    #[test]
    fn existing_files_of_another_size_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(offset_to_file_name(0));
        std::fs::write(&path, vec![1u8; 5000]).unwrap();
        let e = MappedFile::open_existing(&path, 0, 4096, (Backing::Whole, WriteVia::Pwrite))
            .unwrap_err();
        assert!(e.to_string().contains("5000 bytes") && e.to_string().contains("4096"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), vec![1u8; 5000]);
        // Creating over it fails instead of replacing it.
        let e =
            MappedFile::create(&path, 0, 4096, (Backing::Whole, WriteVia::Mapping)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), vec![1u8; 5000]);
    }

    #[test]
    fn zero_from_in_place_when_alone_else_copy() {
        for via in MODES {
            zero_from_via(via);
        }
    }

    fn zero_from_via(via: WriteVia) {
        let lock = PutLock::default();
        let t = lock.lock();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(offset_to_file_name(0));
        let mut f =
            Arc::new(MappedFile::create(&path, 0, 64 * 1024, (Backing::Whole, via)).unwrap());
        assert!(f.append_with(&t, 64 * 1024, |b| b.fill(0xAB)).unwrap());
        f.flush_all().unwrap();
        // A reader holds bytes past the cut: no in-place zeroing, a copy instead.
        let held = f.read_bytes(2000, 10).unwrap();
        assert!(!f.zero_from(&t, 1000).unwrap());
        let copy = f.copy_prefix(&t, 1000).unwrap();
        assert_eq!(&held[..], &[0xAB; 10], "the reader's bytes are untouched");
        assert_eq!(copy.wrote_position(), 1000);
        assert_eq!(copy.write_via(), via, "the copy is written the same way");
        assert!(copy.written(0, 1000).unwrap().iter().all(|&b| b == 0xAB));
        f.destroy().unwrap(); // the old handle must not unlink the copy
        assert!(path.exists());
        drop(held);
        let disk = std::fs::read(&path).unwrap();
        assert_eq!(disk.len(), 64 * 1024);
        assert!(disk[..1000].iter().all(|&b| b == 0xAB) && disk[1000..].iter().all(|&b| b == 0));
        // Alone: zeroed in place, in the mapping and on disk.
        let mut g = Arc::new(copy);
        assert!(g.zero_from(&t, 500).unwrap());
        assert_eq!(g.wrote_position(), 500);
        assert!(g.unpublished(&t, 500, 64 * 1024 - 500).unwrap().iter().all(|&b| b == 0));
        drop(g);
        let disk = std::fs::read(&path).unwrap();
        assert!(disk[..500].iter().all(|&b| b == 0xAB) && disk[500..].iter().all(|&b| b == 0));
    }
}
