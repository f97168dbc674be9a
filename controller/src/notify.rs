//! NOTIFY_BROKER_ROLE_CHANGED (1008) pushes: after an election the leader tells every live
//! replica of the group at once (Java's `ControllerManager.notifyBrokerRoleChanged`), so the
//! new master takes its role without waiting for its next metadata round
//! (`syncBrokerMetadataPeriod`). Oneway and best effort: a broker that misses it still learns
//! at that next round.

use mq_common::protocol::body::SyncStateSetBody;
use mq_common::protocol::codes::request as req;
use mq_common::protocol::header::NotifyBrokerRoleChangedRequestHeader;
use mq_common::protocol::RemotingCommand;

use crate::node::Shared;
use crate::replicas::Group;

/// Tell the live replicas of `broker_name` its master is now `g.master` (spawned, never
/// awaited: the election answer does not wait for brokers).
pub fn role_changed(shared: &Shared, broker_name: &str, g: &Group) {
    let Some(master) = g.master else { return };
    let hdr = NotifyBrokerRoleChangedRequestHeader {
        master_address: g.address(Some(master)),
        master_broker_id: Some(master as i64),
        master_epoch: Some(g.master_epoch),
        sync_state_set_epoch: Some(g.sync_state_set_epoch),
    };
    let body = serde_json::to_vec(&SyncStateSetBody {
        sync_state_set: g.sync_state_set.clone(),
        sync_state_set_epoch: g.sync_state_set_epoch,
    })
    .unwrap_or_default();
    let cmd =
        RemotingCommand::request_with_header(req::NOTIFY_BROKER_ROLE_CHANGED, &hdr).with_body(body);
    for (id, r) in &g.replicas {
        if !shared.liveness.is_alive(broker_name, *id) {
            continue;
        }
        let (client, addr, cmd) = (shared.notify_client.clone(), r.address.clone(), cmd.clone());
        tokio::spawn(async move {
            if let Err(e) = client.invoke_oneway(&addr, cmd).await {
                tracing::debug!(broker = %addr, error = %e, "role change notification not sent");
                client.close_channel(&addr);
            }
        });
    }
}
