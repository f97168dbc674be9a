//! The per-process directory of a broadcasting consumer's offset file.
//!
//! Broadcasting consumers (the gateway's `chat_inbox` and presence-event consumers, the
//! presence service's read-model) keep their offsets locally. Those offsets are worthless
//! after the process ends (a restarted process starts at the end of the topic and clients
//! gap-fill, design §4.7), so the directory is named per process (`<kind>-<instance>`, never
//! shared by two live processes) and removed when its owner drops it, on every return path of
//! the owner, errors included. A process that is killed cannot clean up: its directory stays
//! under `OFFSETS_DIR`, which is why tests and scripts point that key into a temp dir of
//! their own.

use std::path::{Path, PathBuf};

/// Owns `<parent>/<kind>-<unique>`; removes it (with its contents) on drop.
#[derive(Debug)]
pub struct OffsetsDir {
    path: PathBuf,
}

impl OffsetsDir {
    /// Claim `<parent>/<kind>-<unique>`. Nothing is created here: the consumer's offset store
    /// creates the directory when it first persists.
    pub fn new(parent: &Path, kind: &str, unique: &str) -> OffsetsDir {
        OffsetsDir { path: parent.join(format!("{kind}-{unique}")) }
    }

    /// The directory to hand to the consumer's offset store.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OffsetsDir {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => tracing::debug!(dir = %self.path.display(), "offsets dir removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %self.path.display(), error = %e, "could not remove the offsets dir")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_per_process_and_removed_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        let d = OffsetsDir::new(parent.path(), "chat-gateway-offsets", "gw-0-42");
        assert_eq!(d.path(), parent.path().join("chat-gateway-offsets-gw-0-42"));
        std::fs::create_dir_all(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/offsets.json"), b"{}").unwrap();
        drop(d);
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    }

    #[test]
    fn dropping_a_never_created_dir_is_fine() {
        let parent = tempfile::tempdir().unwrap();
        drop(OffsetsDir::new(parent.path(), "k", "u"));
        assert!(parent.path().exists());
    }
}
