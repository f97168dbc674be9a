//! The openraft type configuration: log entries carry [`Command`]s, applying one yields an
//! [`Outcome`]; nodes are numbered by their position in `controllerDLegerPeers`.

use std::io::Cursor;

use crate::replicas::{Command, Outcome};

openraft::declare_raft_types!(
    /// Raft types of the controller group.
    pub TypeConfig:
        D = Command,
        R = Outcome,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle of a controller.
pub type Raft = openraft::Raft<TypeConfig>;
/// Storage error with our node id type.
pub type StorageError = openraft::StorageError<u64>;

/// Wrap an I/O or encoding failure as a storage error (openraft stops the node on one: a
/// controller that cannot persist must not vote or acknowledge).
pub(crate) fn storage_err(e: impl std::error::Error + 'static) -> StorageError {
    openraft::StorageIOError::write(openraft::AnyError::new(&e)).into()
}
