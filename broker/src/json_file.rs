//! Safe persistence of the broker's JSON config files (`config/*.json`): write `<f>.tmp`,
//! fsync, keep the previous file as `<f>.bak`, rename into place. Reading falls back to the
//! `.bak` when the main file is missing or unparsable (a crash between the two renames).

use std::io::Write;
use std::path::{Path, PathBuf};

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Atomically replace `path` with `data`.
pub fn write_safely(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = with_suffix(path, ".tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    if path.exists() {
        let _ = std::fs::copy(path, with_suffix(path, ".bak"));
    }
    std::fs::rename(&tmp, path)
}

/// Read and parse `path` (or its `.bak`) with `parse`; `None` when neither is usable.
pub fn read_with_backup<T>(path: &Path, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    for p in [path.to_path_buf(), with_suffix(path, ".bak")] {
        if let Ok(text) = std::fs::read_to_string(&p) {
            if text.trim().is_empty() {
                continue;
            }
            match parse(&text) {
                Some(v) => return Some(v),
                None => {
                    tracing::warn!(file = %p.display(), "unparsable config file, trying backup")
                }
            }
        }
    }
    None
}
