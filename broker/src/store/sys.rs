//! The store's few direct system calls, each behind a safe function (the rest of the store
//! has no `unsafe` besides the mapping itself, in `mapped_file.rs`).

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Used fraction (0..1) of the filesystem holding `path` (`(total - free) / total`, Java's
/// `getDiskPartitionSpaceUsedPercent`); 0 when it cannot be read.
pub fn disk_usage_ratio(path: &Path) -> f64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0.0;
    };
    // SAFETY: statvfs writes into the zeroed struct; c is a valid NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 || s.f_blocks == 0 {
        return 0.0;
    }
    (s.f_blocks - s.f_bfree) as f64 / s.f_blocks as f64
}

/// Total and available bytes of the file system holding `path` (Java's
/// `commitLogDirCapacity`), or `None` if it cannot be read.
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct; c is a valid NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let frsize = s.f_frsize as u64;
    Some((s.f_blocks as u64 * frsize, s.f_bavail as u64 * frsize))
}

/// Take an exclusive, non-blocking `flock` on `f`; false if another process holds it.
pub fn try_lock_exclusive(f: &File) -> bool {
    // SAFETY: flock on a valid fd.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Lower the calling thread's scheduling priority (nice 10): background page warming must not
/// steal CPU from appenders. `setpriority` on a thread id affects only that thread on Linux.
pub fn lower_this_thread_priority() {
    // SAFETY: plain syscalls on our own thread id.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
}

/// Ask the kernel to bring `[off, off+len)` of `f` into the page cache now
/// (`POSIX_FADV_WILLNEED`): content-preserving, and bounded by `len` (not by the device's
/// readahead window, which only bounds it from above).
pub fn will_need(f: &File, off: u64, len: u64) -> io::Result<()> {
    // SAFETY: plain syscall on a valid fd.
    let rc = unsafe {
        libc::posix_fadvise(
            f.as_raw_fd(),
            off as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_WILLNEED,
        )
    };
    match rc {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Allocate disk blocks for `[off, off+len)` of `f` (`fallocate` mode 0: the file size only
/// grows if the range passes its end). `Ok(false)` when the filesystem cannot preallocate.
pub fn allocate(f: &File, off: u64, len: u64) -> io::Result<bool> {
    // SAFETY: plain syscall on a valid fd.
    let rc = unsafe { libc::fallocate(f.as_raw_fd(), 0, off as libc::off_t, len as libc::off_t) };
    if rc == 0 {
        return Ok(true);
    }
    match io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)) => Ok(false),
        e => Err(e),
    }
}

/// Drop the blocks of `[off, off+len)` of `f`; the range then reads as zeros, in the file and
/// through every mapping of it, and needs no disk space (`FALLOC_FL_PUNCH_HOLE`). `Ok(false)`
/// when the filesystem cannot.
pub fn punch_hole(f: &File, off: u64, len: u64) -> io::Result<bool> {
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: plain syscall on a valid fd.
    let rc =
        unsafe { libc::fallocate(f.as_raw_fd(), mode, off as libc::off_t, len as libc::off_t) };
    if rc == 0 {
        return Ok(true);
    }
    match io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)) => Ok(false),
        e => Err(e),
    }
}

/// Whether an I/O error means "no space left" (ENOSPC, EDQUOT).
pub fn is_out_of_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// Offset of the first hole of `f` (its length when it has none), by `lseek(SEEK_HOLE)`.
pub fn first_hole(f: &File) -> io::Result<u64> {
    // SAFETY: plain syscall on a valid fd; it moves only this descriptor's offset.
    let rc = unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_HOLE) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as u64)
}
