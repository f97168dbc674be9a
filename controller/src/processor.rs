//! Request dispatch: Raft RPCs between controllers, and Java's controller request codes from
//! brokers and admin tools. Writes go through Raft on the leader; a follower answers
//! `CONTROLLER_NOT_LEADER` naming the leader (Java brokers then ask CONTROLLER_GET_METADATA_INFO
//! and retry there). Reads are served by the leader after a linearizability check.

// Both arms of `Reply` are a RemotingCommand of the same size: boxing the error would buy nothing.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_common::protocol::body::{
    BrokerReplicasInfo, EpochEntryBody, ReplicaIdentity, ReplicasInfo, SyncStateSetBody,
};
use mq_common::protocol::codes::{request as req, response as rc};
use mq_common::protocol::header::{
    AlterSyncStateSetRequestHeader, AlterSyncStateSetResponseHeader, ApplyBrokerIdRequestHeader,
    ApplyBrokerIdResponseHeader, BrokerHeartbeatToControllerHeader, ElectMasterRequestHeader,
    GetMetaDataResponseHeader, GetNextBrokerIdRequestHeader, GetNextBrokerIdResponseHeader,
    GetReplicaInfoRequestHeader, MasterInfoResponseHeader, RegisterBrokerToControllerRequestHeader,
};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{header, Channel, Reply, RequestHandler};

use crate::liveness::BrokerLive;
use crate::node::Shared;
use crate::replicas::{Command, Group, Outcome};

/// The answer when Raft could not confirm leadership or commit in time (a leader cut off from
/// its majority): the caller never hangs; a write may still apply later, so it retries.
fn no_quorum(deadline: Duration) -> RemotingCommand {
    RemotingCommand::error(
        rc::SYSTEM_BUSY,
        format!("no controller quorum within {deadline:?}; retry (a write may still apply)"),
    )
}

/// The controller's [`RequestHandler`].
pub struct ControllerProcessor {
    shared: Arc<Shared>,
}

impl ControllerProcessor {
    /// A processor over the node's shared parts.
    pub fn new(shared: Arc<Shared>) -> Self {
        ControllerProcessor { shared }
    }

    async fn process(&self, channel: &Channel, request: &RemotingCommand) -> Reply {
        if let Some(r) = crate::network::serve(&self.shared.raft, request).await {
            return Ok(Some(r));
        }
        match request.code {
            req::CONTROLLER_GET_METADATA_INFO => Ok(Some(self.metadata())),
            req::BROKER_HEARTBEAT => self.heartbeat(channel, request),
            req::CONTROLLER_GET_NEXT_BROKER_ID => self.next_broker_id(request).await,
            req::CONTROLLER_APPLY_BROKER_ID => self.apply_broker_id(request).await,
            req::CONTROLLER_REGISTER_BROKER => self.register(request).await,
            req::CONTROLLER_GET_REPLICA_INFO => self.replica_info(request).await,
            req::CONTROLLER_ELECT_MASTER => self.elect(request).await,
            req::CONTROLLER_ALTER_SYNC_STATE_SET => self.alter(request).await,
            req::CONTROLLER_GET_SYNC_STATE_DATA => self.sync_state_data(request).await,
            _ => Err(Self::not_supported(request)),
        }
    }

    fn metadata(&self) -> RemotingCommand {
        let s = &self.shared;
        let leader = s.leader();
        let peer = leader.and_then(|l| s.peers.get(l as usize));
        RemotingCommand::success_with_header(&GetMetaDataResponseHeader {
            group: Some(s.group.clone()),
            controller_leader_id: peer.map(|p| p.self_id.clone()),
            controller_leader_address: peer.map(|p| p.addr.clone()),
            is_leader: leader == Some(s.node_id),
            peers: Some(s.peers_text.clone()),
        })
    }

