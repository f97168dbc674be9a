//! The replicated state: per broker group (brokerName) its replicas, master, master epoch and
//! sync state set, and the commands that change it.
//!
//! Every change goes through the Raft log as a [`Command`] and is validated *when applied*
//! ([`ReplicaTable::apply`]), so two racing requests cannot both pass a check made before
//! commit. Liveness is not replicated (each controller tracks heartbeats itself): the leader
//! puts what it saw (the live candidates, best first) into the command, which keeps apply
//! deterministic on every replica.

use std::collections::{BTreeMap, BTreeSet};

use mq_common::protocol::codes::response as rc;
use serde::{Deserialize, Serialize};

/// Java's `MixAll.FIRST_BROKER_CONTROLLER_ID`: the first id handed out in a group.
pub const FIRST_BROKER_ID: u64 = 1;

/// One replica of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// `ip:port` it registered last.
    pub address: String,
    /// `address;timestamp` from its id application: a second apply for the same id must match.
    pub check_code: String,
}

/// One (epoch, master) step of a group's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochEntry {
    /// Master epoch.
    pub epoch: i32,
    /// Master elected at that epoch (`None`: the master died and nobody could be elected).
    pub master: Option<u64>,
}

/// A broker group's replicated state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Cluster name.
    pub cluster: String,
    /// Replicas by id.
    pub replicas: BTreeMap<u64, Replica>,
    /// Current master, if any.
    pub master: Option<u64>,
    /// Bumped by every election: a broker holding an older one is fenced.
    pub master_epoch: i32,
    /// Replicas caught up with the master (always contains it while there is one).
    pub sync_state_set: BTreeSet<u64>,
    /// Bumped on every change of the set.
    pub sync_state_set_epoch: i32,
    /// Elections so far, oldest first.
    pub history: Vec<EpochEntry>,
}

impl Group {
    /// Address of `id`, if registered.
    pub fn address(&self, id: Option<u64>) -> Option<String> {
        id.and_then(|i| self.replicas.get(&i)).map(|r| r.address.clone())
    }

    /// The id a new replica should apply for.
    pub fn next_broker_id(&self) -> u64 {
        self.replicas.keys().next_back().map_or(FIRST_BROKER_ID, |m| m + 1)
    }
}

/// A change to the table, as proposed through Raft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// CONTROLLER_APPLY_BROKER_ID: claim `broker_id` in a group (creating it with id 1).
    ApplyBrokerId {
        /// Cluster.
        cluster: String,
        /// Group.
        broker_name: String,
        /// Claimed id.
        broker_id: u64,
        /// `address;timestamp`.
        check_code: String,
    },
    /// CONTROLLER_REGISTER_BROKER: record the replica's current address.
    RegisterBroker {
        /// Group.
        broker_name: String,
        /// Id applied before.
        broker_id: u64,
        /// Its address now.
        address: String,
    },
    /// CONTROLLER_ALTER_SYNC_STATE_SET from the master.
    AlterSyncStateSet {
        /// Group.
        broker_name: String,
        /// The master asking.
        master: u64,
        /// Its epoch.
        master_epoch: i32,
        /// The set it wants.
        new_set: BTreeSet<u64>,
        /// The set epoch it based that on.
        set_epoch: i32,
        /// Live replicas (leader's view when proposing).
        alive: BTreeSet<u64>,
    },
    /// CONTROLLER_ELECT_MASTER, from a broker, an admin or the leader's liveness scan.
    ElectMaster {
        /// Group.
        broker_name: String,
        /// The requesting/designated broker; `None` when the controller itself triggers it.
        broker_id: Option<u64>,
        /// Elect exactly `broker_id`.
        designate: bool,
        /// Live replicas, best candidate first (leader's view when proposing).
        candidates: Vec<u64>,
        /// `enableElectUncleanMaster`.
        unclean: bool,
    },
}

/// The result of applying a [`Command`]: a response code plus the group as it is afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// `SUCCESS` or a `CONTROLLER_*` code.
    pub code: i32,
    /// Why, on failure.
    pub remark: Option<String>,
    /// The group after the command (absent when it does not exist).
    pub group: Option<Group>,
}

