//! The overview's controller view: broker groups in controller mode, as their controllers
//! hold them. A broker in controller mode names its controllers in its runtime report
//! (`controllerAddr`); each distinct controller set is asked once with
//! CONTROLLER_GET_SYNC_STATE_DATA (the client function `mqadmin getSyncStateSet` uses).

use std::collections::{BTreeMap, BTreeSet};

use mq_client::admin::controller::{elect_master, sync_state_data};
use mq_client::ClientError;

use super::RemoteBackend;
use crate::backend::*;

impl RemoteBackend {
    /// `groups`: controller addresses → the (cluster, broker name) groups that use them;
    /// `brokers`: the overview's rows, for each replica's offset.
    pub(super) async fn controller_groups(
        &self,
        groups: BTreeMap<String, BTreeSet<(String, String)>>,
        brokers: &[BrokerInfo],
    ) -> Vec<ControllerGroup> {
        let Ok(admin) = self.admin() else { return Vec::new() };
        let offsets: BTreeMap<&str, Option<i64>> =
            brokers.iter().map(|b| (b.addr.as_str(), b.max_offset)).collect();
        let mut out = Vec::new();
        for (ctl, members) in groups {
            let names: Vec<String> = members.iter().map(|(_, n)| n.clone()).collect();
            let answer =
                sync_state_data(admin.api().remoting(), &ctl, &names, admin.api().timeout).await;
            for (cluster, name) in members {
                let mut g = ControllerGroup {
                    cluster,
                    broker_name: name.clone(),
                    controller_addr: ctl.clone(),
                    ..Default::default()
                };
                match &answer {
                    Err(e) => g.error = Some(format!("controllers {ctl}: {e}")),
                    Ok(info) => match info.replicas_info_table.get(&name) {
                        None => g.error = Some("not known to its controllers".into()),
                        Some(r) => {
                            g.master_broker_id = r.master_broker_id;
                            g.master_addr = r.master_address.clone();
                            g.master_epoch = r.master_epoch;
                            g.sync_state_set_epoch = r.sync_state_set_epoch;
                            let tagged = r
                                .in_sync_replicas
                                .iter()
                                .map(|x| (x, true))
                                .chain(r.not_in_sync_replicas.iter().map(|x| (x, false)));
                            g.replicas = tagged
                                .map(|(x, in_sync)| ControllerReplica {
                                    broker_id: x.broker_id,
                                    addr: x.broker_address.clone(),
                                    master: Some(x.broker_id) == r.master_broker_id,
                                    in_sync,
                                    alive: x.alive,
                                    max_offset: offsets
                                        .get(x.broker_address.as_str())
                                        .copied()
                                        .flatten(),
                                })
                                .collect();
                            g.replicas.sort_by_key(|x| (!x.in_sync, x.broker_id));
                        }
                    },
                }
                out.push(g);
            }
        }
        out.sort_by(|a, b| (&a.cluster, &a.broker_name).cmp(&(&b.cluster, &b.broker_name)));
        out
    }

    /// The group's controllers come from the overview (the brokers' `controllerAddr`), never
    /// from the caller: the console only talks to controllers its cluster names.
    pub(super) async fn elect(&self, req: &ElectRequest) -> BResult<ControllerGroup> {
        let find = |o: Partial<ClusterOverview>| {
            o.items
                .controller_groups
                .into_iter()
                .find(|g| g.cluster == req.cluster && g.broker_name == req.broker_name)
        };
        let group = find(self.overview().await?).ok_or_else(|| {
            BackendError::NotFound(format!(
                "no broker group {} in controller mode in cluster {}",
                req.broker_name, req.cluster
            ))
        })?;
        let admin = self.admin()?;
        let id = i64::try_from(req.broker_id)
            .map_err(|_| BackendError::Invalid(format!("bad broker id {}", req.broker_id)))?;
        let ctl = group.controller_addr.as_str();
        elect_master(
            admin.api().remoting(),
            ctl,
            Some(&req.cluster),
            &req.broker_name,
            id,
            admin.api().timeout,
        )
        .await
        .map_err(|e| match e {
            ClientError::Broker { code, remark, .. } => BackendError::Invalid(format!(
                "the controllers refused to elect broker {id} of {}: {remark} (code {code})",
                req.broker_name
            )),
            e => BackendError::Broker {
                broker: "controllers".into(),
                addr: ctl.to_string(),
                message: e.to_string(),
            },
        })?;
        self.invalidate();
        find(self.overview().await?).ok_or_else(|| {
            BackendError::NotFound(format!("broker group {} vanished", req.broker_name))
        })
    }
}
