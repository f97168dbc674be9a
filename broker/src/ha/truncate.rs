//! The operator's tool for a diverged slave (docs/replication.md, "A diverged slave"): cut
//! the slave's commit log, consume queues and index back to a record boundary before it starts
//! (`mqbroker -c slave.conf --truncate-to OFFSET`). The slave then verifies its new tail
//! against the master when it connects (`slave.rs`), so an offset that is still past the
//! common prefix is refused again rather than followed; an offset below it only costs
//! re-replication. A master's store is never cut: its tail holds acknowledged messages.

use crate::config::BrokerConfig;
use crate::store::MessageStore;

/// What a truncation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated {
    /// The log's end before.
    pub from: i64,
    /// The log's end now: the largest record boundary at or below the asked offset.
    pub to: i64,
}

/// Cut the store of the SLAVE configured by `cfg` back to the largest record boundary at or
/// below `offset` (an offset at or past its end changes nothing). The store must not be open
/// elsewhere (run it before the broker starts).
pub fn truncate_slave_store(cfg: &BrokerConfig, offset: i64) -> Result<Truncated, String> {
    if !cfg.is_slave() {
        return Err(format!(
            "refusing to truncate the store of a {} (brokerRole must be SLAVE): a master's tail \
             holds acknowledged messages",
            cfg.broker_role.name()
        ));
    }
    if offset < 0 {
        return Err(format!("--truncate-to expects an offset >= 0, got {offset}"));
    }
    let store = MessageStore::open(cfg.store.clone())
        .map_err(|e| format!("cannot open the message store: {e}"))?;
    store.start().map_err(|e| format!("cannot start the message store: {e}"))?;
    let from = store.get_max_phy_offset();
    let to = store.record_boundary_at_or_below(offset);
    let r = store.truncate_to(to).map_err(|e| format!("cannot truncate to {to}: {e}"));
    store.shutdown().map_err(|e| format!("cannot close the message store: {e}"))?;
    r?;
    if to < from {
        tracing::warn!(from, to, asked = offset, "slave store truncated by the operator");
    }
    Ok(Truncated { from, to })
}