impl Outcome {
    fn fail(code: i32, remark: impl Into<String>, group: Option<&Group>) -> Self {
        Outcome { code, remark: Some(remark.into()), group: group.cloned() }
    }
    fn ok(group: &Group) -> Self {
        Outcome { code: rc::SUCCESS, remark: None, group: Some(group.clone()) }
    }
}

/// All groups by broker name. Deterministic: the same commands give the same table everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaTable {
    /// Groups by broker name.
    pub groups: BTreeMap<String, Group>,
}

impl ReplicaTable {
    /// Apply one committed command.
    pub fn apply(&mut self, cmd: &Command) -> Outcome {
        match cmd {
            Command::ApplyBrokerId { cluster, broker_name, broker_id, check_code } => {
                self.apply_broker_id(cluster, broker_name, *broker_id, check_code)
            }
            Command::RegisterBroker { broker_name, broker_id, address } => {
                let Some(g) = self.groups.get_mut(broker_name) else {
                    return Outcome::fail(
                        rc::CONTROLLER_BROKER_NEED_TO_BE_REGISTERED,
                        format!("broker group {broker_name} has not applied for an id"),
                        None,
                    );
                };
                let Some(r) = g.replicas.get_mut(broker_id) else {
                    return Outcome::fail(
                        rc::CONTROLLER_BROKER_NEED_TO_BE_REGISTERED,
                        format!("broker id {broker_id} is not registered in {broker_name}"),
                        Some(g),
                    );
                };
                r.address.clone_from(address);
                Outcome::ok(g)
            }
            Command::AlterSyncStateSet {
                broker_name,
                master,
                master_epoch,
                new_set,
                set_epoch,
                alive,
            } => self.alter_sync_state_set(
                broker_name,
                *master,
                *master_epoch,
                new_set,
                *set_epoch,
                alive,
            ),
            Command::ElectMaster { broker_name, broker_id, designate, candidates, unclean } => {
                self.elect(broker_name, *broker_id, *designate, candidates, *unclean)
            }
        }
    }

    fn apply_broker_id(&mut self, cluster: &str, name: &str, id: u64, check: &str) -> Outcome {
        let address = check.split(';').next().unwrap_or_default().to_string();
        match self.groups.get_mut(name) {
            None if id != FIRST_BROKER_ID => Outcome::fail(
                rc::CONTROLLER_BROKER_ID_INVALID,
                format!(
                    "broker group {name} is new: the first id must be {FIRST_BROKER_ID}, not {id}"
                ),
                None,
            ),
            None => {
                let mut g = Group { cluster: cluster.to_string(), ..Default::default() };
                g.replicas.insert(id, Replica { address, check_code: check.to_string() });
                let out = Outcome::ok(&g);
                self.groups.insert(name.to_string(), g);
                out
            }
            Some(g) => match g.replicas.get(&id) {
                Some(r) if r.check_code != check => Outcome::fail(
                    rc::CONTROLLER_BROKER_ID_INVALID,
                    format!("broker id {id} of {name} belongs to another broker"),
                    Some(g),
                ),
                _ => {
                    g.replicas.insert(id, Replica { address, check_code: check.to_string() });
                    Outcome::ok(g)
                }
            },
        }
    }

