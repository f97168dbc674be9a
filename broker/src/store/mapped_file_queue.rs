//! An ordered queue of equally sized mapped files named by their 20-digit start offset.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use super::mapped_file::{offset_to_file_name, Backing, MappedFile, WriteVia};
use super::put_lock::WriteToken;

/// Files of one log, contiguous in offset space: file `i+1` starts where file `i` ends.
pub struct MappedFileQueue {
    dir: PathBuf,
    file_size: usize,
    backing: Backing,
    /// How the files are written (mapping stores, or pwrite with a read-only mapping).
    via: WriteVia,
    files: RwLock<Vec<Arc<MappedFile>>>,
    /// Map files with fault readahead off ([`MappedFile::fault_readahead_off`]).
    random_access: bool,
}

/// What [`MappedFileQueue::load`] found besides the files it mapped.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Files after a hole in the offset sequence (a deleted middle file): not mapped and not
    /// touched. The owner decides: fatal for the commit log, rebuilt for a consume queue.
    pub after_gap: Vec<PathBuf>,
}

impl MappedFileQueue {
    /// A queue over `dir` (created if missing) with files of `file_size` bytes.
    pub fn new(dir: impl Into<PathBuf>, file_size: usize, backing: Backing) -> Self {
        MappedFileQueue {
            dir: dir.into(),
            file_size,
            backing,
            via: WriteVia::Mapping,
            files: RwLock::new(Vec::new()),
            random_access: false,
        }
    }

    /// Map this queue's files with fault readahead off (consume queues: 20-byte units).
    pub fn random_access(mut self) -> Self {
        self.random_access = true;
        self
    }

    /// Write this queue's files `via` (the commit log in pwrite mode).
    pub fn write_via(mut self, via: WriteVia) -> Self {
        self.via = via;
        self
    }

    fn prepared(&self, f: MappedFile) -> MappedFile {
        if self.random_access {
            f.fault_readahead_off();
        }
        f
    }

    /// Directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Configured file size.
    pub fn file_size(&self) -> usize {
        self.file_size
    }

    /// Map every file of the directory. Names that are not 20-digit numbers are ignored
    /// (left-over `*.creating` / `*.truncating` files of an interrupted creation are removed).
    /// A file whose size is not the configured one is an error naming it (nothing is renamed
    /// or changed). Write positions are the whole files; recovery corrects the last ones.
    pub fn load(&self) -> io::Result<LoadReport> {
        std::fs::create_dir_all(&self.dir)?;
        let mut names: Vec<(i64, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let path = e?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            if name.ends_with(".creating") || name.ends_with(".truncating") {
                tracing::info!(?path, "removing an unfinished file creation");
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(off) = name.parse::<i64>() {
                names.push((off, path));
            }
        }
        names.sort();
        let mut report = LoadReport::default();
        let mut files = Vec::with_capacity(names.len());
        let mut expect: Option<i64> = None;
        for (off, path) in names {
            if expect.is_some_and(|x| off != x) || !report.after_gap.is_empty() {
                report.after_gap.push(path);
                continue;
            }
            let f =
                MappedFile::open_existing(&path, off, self.file_size, (self.backing, self.via))?;
            expect = Some(off + f.size() as i64);
            files.push(Arc::new(self.prepared(f)));
        }
        *self.files.write() = files;
        Ok(report)
    }

    /// Snapshot of the files.
    pub fn files(&self) -> Vec<Arc<MappedFile>> {
        self.files.read().clone()
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.read().len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.files.read().is_empty()
    }

    /// The last (active) file.
    pub fn last(&self) -> Option<Arc<MappedFile>> {
        self.files.read().last().cloned()
    }

    /// The first file.
    pub fn first(&self) -> Option<Arc<MappedFile>> {
        self.files.read().first().cloned()
    }

    /// The file containing absolute `offset`.
    pub fn find(&self, offset: i64) -> Option<Arc<MappedFile>> {
        let files = self.files.read();
        let i = files.partition_point(|f| f.from_offset() <= offset);
        let f = files.get(i.checked_sub(1)?)?;
        (offset < f.from_offset() + f.size() as i64).then(|| f.clone())
    }

    /// Offset of the first byte still present (0 if empty).
    pub fn min_offset(&self) -> i64 {
        self.first().map(|f| f.from_offset()).unwrap_or(0)
    }

    /// Offset just past the last written byte (0 if empty).
    pub fn max_offset(&self) -> i64 {
        self.last().map(|f| f.from_offset() + f.wrote_position() as i64).unwrap_or(0)
    }

    /// Create the file starting at `from` (not yet in the queue): see [`MappedFile::create`].
    pub fn create_detached(&self, from: i64) -> io::Result<MappedFile> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(offset_to_file_name(from));
        Ok(self.prepared(MappedFile::create(
            &path,
            from,
            self.file_size,
            (self.backing, self.via),
        )?))
    }

    /// Create the file starting at `from` (which must continue the sequence) and append it.
    pub fn create(&self, from: i64) -> io::Result<Arc<MappedFile>> {
        let f = Arc::new(self.create_detached(from)?);
        self.push(f.clone());
        Ok(f)
    }

    /// Append an already created file (e.g. made ahead of time by the pre-allocator).
    pub fn push(&self, f: Arc<MappedFile>) {
        self.files.write().push(f);
    }

    /// Truncate everything at and after absolute `offset`: the file containing it keeps
    /// `[from, offset)` (the rest zeroed if `zero`; after a clean shutdown it is zero already)
    /// and later files are deleted. A file that readers may still hold is replaced by a copy
    /// of its kept prefix instead of being zeroed under them.
    pub fn truncate_from(&self, t: &WriteToken<'_>, offset: i64, zero: bool) -> io::Result<()> {
        let mut files = self.files.write();
        let mut keep = Vec::with_capacity(files.len());
        for mut f in std::mem::take(&mut *files) {
            let end = f.from_offset() + f.size() as i64;
            if end <= offset {
                keep.push(f);
            } else if f.from_offset() <= offset {
                let pos = (offset - f.from_offset()) as usize;
                if zero && !f.zero_from(t, pos)? {
                    tracing::info!(path = ?f.path(), pos, "file in use by readers: truncating a copy");
                    f = Arc::new(self.prepared(f.copy_prefix(t, pos)?));
                }
                f.set_wrote_position(t, pos);
                f.set_flushed_position(pos);
                keep.push(f);
            } else {
                tracing::info!(path = ?f.path(), "deleting file beyond truncation point");
                f.destroy()?;
            }
        }
        *files = keep;
        Ok(())
    }

    /// Remove (and delete from disk) leading files for which `pred` holds, never the last one,
    /// at most `max` files. Returns how many were deleted.
    pub fn delete_leading(&self, max: usize, mut pred: impl FnMut(&MappedFile) -> bool) -> usize {
        let victims: Vec<Arc<MappedFile>> = {
            let files = self.files.read();
            let n = files.len().saturating_sub(1);
            files[..n].iter().take_while(|f| pred(f)).take(max).cloned().collect()
        };
        let mut deleted = 0;
        for v in &victims {
            if let Err(e) = v.destroy() {
                tracing::warn!(path = ?v.path(), %e, "failed to delete expired file");
                break;
            }
            deleted += 1;
        }
        if deleted > 0 {
            self.files.write().drain(..deleted);
        }
        deleted
    }

    /// Remove all files (delete from disk) and the directory.
    pub fn destroy_all(&self) {
        let mut files = self.files.write();
        for f in files.drain(..) {
            let _ = f.destroy();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
