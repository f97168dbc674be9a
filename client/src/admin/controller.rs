//! Requests to the controllers of controller mode (Java's `MQClientAPIImpl` controller calls),
//! shared by `mqadmin` (getControllerMetaData, getSyncStateSet, electMaster) and the web
//! console's controller view. They take a plain [`RemotingClient`]: the controller commands
//! need no name server. `controllers` is one or more addresses separated by `;`.

use std::time::Duration;

use mq_common::protocol::body::{BrokerReplicasInfo, EpochEntryCache};
use mq_common::protocol::codes::{request, response};
use mq_common::protocol::header::{
    ElectMasterRequestHeader, GetMetaDataResponseHeader, MasterInfoResponseHeader,
};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::RemotingClient;

use super::Admin;
use crate::error::{ClientError, Result};

/// CONTROLLER_GET_METADATA_INFO at each address in turn: the first answer naming a leader
/// wins. Returns the address that answered and its header.
pub async fn metadata(
    client: &RemotingClient,
    controllers: &str,
    timeout: Duration,
) -> Result<(String, GetMetaDataResponseHeader)> {
    let mut last_err = ClientError::InvalidArgument("no controller address given".into());
    for a in controllers.split(';').map(str::trim).filter(|a| !a.is_empty()) {
        let cmd = RemotingCommand::request(request::CONTROLLER_GET_METADATA_INFO);
        match client.invoke(a, cmd, timeout).await {
            Ok(r) if r.code == response::SUCCESS => {
                let h: GetMetaDataResponseHeader = r
                    .decode_header()
                    .map_err(|e| ClientError::BadResponse(format!("{a}: metadata header: {e}")))?;
                if h.controller_leader_address.is_some() {
                    return Ok((a.to_string(), h));
                }
                last_err = ClientError::BadResponse(format!("{a}: no controller leader yet"));
            }
            Ok(r) => last_err = ClientError::from_response(a, &r),
            Err(e) => last_err = e.into(),
        }
    }
    Err(last_err)
}

/// Send `cmd` to the controller leader (found with [`metadata`]); the answer is returned
/// whatever its code.
pub async fn to_leader(
    client: &RemotingClient,
    controllers: &str,
    cmd: RemotingCommand,
    timeout: Duration,
) -> Result<RemotingCommand> {
    let (_, meta) = metadata(client, controllers, timeout).await?;
    let leader = meta.controller_leader_address.unwrap_or_default();
    Ok(client.invoke(&leader, cmd, timeout).await?)
}

/// CONTROLLER_GET_SYNC_STATE_DATA for `broker_names` (empty: every group the controllers
/// know): per group the master, its epoch, the in-sync set and the other replicas.
pub async fn sync_state_data(
    client: &RemotingClient,
    controllers: &str,
    broker_names: &[String],
    timeout: Duration,
) -> Result<BrokerReplicasInfo> {
    let body = serde_json::to_vec(broker_names)
        .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
    let cmd = RemotingCommand::request(request::CONTROLLER_GET_SYNC_STATE_DATA).with_body(body);
    let r = to_leader(client, controllers, cmd, timeout).await?;
    if r.code != response::SUCCESS {
        return Err(ClientError::from_response(controllers, &r));
    }
    crate::api::parse_body(&r.body)
}

/// CONTROLLER_ELECT_MASTER at the controller leader, designating `broker_id` (Java's
/// `mqadmin electMaster`): the controllers make it the master of `broker_name` if it is a live
/// member of the in-sync set (or unclean election is enabled), bump the master epoch and tell
/// the group. Returns the group's master after the request; a refusal is an error carrying
/// the controller's code and remark.
pub async fn elect_master(
    client: &RemotingClient,
    controllers: &str,
    cluster: Option<&str>,
    broker_name: &str,
    broker_id: i64,
    timeout: Duration,
) -> Result<MasterInfoResponseHeader> {
    let cmd = RemotingCommand::request_with_header(
        request::CONTROLLER_ELECT_MASTER,
        &ElectMasterRequestHeader {
            cluster_name: cluster.map(str::to_string),
            broker_name: broker_name.to_string(),
            broker_id: Some(broker_id),
            designate_elect: Some(true),
            invoke_time: Some(mq_common::protocol::now_millis()),
        },
    );
    let r = to_leader(client, controllers, cmd, timeout).await?;
    if r.code != response::SUCCESS {
        return Err(ClientError::from_response(controllers, &r));
    }
    r.decode_header()
        .map_err(|e| ClientError::BadResponse(format!("{controllers}: elect answer header: {e}")))
}

impl Admin {
    /// GET_BROKER_EPOCH_CACHE (1007): the broker's epoch entries (controller mode only; other
    /// brokers answer SYSTEM_ERROR, as Java's).
    pub async fn broker_epoch_cache(&self, addr: &str) -> Result<EpochEntryCache> {
        self.body_at(addr, RemotingCommand::request(request::GET_BROKER_EPOCH_CACHE)).await
    }
}