    fn alter_sync_state_set(
        &mut self,
        name: &str,
        master: u64,
        master_epoch: i32,
        new_set: &BTreeSet<u64>,
        set_epoch: i32,
        alive: &BTreeSet<u64>,
    ) -> Outcome {
        let Some(g) = self.groups.get_mut(name) else {
            return Outcome::fail(
                rc::CONTROLLER_ALTER_SYNC_STATE_SET_FAILED,
                "broker metadata does not exist",
                None,
            );
        };
        let fail = |code, remark: String, g: &Group| Outcome::fail(code, remark, Some(g));
        if g.master != Some(master) {
            return fail(
                rc::CONTROLLER_INVALID_MASTER,
                format!("the master is {:?}, not {master}", g.master),
                g,
            );
        }
        if g.master_epoch != master_epoch {
            return fail(
                rc::CONTROLLER_FENCED_MASTER_EPOCH,
                format!("master epoch is {}, not {master_epoch}", g.master_epoch),
                g,
            );
        }
        if g.sync_state_set_epoch != set_epoch {
            return fail(
                rc::CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH,
                format!("sync state set epoch is {}, not {set_epoch}", g.sync_state_set_epoch),
                g,
            );
        }
        if *new_set == g.sync_state_set {
            return fail(
                rc::CONTROLLER_ALTER_SYNC_STATE_SET_FAILED,
                "the new sync state set equals the old one".into(),
                g,
            );
        }
        if !new_set.contains(&master) {
            return fail(
                rc::CONTROLLER_ALTER_SYNC_STATE_SET_FAILED,
                "the new sync state set lacks the master".into(),
                g,
            );
        }
        for id in new_set {
            if !g.replicas.contains_key(id) {
                return fail(
                    rc::CONTROLLER_INVALID_REPLICAS,
                    format!("replica {id} does not exist"),
                    g,
                );
            }
            if *id != master && !alive.contains(id) {
                return fail(
                    rc::CONTROLLER_BROKER_NOT_ALIVE,
                    format!("replica {id} is not alive"),
                    g,
                );
            }
        }
        g.sync_state_set.clone_from(new_set);
        g.sync_state_set_epoch += 1;
        Outcome::ok(g)
    }

