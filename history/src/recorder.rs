//! Appending events to a JSONL history file, from any task or thread.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::event::Event;

/// A history file open for appending; clones share it. Every event is flushed as one
/// whole line, so a driver killed mid-run leaves a history the checker can read.
#[derive(Clone)]
pub struct Recorder {
    out: Arc<Mutex<BufWriter<File>>>,
}

impl Recorder {
    /// Create (or append to) the history file at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Recorder> {
        let f = File::options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("open history {}: {e}", path.display()))?;
        Ok(Recorder { out: Arc::new(Mutex::new(BufWriter::new(f))) })
    }

    /// Append one event.
    pub fn record(&self, e: &Event) {
        let mut line = e.to_line();
        line.push('\n');
        let mut w = self.out.lock();
        // A history that silently misses events would make the checker lie: fail loudly.
        w.write_all(line.as_bytes()).and_then(|_| w.flush()).expect("write history");
    }
}
