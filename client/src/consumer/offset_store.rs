//! Consumer offsets: kept in memory, persisted to the broker (clustering) or to a local file
//! (broadcasting, where every member has its own progress).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use dashmap::DashMap;
use mq_common::protocol::body::MessageQueue;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;

/// One persisted offset in the local file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocalEntry {
    topic: String,
    broker_name: String,
    queue_id: i32,
    offset: i64,
}

/// Where offsets live.
pub(crate) struct OffsetStore {
    group: String,
    table: DashMap<MessageQueue, i64>,
    /// Broadcasting: the offsets file and what it held at start.
    local: Option<(PathBuf, Mutex<BTreeMap<MessageQueue, i64>>)>,
    instance: Arc<ClientInstance>,
}

impl OffsetStore {
    /// Offsets stored on the broker.
    pub fn remote(group: &str, instance: Arc<ClientInstance>) -> Self {
        OffsetStore { group: group.into(), table: DashMap::new(), local: None, instance }
    }

    /// Offsets stored in `path` (created on first persist).
    pub fn local(group: &str, instance: Arc<ClientInstance>, path: PathBuf) -> Self {
        let mut loaded = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            match serde_json::from_str::<Vec<LocalEntry>>(&text) {
                Ok(v) => {
                    for e in v {
                        loaded.insert(
                            MessageQueue::new(e.topic, e.broker_name, e.queue_id),
                            e.offset,
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable offsets file")
                }
            }
        }
        OffsetStore {
            group: group.into(),
            table: DashMap::new(),
            local: Some((path, Mutex::new(loaded))),
            instance,
        }
    }

    /// Set the in-memory offset; with `increase_only` a smaller value is ignored.
    pub fn update(&self, mq: &MessageQueue, offset: i64, increase_only: bool) {
        let mut e = self.table.entry(mq.clone()).or_insert(offset);
        if !increase_only || offset > *e {
            *e = offset;
        }
    }

    /// The in-memory offset.
    pub fn read_memory(&self, mq: &MessageQueue) -> Option<i64> {
        self.table.get(mq).map(|v| *v)
    }

    /// The persisted offset (broker or file); `None` when there is none.
    pub async fn read_store(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        if let Some((_, loaded)) = &self.local {
            return Ok(loaded.lock().get(mq).copied());
        }
        let addr = self
            .instance
            .admin_addr(&mq.broker_name, &mq.topic)
            .await
            .ok_or_else(|| ClientError::BrokerNotFound(mq.broker_name.clone()))?;
        let off = self.instance.api.query_consumer_offset(&addr, &self.group, mq).await?;
        Ok(off.filter(|o| *o >= 0))
    }

    /// Forget a queue (after it was persisted on reassignment).
    pub fn remove(&self, mq: &MessageQueue) {
        self.table.remove(mq);
    }

    /// Persist the offsets of `mqs` (all in-memory offsets when `None`).
    pub async fn persist(&self, mqs: Option<&[MessageQueue]>) {
        let entries: Vec<(MessageQueue, i64)> = match mqs {
            Some(list) => {
                list.iter().filter_map(|m| Some((m.clone(), self.read_memory(m)?))).collect()
            }
            None => self.table.iter().map(|e| (e.key().clone(), *e.value())).collect(),
        };
        if entries.is_empty() {
            return;
        }
        if let Some((path, loaded)) = &self.local {
            let snapshot: Vec<LocalEntry> = {
                let mut l = loaded.lock();
                for (mq, off) in &entries {
                    l.insert(mq.clone(), *off);
                }
                l.iter()
                    .map(|(mq, off)| LocalEntry {
                        topic: mq.topic.clone(),
                        broker_name: mq.broker_name.clone(),
                        queue_id: mq.queue_id,
                        offset: *off,
                    })
                    .collect()
            };
            if let Err(e) =
                write_atomically(path, &serde_json::to_vec_pretty(&snapshot).unwrap_or_default())
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot persist offsets");
            }
            return;
        }
        let calls = entries.iter().map(|(mq, off)| async move {
            let Some(addr) = self.instance.admin_addr(&mq.broker_name, &mq.topic).await else {
                return;
            };
            if let Err(e) =
                self.instance.api.update_consumer_offset(&addr, &self.group, mq, *off).await
            {
                tracing::debug!(queue = %mq, error = %e, "offset commit failed");
            }
        });
        futures::future::join_all(calls).await;
    }
}

fn write_atomically(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::ClientOptions;

    #[tokio::test]
    async fn local_offsets_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g").join("offsets.json");
        let opts = ClientOptions {
            namesrv_addrs: vec![],
            client_ip: Some("127.0.0.1".parse().unwrap()),
            ..Default::default()
        };
        let inst = ClientInstance::new(opts.clone()).await;
        let mq = MessageQueue::new("T", "b", 1);
        let store = OffsetStore::local("G", inst.clone(), path.clone());
        assert_eq!(store.read_store(&mq).await.unwrap(), None);
        store.update(&mq, 5, true);
        store.update(&mq, 3, true);
        assert_eq!(store.read_memory(&mq), Some(5));
        store.update(&mq, 3, false);
        store.persist(None).await;
        let again = OffsetStore::local("G", ClientInstance::new(opts).await, path);
        assert_eq!(again.read_store(&mq).await.unwrap(), Some(3));
    }
}
