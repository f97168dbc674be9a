//! The Raft state machine: the [`ReplicaTable`] in memory plus its last snapshot on disk
//! (`snapshot.json`). On start the table is the snapshot's; openraft then re-applies the
//! committed log after it (the committed id is persisted by the log store).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StoredMembership,
};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::files::{read_opt, write_atomic};
use crate::raft_types::{storage_err, StorageError, TypeConfig};
use crate::replicas::{Outcome, ReplicaTable};

const SNAPSHOT: &str = "snapshot.json";

/// What the state machine holds; readers (request handlers) share it through [`SharedState`].
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Applied {
    /// Last applied log id.
    pub last_applied: Option<LogId<u64>>,
    /// Last applied membership.
    pub membership: StoredMembership<u64, openraft::BasicNode>,
    /// The table.
    pub table: ReplicaTable,
}

/// The applied state, readable by request handlers without going through Raft.
pub type SharedState = Arc<RwLock<Applied>>;

/// `snapshot.json`: readable JSON (the state inline, not as bytes).
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, openraft::BasicNode>,
    state: Applied,
}

/// The state machine store.
#[derive(Clone)]
pub struct StateMachine {
    dir: PathBuf,
    state: SharedState,
    snapshot_seq: Arc<std::sync::atomic::AtomicU64>,
}

impl StateMachine {
    /// Open in `dir`, starting from the snapshot there if any.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut applied = Applied::default();
        if let Some(b) = read_opt(&dir.join(SNAPSHOT))? {
            let s: StoredSnapshot = serde_json::from_slice(&b).map_err(std::io::Error::other)?;
            applied = s.state;
        }
        Ok(StateMachine {
            dir: dir.to_path_buf(),
            state: Arc::new(RwLock::new(applied)),
            snapshot_seq: Arc::default(),
        })
    }

    /// The shared applied state.
    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    fn read_snapshot_file(&self) -> std::io::Result<Option<StoredSnapshot>> {
        match read_opt(&self.dir.join(SNAPSHOT))? {
            Some(b) => Ok(Some(serde_json::from_slice(&b).map_err(std::io::Error::other)?)),
            None => Ok(None),
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let applied = self.state.read().clone();
        let data = serde_json::to_vec(&applied).map_err(storage_err)?;
        let seq = self.snapshot_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let snapshot_id = match applied.last_applied {
            Some(l) => format!("{}-{}-{seq}", l.leader_id, l.index),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot { meta: meta.clone(), state: applied };
        write_atomic(&self.dir.join(SNAPSHOT), &serde_json::to_vec(&stored).map_err(storage_err)?)
            .map_err(storage_err)?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, openraft::BasicNode>), StorageError>
    {
        let s = self.state.read();
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut s = self.state.write();
        let mut out = Vec::new();
        for e in entries {
            s.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => out.push(Outcome::default()),
                EntryPayload::Normal(cmd) => {
                    let o = s.table.apply(&cmd);
                    tracing::debug!(index = e.log_id.index, ?cmd, code = o.code, "applied");
                    out.push(o);
                }
                EntryPayload::Membership(m) => {
                    s.membership = StoredMembership::new(Some(e.log_id), m);
                    out.push(Outcome::default());
                }
            }
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let applied: Applied = serde_json::from_slice(&data).map_err(storage_err)?;
        let stored = StoredSnapshot { meta: meta.clone(), state: applied };
        write_atomic(&self.dir.join(SNAPSHOT), &serde_json::to_vec(&stored).map_err(storage_err)?)
            .map_err(storage_err)?;
        *self.state.write() = stored.state;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(s) = self.read_snapshot_file().map_err(storage_err)? else { return Ok(None) };
        let data = serde_json::to_vec(&s.state).map_err(storage_err)?;
        Ok(Some(Snapshot { meta: s.meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}
