//! The overview's controller view: broker groups in controller mode, as their controllers
//! hold them. A broker in controller mode names its controllers in its runtime report
//! (`controllerAddr`); each distinct controller set is asked once with
//! CONTROLLER_GET_SYNC_STATE_DATA (the client function `mqadmin getSyncStateSet` uses).

use std::collections::{BTreeMap, BTreeSet};

use mq_client::admin::controller::sync_state_data;

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
}