    fn heartbeat(&self, channel: &Channel, request: &RemotingCommand) -> Reply {
        let h: BrokerHeartbeatToControllerHeader = header(request)?;
        let Some(id) = h.broker_id.and_then(|i| u64::try_from(i).ok()) else {
            return Err(RemotingCommand::error(
                rc::CONTROLLER_INVALID_REQUEST,
                "brokerId is required",
            ));
        };
        let timeout = h
            .heartbeat_timeout_mills
            .and_then(|t| u64::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(self.shared.config.broker_heartbeat_timeout);
        self.shared.liveness.heartbeat(
            &h.broker_name,
            id,
            BrokerLive {
                cluster: h.cluster_name,
                addr: h.broker_addr,
                last_seen: Instant::now(),
                timeout: Duration::from_millis(timeout),
                epoch: h.epoch.unwrap_or(0),
                max_offset: h.max_offset.unwrap_or(0),
                confirm_offset: h.confirm_offset.unwrap_or(0),
                priority: h.election_priority.unwrap_or(0),
                channel: Some(channel.id()),
                closed: false,
            },
        );
        Ok(Some(RemotingCommand::success()))
    }

    /// `CONTROLLER_NOT_LEADER` naming the leader, unless this node leads.
    fn require_leader(&self) -> Result<(), RemotingCommand> {
        let s = &self.shared;
        let leader = s.leader();
        if leader == Some(s.node_id) {
            return Ok(());
        }
        let at = leader
            .and_then(|l| s.peers.get(l as usize))
            .map_or("unknown".into(), |p| p.addr.clone());
        Err(RemotingCommand::error(
            rc::CONTROLLER_NOT_LEADER,
            format!("not the controller leader; the leader is {at}"),
        ))
    }

    /// Wait until this leader has applied everything committed before the read.
    async fn linearizable(&self) -> Result<(), RemotingCommand> {
        self.require_leader()?;
        let deadline = self.shared.raft_deadline();
        match tokio::time::timeout(deadline, self.shared.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(RemotingCommand::error(
                rc::CONTROLLER_NOT_LEADER,
                format!("not the controller leader: {e}"),
            )),
            Err(_) => Err(no_quorum(deadline)),
        }
    }

    fn read_group(&self, name: &str) -> Option<Group> {
        self.shared.state.read().table.groups.get(name).cloned()
    }

    /// Propose a command and wait for its outcome.
    async fn write(&self, cmd: Command) -> Result<Outcome, RemotingCommand> {
        self.require_leader()?;
        let deadline = self.shared.raft_deadline();
        match tokio::time::timeout(deadline, self.shared.raft.client_write(cmd)).await {
            Ok(Ok(r)) => Ok(r.data),
            Ok(Err(e)) => Err(RemotingCommand::error(
                rc::CONTROLLER_NOT_LEADER,
                format!("not committed: {e}"),
            )),
            Err(_) => Err(no_quorum(deadline)),
        }
    }

    /// The master view of a group, with the master left out when it is not alive (Java's
    /// register/elect answers).
    fn master_header(&self, name: &str, g: &Group, check_alive: bool) -> MasterInfoResponseHeader {
        let master = g.master.filter(|m| !check_alive || self.shared.liveness.is_alive(name, *m));
        MasterInfoResponseHeader {
            cluster_name: Some(g.cluster.clone()),
            broker_name: Some(name.to_string()),
            master_broker_id: master.map(|m| m as i64),
            master_address: g.address(master),
            master_epoch: Some(g.master_epoch),
            sync_state_set_epoch: Some(g.sync_state_set_epoch),
        }
    }

    fn sync_state_body(g: &Group) -> Vec<u8> {
        let body = SyncStateSetBody {
            sync_state_set: g.sync_state_set.clone(),
            sync_state_set_epoch: g.sync_state_set_epoch,
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }

    fn outcome_error(o: &Outcome) -> RemotingCommand {
        RemotingCommand::error(o.code, o.remark.clone().unwrap_or_default())
    }

    async fn next_broker_id(&self, request: &RemotingCommand) -> Reply {
        let h: GetNextBrokerIdRequestHeader = header(request)?;
        self.linearizable().await?;
        let next = self
            .read_group(&h.broker_name)
            .map_or(crate::replicas::FIRST_BROKER_ID, |g| g.next_broker_id());
        Ok(Some(RemotingCommand::success_with_header(&GetNextBrokerIdResponseHeader {
            cluster_name: h.cluster_name,
            broker_name: h.broker_name,
            next_broker_id: next as i64,
        })))
    }

    async fn apply_broker_id(&self, request: &RemotingCommand) -> Reply {
        let h: ApplyBrokerIdRequestHeader = header(request)?;
        let Ok(id) = u64::try_from(h.applied_broker_id) else {
            return Err(RemotingCommand::error(
                rc::CONTROLLER_BROKER_ID_INVALID,
                "brokerId must be >= 0",
            ));
        };
        let o = self
            .write(Command::ApplyBrokerId {
                cluster: h.cluster_name.clone(),
                broker_name: h.broker_name.clone(),
                broker_id: id,
                check_code: h.register_check_code,
            })
            .await?;
        if o.code != rc::SUCCESS {
            return Err(Self::outcome_error(&o));
        }
        Ok(Some(RemotingCommand::success_with_header(&ApplyBrokerIdResponseHeader {
            cluster_name: h.cluster_name,
            broker_name: h.broker_name,
        })))
    }

    async fn register(&self, request: &RemotingCommand) -> Reply {
        let h: RegisterBrokerToControllerRequestHeader = header(request)?;
        let Ok(id) = u64::try_from(h.broker_id) else {
            return Err(RemotingCommand::error(
                rc::CONTROLLER_BROKER_ID_INVALID,
                "brokerId must be >= 0",
            ));
        };
        self.linearizable().await?;
        self.shared.liveness.touch(&h.broker_name, id);
        let unchanged = self
            .read_group(&h.broker_name)
            .and_then(|g| g.replicas.get(&id).map(|r| r.address == h.broker_address))
            .unwrap_or(false);
        let g = if unchanged {
            self.read_group(&h.broker_name).unwrap_or_default()
        } else {
            let o = self
                .write(Command::RegisterBroker {
                    broker_name: h.broker_name.clone(),
                    broker_id: id,
                    address: h.broker_address,
                })
                .await?;
            if o.code != rc::SUCCESS {
                return Err(Self::outcome_error(&o));
            }
            o.group.unwrap_or_default()
        };
        let hdr = self.master_header(&h.broker_name, &g, true);
        Ok(Some(RemotingCommand::success_with_header(&hdr).with_body(Self::sync_state_body(&g))))
    }

    async fn replica_info(&self, request: &RemotingCommand) -> Reply {
        let h: GetReplicaInfoRequestHeader = header(request)?;
        self.linearizable().await?;
        let Some(g) = self.read_group(&h.broker_name) else {
            return Err(RemotingCommand::error(
                rc::CONTROLLER_BROKER_METADATA_NOT_EXIST,
                "broker metadata does not exist",
            ));
        };
        let hdr = MasterInfoResponseHeader {
            cluster_name: None,
            broker_name: None,
            sync_state_set_epoch: None,
            ..self.master_header(&h.broker_name, &g, false)
        };
        Ok(Some(RemotingCommand::success_with_header(&hdr).with_body(Self::sync_state_body(&g))))
    }

    async fn elect(&self, request: &RemotingCommand) -> Reply {
        let h: ElectMasterRequestHeader = header(request)?;
        let o = self
            .write(Command::ElectMaster {
                broker_id: h.broker_id.and_then(|i| u64::try_from(i).ok()),
                designate: h.designate_elect.unwrap_or(false),
                candidates: self.shared.liveness.candidates(&h.broker_name),
                unclean: self.shared.config.enable_elect_unclean_master,
                broker_name: h.broker_name.clone(),
            })
            .await?;
        let Some(g) = &o.group else { return Err(Self::outcome_error(&o)) };
        if o.code == rc::SUCCESS {
            crate::notify::role_changed(&self.shared, &h.broker_name, g);
        }
        let hdr = MasterInfoResponseHeader {
            cluster_name: None,
            broker_name: None,
            ..self.master_header(&h.broker_name, g, false)
        };
        let body = serde_json::json!({
            "syncStateSet": g.sync_state_set,
            "brokerMemberGroup": {
                "cluster": g.cluster,
                "brokerName": h.broker_name,
                "brokerAddrs": g.replicas.iter().map(|(id, r)| (id.to_string(), r.address.clone())).collect::<std::collections::BTreeMap<_, _>>(),
            },
        });
        let mut resp = RemotingCommand::success_with_header(&hdr).with_body(body.to_string());
        if o.code != rc::SUCCESS {
            resp.code = o.code;
            resp.remark = o.remark.clone();
        }
        Ok(Some(resp))
    }

    async fn alter(&self, request: &RemotingCommand) -> Reply {
        let h: AlterSyncStateSetRequestHeader = header(request)?;
        let body: SyncStateSetBody = serde_json::from_slice(&request.body).map_err(|e| {
            RemotingCommand::error(
                rc::CONTROLLER_INVALID_REQUEST,
                format!("bad SyncStateSet body: {e}"),
            )
        })?;
        let Ok(master) = u64::try_from(h.master_broker_id) else {
            return Err(RemotingCommand::error(
                rc::CONTROLLER_INVALID_MASTER,
                "masterBrokerId must be >= 0",
            ));
        };
        let o = self
            .write(Command::AlterSyncStateSet {
                alive: self.shared.liveness.alive_set(&h.broker_name),
                broker_name: h.broker_name,
                master,
                master_epoch: h.master_epoch,
                new_set: body.sync_state_set,
                set_epoch: body.sync_state_set_epoch,
            })
            .await?;
        if o.code != rc::SUCCESS {
            return Err(Self::outcome_error(&o));
        }
        let g = o.group.unwrap_or_default();
        Ok(Some(
            RemotingCommand::success_with_header(&AlterSyncStateSetResponseHeader {
                new_sync_state_set_epoch: g.sync_state_set_epoch,
            })
            .with_body(Self::sync_state_body(&g)),
        ))
    }

    async fn sync_state_data(&self, request: &RemotingCommand) -> Reply {
        let names: Vec<String> = if request.body.is_empty() {
            Vec::new()
        } else {
            serde_json::from_slice(&request.body).map_err(|e| {
                RemotingCommand::error(
                    rc::CONTROLLER_INVALID_REQUEST,
                    format!("body must be a JSON list of broker names: {e}"),
                )
            })?
        };
        self.linearizable().await?;
        let state = self.shared.state.read();
        let mut out = BrokerReplicasInfo::default();
        for (name, g) in &state.table.groups {
            if !names.is_empty() && !names.contains(name) {
                continue;
            }
            let (mut in_sync, mut not_in_sync) = (Vec::new(), Vec::new());
            for (id, r) in &g.replicas {
                let ident = ReplicaIdentity {
                    broker_name: name.clone(),
                    broker_id: *id,
                    broker_address: r.address.clone(),
                    alive: self.shared.liveness.is_alive(name, *id),
                };
                if g.sync_state_set.contains(id) {
                    in_sync.push(ident);
                } else {
                    not_in_sync.push(ident);
                }
            }
            out.replicas_info_table.insert(
                name.clone(),
                ReplicasInfo {
                    master_broker_id: g.master,
                    master_address: g.address(g.master),
                    master_epoch: g.master_epoch,
                    sync_state_set_epoch: g.sync_state_set_epoch,
                    in_sync_replicas: in_sync,
                    not_in_sync_replicas: not_in_sync,
                    epoch_history: g
                        .history
                        .iter()
                        .map(|e| EpochEntryBody { epoch: e.epoch, master_broker_id: e.master })
                        .collect(),
                },
            );
        }
        let body = serde_json::to_vec(&out).unwrap_or_default();
        Ok(Some(RemotingCommand::success().with_body(body)))
    }
}

impl RequestHandler for ControllerProcessor {
    async fn handle(&self, channel: &Channel, request: RemotingCommand) -> Reply {
        tracing::trace!(code = request.code, peer = %channel.peer_addr(), "request");
        self.process(channel, &request).await
    }

    /// A broker's heartbeat connection closed (Java's `onBrokerChannelClose`): it is dead now
    /// in this controller's table; the leader scans at once, so a killed master is replaced
    /// in well under a heartbeat timeout. A follower only updates its own table.
    fn on_disconnected(&self, channel: &Channel) {
        let gone = self.shared.liveness.channel_closed(channel.id());
        if gone.is_empty() {
            return;
        }
        tracing::info!(brokers = ?gone, peer = %channel.peer_addr(), "broker connection closed: inactive");
        if self.shared.is_leader() {
            self.shared.scan_now.notify_one();
        }
    }
}