    fn elect(
        &mut self,
        name: &str,
        requester: Option<u64>,
        designate: bool,
        candidates: &[u64],
        unclean: bool,
    ) -> Outcome {
        let Some(g) = self.groups.get_mut(name) else {
            return Outcome::fail(
                rc::CONTROLLER_BROKER_NEED_TO_BE_REGISTERED,
                format!("broker group {name} is not registered"),
                None,
            );
        };
        let eligible = |id: &u64, g: &Group| {
            g.replicas.contains_key(id) && (unclean || g.sync_state_set.contains(id))
        };
        let first_time = g.history.is_empty();
        let new_master = if first_time {
            // A group that never had a master: the first live replica asking becomes it.
            requester.filter(|id| g.replicas.contains_key(id))
        } else if designate {
            requester.filter(|id| candidates.contains(id) && eligible(id, g))
        } else if let Some(old) = g.master.filter(|m| candidates.contains(m)) {
            Some(old)
        } else {
            candidates.iter().copied().find(|id| eligible(id, g))
        };
        match new_master {
            Some(m) if g.master == Some(m) && !designate => Outcome::fail(
                rc::CONTROLLER_MASTER_STILL_EXIST,
                format!("master {m} of {name} is still alive"),
                Some(g),
            ),
            Some(m) if g.master == Some(m) => Outcome::ok(g),
            Some(m) => {
                g.master = Some(m);
                g.master_epoch += 1;
                g.sync_state_set = BTreeSet::from([m]);
                g.sync_state_set_epoch += 1;
                g.history.push(EpochEntry { epoch: g.master_epoch, master: Some(m) });
                Outcome::ok(g)
            }
            None if requester.is_none() => {
                // The master died and nobody can take over: record that it is gone (its epoch
                // is fenced) but keep the set, so a member returning can still be elected.
                if g.master.is_some() {
                    g.master = None;
                    g.master_epoch += 1;
                    g.history.push(EpochEntry { epoch: g.master_epoch, master: None });
                }
                Outcome::fail(
                    rc::CONTROLLER_MASTER_NOT_AVAILABLE,
                    format!("no replica of {name} can be elected"),
                    Some(g),
                )
            }
            None => Outcome::fail(
                rc::CONTROLLER_ELECT_MASTER_FAILED,
                format!("failed to elect a master for {name}"),
                Some(g),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_with(n: u64) -> ReplicaTable {
        let mut t = ReplicaTable::default();
        for id in 1..=n {
            let o = t.apply(&Command::ApplyBrokerId {
                cluster: "c".into(),
                broker_name: "b".into(),
                broker_id: id,
                check_code: format!("127.0.0.{id}:10911;1"),
            });
            assert_eq!(o.code, rc::SUCCESS, "{o:?}");
        }
        t
    }

    fn elect(t: &mut ReplicaTable, id: Option<u64>, cands: &[u64]) -> Outcome {
        t.apply(&Command::ElectMaster {
            broker_name: "b".into(),
            broker_id: id,
            designate: false,
            candidates: cands.to_vec(),
            unclean: false,
        })
    }

    #[test]
    fn ids_first_election_alter_and_failover() {
        let mut t = ReplicaTable::default();
        let o = t.apply(&Command::ApplyBrokerId {
            cluster: "c".into(),
            broker_name: "b".into(),
            broker_id: 2,
            check_code: "x;1".into(),
        });
        assert_eq!(o.code, rc::CONTROLLER_BROKER_ID_INVALID);
        let mut t = table_with(3);
        assert_eq!(t.groups["b"].next_broker_id(), 4);
        // Someone else's id.
        let o = t.apply(&Command::ApplyBrokerId {
            cluster: "c".into(),
            broker_name: "b".into(),
            broker_id: 2,
            check_code: "other;9".into(),
        });
        assert_eq!(o.code, rc::CONTROLLER_BROKER_ID_INVALID);
        // First election: the requester wins.
        let o = elect(&mut t, Some(2), &[1, 2, 3]);
        let g = o.group.unwrap();
        assert_eq!((g.master, g.master_epoch, g.sync_state_set_epoch), (Some(2), 1, 1));
        assert_eq!(g.sync_state_set, BTreeSet::from([2]));
        // Master alive: nobody else wins.
        assert_eq!(elect(&mut t, Some(1), &[1, 2, 3]).code, rc::CONTROLLER_MASTER_STILL_EXIST);
        // Grow the set; stale epochs and dead replicas are refused.
        let alter = |t: &mut ReplicaTable, epoch, set: &[u64], se| {
            t.apply(&Command::AlterSyncStateSet {
                broker_name: "b".into(),
                master: 2,
                master_epoch: epoch,
                new_set: set.iter().copied().collect(),
                set_epoch: se,
                alive: BTreeSet::from([1, 2]),
            })
        };
        assert_eq!(alter(&mut t, 0, &[1, 2], 1).code, rc::CONTROLLER_FENCED_MASTER_EPOCH);
        assert_eq!(alter(&mut t, 1, &[1, 2], 0).code, rc::CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH);
        assert_eq!(alter(&mut t, 1, &[2, 3], 1).code, rc::CONTROLLER_BROKER_NOT_ALIVE);
        assert_eq!(alter(&mut t, 1, &[1], 1).code, rc::CONTROLLER_ALTER_SYNC_STATE_SET_FAILED);
        assert_eq!(alter(&mut t, 1, &[1, 2], 1).code, rc::SUCCESS);
        assert_eq!(t.groups["b"].sync_state_set_epoch, 2);
        // Master 2 dies: 3 is alive but not in sync, 1 is: 1 wins, epoch bumps.
        let o = elect(&mut t, None, &[3, 1]);
        let g = o.group.unwrap();
        assert_eq!((o.code, g.master, g.master_epoch), (rc::SUCCESS, Some(1), 2));
        // Only an out-of-sync replica alive: no master, epoch fenced, set kept.
        let o = elect(&mut t, None, &[3]);
        let g = o.group.unwrap();
        assert_eq!(
            (o.code, g.master, g.master_epoch),
            (rc::CONTROLLER_MASTER_NOT_AVAILABLE, None, 3)
        );
        // Unclean election allowed explicitly.
        let o = t.apply(&Command::ElectMaster {
            broker_name: "b".into(),
            broker_id: None,
            designate: false,
            candidates: vec![3],
            unclean: true,
        });
        assert_eq!(o.group.unwrap().master, Some(3));
        assert_eq!(t.groups["b"].history.len(), 4);
        // Replaying the same commands gives the same table (deterministic apply).
        let copy: ReplicaTable = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(copy, t);
    }
}
