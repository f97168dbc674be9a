//! Raft transport between controllers over our remoting codec: one request code per Raft RPC
//! (`CONTROLLER_RAFT_*`, rmq-only), JSON bodies of openraft's own (serde) message types, the
//! answer's body `Result<response, RaftError>` as JSON. Controllers talk to each other on the
//! same port brokers and admins use.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use mq_common::protocol::codes::{request as req, response as rc};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::RemotingClient;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::raft_types::TypeConfig;

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

/// Creates a [`PeerClient`] per target; all share one [`RemotingClient`] (one connection per peer).
#[derive(Clone)]
pub struct Network {
    client: RemotingClient,
    /// Pause before retrying an unreachable peer.
    backoff: Duration,
    /// Where this replica reaches each peer, by node id: its own `controllerDLegerPeers`.
    peer_addrs: Arc<Vec<String>>,
}

impl Network {
    /// A transport over `client` to the peers at `peer_addrs` (by node id); an unreachable
    /// peer is retried every `backoff`.
    pub fn new(client: RemotingClient, backoff: Duration, peer_addrs: Vec<String>) -> Self {
        Network { client, backoff, peer_addrs: Arc::new(peer_addrs) }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    /// The address comes from this replica's own peer list, as DLedger dials its peers: the
    /// one in the Raft membership is the address of whichever replica formed the group, and
    /// the path from here may differ (a proxy, NAT, a test's fault proxy per link).
    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        let addr = self.peer_addrs.get(target as usize).unwrap_or(&node.addr).clone();
        PeerClient { net: self.clone(), target, addr }
    }
}

/// The connection to one peer.
pub struct PeerClient {
    net: Network,
    target: u64,
    addr: String,
}

impl PeerClient {
    async fn call<Q, P, E>(&self, code: i32, rpc: &Q, option: &RPCOption) -> RpcResult<P, E>
    where
        Q: Serialize,
        P: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let body = serde_json::to_vec(rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let cmd = RemotingCommand::request(code).with_body(body);
        let resp = self
            .net
            .client
            .invoke(&self.addr, cmd, option.hard_ttl())
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        if resp.code != rc::SUCCESS {
            let e = std::io::Error::other(format!(
                "peer {} answered {}: {}",
                self.addr,
                resp.code,
                resp.remark.unwrap_or_default()
            ));
            return Err(RPCError::Network(NetworkError::new(&e)));
        }
        let r: Result<P, RaftError<u64, E>> = serde_json::from_slice(&resp.body)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        self.call(req::CONTROLLER_RAFT_APPEND, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        self.call(req::CONTROLLER_RAFT_SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        self.call(req::CONTROLLER_RAFT_VOTE, &rpc, &option).await
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(self.net.backoff))
    }
}

/// Server side: answer one Raft RPC from a peer (`None`: not a Raft code).
pub async fn serve(
    raft: &crate::raft_types::Raft,
    request: &RemotingCommand,
) -> Option<RemotingCommand> {
    fn reply<T: Serialize>(r: &T) -> RemotingCommand {
        match serde_json::to_vec(r) {
            Ok(b) => RemotingCommand::success().with_body(b),
            Err(e) => RemotingCommand::error(rc::SYSTEM_ERROR, format!("encode: {e}")),
        }
    }
    fn bad(e: serde_json::Error) -> RemotingCommand {
        RemotingCommand::error(rc::SYSTEM_ERROR, format!("bad Raft message: {e}"))
    }
    Some(match request.code {
        req::CONTROLLER_RAFT_APPEND => match serde_json::from_slice(&request.body) {
            Ok(rpc) => reply(&raft.append_entries(rpc).await),
            Err(e) => bad(e),
        },
        req::CONTROLLER_RAFT_VOTE => match serde_json::from_slice(&request.body) {
            Ok(rpc) => reply(&raft.vote(rpc).await),
            Err(e) => bad(e),
        },
        req::CONTROLLER_RAFT_SNAPSHOT => match serde_json::from_slice(&request.body) {
            Ok(rpc) => reply(&raft.install_snapshot(rpc).await),
            Err(e) => bad(e),
        },
        _ => return None,
    })
}
