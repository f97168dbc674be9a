//! Choosing and opening the message store for a broker (`storeType`).

use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::mem_store::MemStore;
use crate::store_adapter::FileStore;
use crate::store_api::MsgStore;

/// Open the store the configuration asks for: `file` (default, persistent) or `memory`.
pub fn open_store(cfg: &BrokerConfig) -> anyhow::Result<Arc<dyn MsgStore>> {
    match cfg.store_type.as_str() {
        "memory" => Ok(Arc::new(MemStore::new(cfg.delay_levels_ms()))),
        _ => Ok(Arc::new(FileStore::open(cfg)?)),
    }
}
