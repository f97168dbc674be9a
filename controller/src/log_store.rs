//! The Raft log and vote on disk (`controllerStorePath`):
//!
//! * `raft_meta.json`: vote, committed and last purged log ids, replaced atomically;
//! * `raft_log.jsonl`: one JSON entry per line, appended and fsynced before openraft is told
//!   the entries are durable. Truncation and purging rewrite it (rare: after a leader change,
//!   or once per snapshot). A torn last line (crash mid-append, never acknowledged) is dropped
//!   on load.
//!
//! Controller traffic is a few commands per broker event, so plain files and JSON are enough.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::File;
use std::io::Write;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{Entry, LogId, LogState, OptionalSend, RaftLogReader, Vote};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::files::{open_append, read_opt, sync_dir, write_atomic};
use crate::raft_types::{storage_err, StorageError, TypeConfig};

const META: &str = "raft_meta.json";
const LOG: &str = "raft_log.jsonl";

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Meta {
    vote: Option<Vote<u64>>,
    committed: Option<LogId<u64>>,
    last_purged: Option<LogId<u64>>,
}

struct Inner {
    dir: PathBuf,
    meta: Meta,
    log: BTreeMap<u64, Entry<TypeConfig>>,
    file: File,
}

impl Inner {
    fn save_meta(&self) -> std::io::Result<()> {
        write_atomic(&self.dir.join(META), &serde_json::to_vec(&self.meta)?)
    }

    /// Rewrite the log file from memory (after truncate/purge/a torn tail).
    fn rewrite_log(&mut self) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for e in self.log.values() {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        let path = self.dir.join(LOG);
        write_atomic(&path, &buf)?;
        self.file = open_append(&path)?;
        Ok(())
    }
}

/// The Raft log store. Clones share state (the clone is openraft's concurrent log reader).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

impl LogStore {
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let meta: Meta = match read_opt(&dir.join(META))? {
            Some(b) => serde_json::from_slice(&b).map_err(std::io::Error::other)?,
            None => Meta::default(),
        };
        let path = dir.join(LOG);
        let mut log = BTreeMap::new();
        let mut torn = false;
        if let Some(bytes) = read_opt(&path)? {
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                match serde_json::from_slice::<Entry<TypeConfig>>(line) {
                    Ok(e) => {
                        log.insert(e.log_id.index, e);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "dropping a torn tail of the Raft log");
                        torn = true;
                        break;
                    }
                }
            }
        }
        if let Some(p) = meta.last_purged {
            log.retain(|i, _| *i > p.index);
        }
        let file = open_append(&path)?;
        sync_dir(&path)?;
        let mut inner = Inner { dir: dir.to_path_buf(), meta, log, file };
        if torn {
            inner.rewrite_log()?;
        }
        Ok(LogStore { inner: Arc::new(Mutex::new(inner)) })
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        Ok(self.inner.lock().log.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let g = self.inner.lock();
        let last_purged_log_id = g.meta.last_purged;
        let last_log_id = g.log.values().next_back().map(|e| e.log_id).or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        g.meta.vote = Some(*vote);
        g.save_meta().map_err(storage_err)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        Ok(self.inner.lock().meta.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        g.meta.committed = committed;
        g.save_meta().map_err(storage_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError> {
        Ok(self.inner.lock().meta.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let result = {
            let mut g = self.inner.lock();
            let mut buf = Vec::new();
            let mut appended = Vec::new();
            for e in entries {
                serde_json::to_writer(&mut buf, &e).map_err(storage_err)?;
                buf.push(b'\n');
                appended.push(e);
            }
            let r = g.file.write_all(&buf).and_then(|_| g.file.sync_data());
            if r.is_ok() {
                for e in appended {
                    g.log.insert(e.log_id.index, e);
                }
            }
            r
        };
        let err = result.as_ref().err().map(|e| std::io::Error::new(e.kind(), e.to_string()));
        callback.log_io_completed(result);
        match err {
            Some(e) => Err(storage_err(e)),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        g.log.retain(|i, _| *i < log_id.index);
        g.rewrite_log().map_err(storage_err)
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        let mut g = self.inner.lock();
        // Record the purge point first: a crash after it leaves extra lines, dropped on load.
        g.meta.last_purged = Some(log_id);
        g.save_meta().map_err(storage_err)?;
        g.log.retain(|i, _| *i > log_id.index);
        g.rewrite_log().map_err(storage_err)
    }
}
