//! An ordered queue of equally sized mapped files named by their 20-digit start offset.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use super::mapped_file::MappedFile;

/// Files of one log, contiguous in offset space: file `i+1` starts where file `i` ends.
pub struct MappedFileQueue {
    dir: PathBuf,
    file_size: usize,
    files: RwLock<Vec<Arc<MappedFile>>>,
    /// Map files with fault readahead off ([`MappedFile::fault_readahead_off`]).
    random_access: bool,
}

/// What [`MappedFileQueue::load`] found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Files dropped because they came after a hole in the offset sequence (a deleted middle
    /// file). The caller decides whether that is fatal (commit log) or repairable (consume queue).
    pub dropped_after_gap: Vec<PathBuf>,
}

impl MappedFileQueue {
    /// A queue over `dir` (created if missing) with files of `file_size` bytes.
    pub fn new(dir: impl Into<PathBuf>, file_size: usize) -> Self {
        MappedFileQueue {
            dir: dir.into(),
            file_size,
            files: RwLock::new(Vec::new()),
            random_access: false,
        }
    }

    /// Map this queue's files with fault readahead off (consume queues: 20-byte units).
    pub fn random_access(mut self) -> Self {
        self.random_access = true;
        self
    }

    fn open_file(&self, from: i64) -> io::Result<MappedFile> {
        let f = MappedFile::open(&self.dir, from, self.file_size)?;
        if self.random_access {
            f.fault_readahead_off();
        }
        Ok(f)
    }

    /// Directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Configured file size.
    pub fn file_size(&self) -> usize {
        self.file_size
    }

    /// Map every file of the directory. Files whose names are not 20-digit numbers are ignored.
    /// Write positions are set to the full file size; recovery corrects the last files.
    /// Files after a gap are moved out of the way (renamed `*.orphan`), never silently reused.
    pub fn load(&self) -> io::Result<LoadReport> {
        std::fs::create_dir_all(&self.dir)?;
        let mut names: Vec<(i64, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let e = e?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(off) = name.parse::<i64>() {
                names.push((off, e.path()));
            }
        }
        names.sort();
        let mut report = LoadReport::default();
        let mut files = Vec::with_capacity(names.len());
        let mut expect: Option<i64> = None;
        for (off, path) in names {
            if let Some(x) = expect {
                if off != x {
                    tracing::warn!(?path, expected = x, "hole in mapped-file sequence");
                    let orphan = path.with_extension("orphan");
                    std::fs::rename(&path, &orphan)?;
                    report.dropped_after_gap.push(path);
                    expect = Some(i64::MIN); // everything after is orphaned too
                    continue;
                }
            }
            let f = self.open_file(off)?;
            f.set_wrote_position(f.size());
            f.set_flushed_position(f.size());
            expect = Some(off + f.size() as i64);
            files.push(Arc::new(f));
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

    /// The file containing absolute `offset` (or the last file if `offset` is its end).
    pub fn find(&self, offset: i64) -> Option<Arc<MappedFile>> {
        let files = self.files.read();
        let i = files.partition_point(|f| f.from_offset() <= offset);
        if i == 0 {
            return None;
        }
        let f = &files[i - 1];
        if offset < f.from_offset() + f.size() as i64 {
            Some(f.clone())
        } else {
            None
        }
    }

    /// Offset of the first byte still present (0 if empty).
    pub fn min_offset(&self) -> i64 {
        self.first().map(|f| f.from_offset()).unwrap_or(0)
    }

    /// Offset just past the last written byte (0 if empty).
    pub fn max_offset(&self) -> i64 {
        self.last().map(|f| f.from_offset() + f.wrote_position() as i64).unwrap_or(0)
    }

    /// Create and append a new file starting at `from` (which must continue the sequence).
    pub fn create(&self, from: i64) -> io::Result<Arc<MappedFile>> {
        std::fs::create_dir_all(&self.dir)?;
        let f = Arc::new(self.open_file(from)?);
        self.push(f.clone());
        Ok(f)
    }

    /// Append an already opened file (e.g. pre-allocated in the background).
    pub fn push(&self, f: Arc<MappedFile>) {
        self.files.write().push(f);
    }

    /// Truncate everything at and after absolute `offset`: the file containing it keeps
    /// `[from, offset)` and has the rest zeroed; later files are deleted.
    pub fn truncate_from(&self, offset: i64) -> io::Result<()> {
        self.truncate_from_with(offset, true)
    }

    /// [`Self::truncate_from`], optionally without zeroing the tail (after a clean shutdown the
    /// tail is known to be zero; zeroing a 1 GiB file would cost a full write of it).
    pub fn truncate_from_with(&self, offset: i64, zero: bool) -> io::Result<()> {
        let mut files = self.files.write();
        let mut keep = Vec::with_capacity(files.len());
        for f in files.drain(..) {
            let end = f.from_offset() + f.size() as i64;
            if end <= offset {
                keep.push(f);
            } else if f.from_offset() <= offset {
                let pos = (offset - f.from_offset()) as usize;
                if zero {
                    f.zero_from(pos);
                }
                f.set_wrote_position(pos);
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
            let mut files = self.files.write();
            files.drain(..deleted);
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
