//! GET_BROKER_EPOCH_CACHE (1007, Java's `AdminBrokerProcessor#getBrokerEpochCache`): the
//! broker's epoch file (`ha/epoch_cache.rs`) as Java's `EpochEntryCache` body, for
//! `mqadmin getBrokerEpoch`.

use mq_common::protocol::body::{EpochEntry, EpochEntryCache};
use mq_common::protocol::codes::response;
use mq_common::protocol::RemotingCommand;

use super::{err, Reply};
use crate::broker::Broker;

/// Answer with the epochs (each ending where the next starts, the last at `i64::MAX` as
/// Java's `Long.MAX_VALUE`), the broker's identity and its max physical offset. A broker not
/// in controller mode has no epochs: SYSTEM_ERROR with Java's remark.
pub fn get_broker_epoch_cache(b: &Broker) -> Reply {
    let Some(epochs) = &b.ha.epochs else {
        return Ok(Some(err(response::SYSTEM_ERROR, "this request only for controllerMode ")));
    };
    let entries = epochs.lock().entries().to_vec();
    let epoch_list = entries
        .iter()
        .enumerate()
        .map(|(i, e)| EpochEntry {
            epoch: e.epoch,
            start_offset: e.start,
            end_offset: entries.get(i + 1).map_or(i64::MAX, |next| next.start),
        })
        .collect();
    let body = EpochEntryCache {
        cluster_name: b.cfg.broker_cluster_name.clone(),
        broker_name: b.cfg.broker_name.clone(),
        // Java reports `brokerConfig.brokerId`: 0 while master, the controller's id otherwise.
        broker_id: b.ha.namesrv_broker_id(b.cfg.broker_id),
        epoch_list,
        max_offset: b.store.get_max_phy_offset(),
    };
    let json = serde_json::to_vec(&body).map_err(|e| err(response::SYSTEM_ERROR, e.to_string()))?;
    Ok(Some(RemotingCommand::success().with_body(json)))
}
