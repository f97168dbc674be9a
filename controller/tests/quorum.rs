//! Three real `mqcontroller` processes: a broker group's state is replicated by Raft, the
//! group keeps answering when the leader is kill -9'd or cut off from the other two, a dead
//! master is replaced from the sync state set, and the state survives restarting every
//! controller.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mq_common::protocol::body::{BrokerReplicasInfo, SyncStateSetBody};
use mq_common::protocol::codes::{request as req, response as rc};
use mq_common::protocol::header::{
    AlterSyncStateSetRequestHeader, ApplyBrokerIdRequestHeader, BrokerHeartbeatToControllerHeader,
    ElectMasterRequestHeader, GetMetaDataResponseHeader, GetNextBrokerIdRequestHeader,
    GetNextBrokerIdResponseHeader, GetReplicaInfoRequestHeader, MasterInfoResponseHeader,
    RegisterBrokerToControllerRequestHeader,
};
use mq_common::protocol::RemotingCommand;
use mq_test_support::controllers::Controllers;
use mq_test_support::ensure_bins;
use mq_test_support::wait::{poll_until, wait_until};
use parking_lot::Mutex;

const GROUP: &str = "broker-g";
const LEADER_WAIT: Duration = Duration::from_secs(30);
/// Generous: heartbeats must not lapse on a loaded machine while controllers restart.
const HEARTBEAT_TIMEOUT_MS: i64 = 3000;

fn addr(id: u64) -> String {
    format!("127.0.0.{id}:10911")
}

/// CONTROLLER_APPLY_BROKER_ID for broker `id` of [`GROUP`] at [`addr`]`(id)`.
fn apply_broker_id(id: u64) -> RemotingCommand {
    RemotingCommand::request_with_header(
        req::CONTROLLER_APPLY_BROKER_ID,
        &ApplyBrokerIdRequestHeader {
            cluster_name: "c".into(),
            broker_name: GROUP.into(),
            applied_broker_id: id as i64,
            register_check_code: format!("{};1", addr(id)),
        },
    )
}

/// The binaries both tests run.
fn bins() {
    ensure_bins(&["mqcontroller", "mqadmin"]);
}

/// Send `cmd` to whichever controller leads (retrying across a leader change).
async fn to_leader(c: &Controllers, cmd: impl Fn() -> RemotingCommand) -> RemotingCommand {
    wait_until("a leader's answer", LEADER_WAIT, || async {
        let i = c.leader_now().await?;
        c.invoke(i, cmd()).await.filter(|r| r.code != rc::CONTROLLER_NOT_LEADER)
    })
    .await
}

async fn replica_info(c: &Controllers) -> (MasterInfoResponseHeader, SyncStateSetBody) {
    let r = to_leader(c, || {
        RemotingCommand::request_with_header(
            req::CONTROLLER_GET_REPLICA_INFO,
            &GetReplicaInfoRequestHeader { broker_name: GROUP.into() },
        )
    })
    .await;
    assert_eq!(r.code, rc::SUCCESS, "{:?}", r.remark);
    (r.decode_header().unwrap(), serde_json::from_slice(&r.body).unwrap())
}

/// Heartbeat the ids in `alive` to every controller every 100 ms until aborted (one task per
/// controller, so a dead one does not delay the others).
fn heartbeats(c: &Controllers, alive: Arc<Mutex<BTreeSet<u64>>>) -> tokio::task::JoinSet<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for a in c.addrs.clone() {
        let alive = alive.clone();
        tasks.spawn(async move {
            let client = mq_common::remoting::RemotingClient::new(Default::default());
            loop {
                let ids: Vec<u64> = alive.lock().iter().copied().collect();
                for id in ids {
                    let h = BrokerHeartbeatToControllerHeader {
                        cluster_name: "c".into(),
                        broker_addr: addr(id),
                        broker_name: GROUP.into(),
                        broker_id: Some(id as i64),
                        epoch: Some(1),
                        max_offset: Some(100 * id as i64),
                        heartbeat_timeout_mills: Some(HEARTBEAT_TIMEOUT_MS),
                        ..Default::default()
                    };
                    let cmd = RemotingCommand::request_with_header(req::BROKER_HEARTBEAT, &h);
                    if client.invoke(&a, cmd, Duration::from_millis(300)).await.is_err() {
                        client.close_channel(&a);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_controllers_survive_leader_kill_and_restart() {
    bins();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Controllers::start(tmp.path(), 3, &[]);
    let leader = c.wait_leader(LEADER_WAIT).await;

    // A follower refuses writes and names the leader.
    let follower = (leader + 1) % 3;
    let apply = |id: u64| move || apply_broker_id(id);
    let r = c.invoke(follower, apply(1)()).await.unwrap();
    assert_eq!(r.code, rc::CONTROLLER_NOT_LEADER);
    // (The follower may hear of the new leader a heartbeat later.)
    wait_until("the follower names the leader", LEADER_WAIT, || async {
        let r = c.invoke(follower, apply(1)()).await.unwrap();
        assert_eq!(r.code, rc::CONTROLLER_NOT_LEADER);
        r.remark.unwrap_or_default().contains(&c.addrs[leader])
    })
    .await;

    // Three replicas apply for ids and register; broker 1 is elected first.
    for id in 1..=3 {
        assert_eq!(to_leader(&c, apply(id)).await.code, rc::SUCCESS);
        let r = to_leader(&c, || {
            RemotingCommand::request_with_header(
                req::CONTROLLER_REGISTER_BROKER,
                &RegisterBrokerToControllerRequestHeader {
                    cluster_name: "c".into(),
                    broker_name: GROUP.into(),
                    broker_id: id as i64,
                    broker_address: addr(id),
                    invoke_time: None,
                },
            )
        })
        .await;
        assert_eq!(r.code, rc::SUCCESS, "{:?}", r.remark);
    }
    let alive = Arc::new(Mutex::new(BTreeSet::from([1, 2, 3])));
    let mut hb = heartbeats(&c, alive.clone());
    let elect = |id: i64| {
        move || {
            RemotingCommand::request_with_header(
                req::CONTROLLER_ELECT_MASTER,
                &ElectMasterRequestHeader {
                    cluster_name: Some("c".into()),
                    broker_name: GROUP.into(),
                    broker_id: Some(id),
                    ..Default::default()
                },
            )
        }
    };
    let r = to_leader(&c, elect(1)).await;
    assert_eq!(r.code, rc::SUCCESS, "{:?}", r.remark);
    let h: MasterInfoResponseHeader = r.decode_header().unwrap();
    assert_eq!((h.master_broker_id, h.master_epoch), (Some(1), Some(1)));
    assert_eq!(to_leader(&c, elect(2)).await.code, rc::CONTROLLER_MASTER_STILL_EXIST);

    // The master adds broker 2 to the sync state set.
    let alter = |set: &[u64], set_epoch: i32, master: i64, master_epoch: i32| {
        let body = serde_json::to_vec(&SyncStateSetBody {
            sync_state_set: set.iter().copied().collect(),
            sync_state_set_epoch: set_epoch,
        })
        .unwrap();
        move || {
            RemotingCommand::request_with_header(
                req::CONTROLLER_ALTER_SYNC_STATE_SET,
                &AlterSyncStateSetRequestHeader {
                    broker_name: GROUP.into(),
                    master_broker_id: master,
                    master_epoch,
                    invoke_time: None,
                },
            )
            .with_body(body.clone())
        }
    };
    let r = to_leader(&c, alter(&[1, 2], 1, 1, 1)).await;
    assert_eq!(r.code, rc::SUCCESS, "{:?}", r.remark);

    // kill -9 the controller leader: the other two elect a leader and keep the state.
    c.kill(leader);
    let new_leader = c.wait_leader(LEADER_WAIT).await;
    assert_ne!(new_leader, leader);
    let (h, set) = replica_info(&c).await;
    assert_eq!((h.master_broker_id, h.master_epoch), (Some(1), Some(1)));
    assert_eq!((set.sync_state_set, set.sync_state_set_epoch), (BTreeSet::from([1, 2]), 2));
    // Two of three still commit writes (a stale epoch is fenced, a current one applies).
    assert_eq!(
        to_leader(&c, alter(&[1, 2, 3], 1, 1, 1)).await.code,
        rc::CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH
    );

    // Master 1 stops heart-beating: the leader elects 2 (in sync), not 3 (not in sync, though
    // its offset is higher), and bumps the epoch.
    alive.lock().remove(&1);
    let (h, set) = wait_until("broker 2 elected", LEADER_WAIT, || async {
        let (h, set) = replica_info(&c).await;
        (h.master_broker_id == Some(2)).then_some((h, set))
    })
    .await;
    assert_eq!(h.master_epoch, Some(2));
    assert_eq!(set.sync_state_set, BTreeSet::from([2]));
    // The deposed master's epoch is fenced.
    assert_eq!(to_leader(&c, alter(&[1, 2], 3, 1, 1)).await.code, rc::CONTROLLER_INVALID_MASTER);

    // The killed controller returns and catches up; then all three are kill -9'd and
    // restarted: nothing is lost.
    c.start_one(leader);
    let caught_up = poll_until(LEADER_WAIT, || async {
        let r = c.invoke(leader, RemotingCommand::request(req::CONTROLLER_GET_METADATA_INFO)).await;
        r.is_some_and(|r| r.code == rc::SUCCESS)
    })
    .await;
    assert!(caught_up.is_some(), "restarted controller answers");
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.start_one(i);
    }
    c.wait_leader(LEADER_WAIT).await;
    let (h, set) = replica_info(&c).await;
    assert_eq!(
        (h.master_broker_id, h.master_epoch, h.master_address),
        (Some(2), Some(2), Some(addr(2)))
    );
    assert_eq!(set.sync_state_set, BTreeSet::from([2]));
    let r = to_leader(&c, || {
        RemotingCommand::request(req::CONTROLLER_GET_SYNC_STATE_DATA)
            .with_body(format!("[\"{GROUP}\"]"))
    })
    .await;
    let info: BrokerReplicasInfo = serde_json::from_slice(&r.body).unwrap();
    let g = &info.replicas_info_table[GROUP];
    assert_eq!(g.epoch_history.len(), 2);
    assert_eq!(g.in_sync_replicas.len() + g.not_in_sync_replicas.len(), 3);

    // mqadmin: metadata names the leader; electMaster refuses a replica outside the set,
    // then moves mastership to it once the master has added it.
    let meta = mqadmin(&["getControllerMetaData", "-a", &c.controller_addr(), "--json"]).unwrap();
    let leader = c.leader_now().await.unwrap();
    assert_eq!(meta["controllerLeaderAddress"], c.addrs[leader].as_str(), "{meta}");
    let elect3 = ["electMaster", "-a", &c.controller_addr(), "--bn", GROUP, "-b", "3", "--json"];
    let err = mqadmin(&elect3).unwrap_err();
    assert!(err.contains(&rc::CONTROLLER_ELECT_MASTER_FAILED.to_string()), "{err}");
    // The restarted leader's liveness table (kept per controller, not replicated) fills from
    // heartbeats: on a loaded machine broker 3's first one can come after this point, so the
    // alter is repeated while the leader has not heard of it yet (repeating is safe).
    let altered = poll_until(LEADER_WAIT, || async {
        let code = to_leader(&c, alter(&[2, 3], 3, 2, 2)).await.code;
        (code != rc::CONTROLLER_BROKER_NOT_ALIVE).then_some(code)
    })
    .await;
    assert_eq!(altered, Some(rc::SUCCESS));
    let out = mqadmin(&elect3).unwrap();
    assert_eq!((out["masterBrokerId"].as_i64(), out["masterEpoch"].as_i64()), (Some(3), Some(3)));
    let sss = mqadmin(&["getSyncStateSet", "-a", &c.addrs[0], "-b", GROUP, "--json"]).unwrap();
    let g = &sss["replicasInfoTable"][GROUP];
    assert_eq!(
        (g["masterBrokerId"].as_i64(), g["masterEpoch"].as_i64()),
        (Some(3), Some(3)),
        "{sss}"
    );
    hb.abort_all();
}

/// Run `mqadmin args`: its JSON output, or its stderr when it fails.
fn mqadmin(args: &[&str]) -> Result<serde_json::Value, String> {
    let out = std::process::Command::new(mq_test_support::target_dir().join("mqadmin"))
        .args(args)
        .output()
        .expect("run mqadmin");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// With a snapshot every 5 entries, a controller that was down while the others wrote 30
/// entries (and purged their logs) catches up by snapshot; after a full kill -9 and restart
/// every replica starts from snapshot + log and the table is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_controller_catches_up_by_snapshot() {
    bins();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Controllers::start(tmp.path(), 3, &[("controllerRaftSnapshotLogs", "5")]);
    let leader = c.wait_leader(LEADER_WAIT).await;
    let lagging = (leader + 1) % 3;
    c.kill(lagging);
    for id in 1..=30u64 {
        let r = to_leader(&c, || apply_broker_id(id)).await;
        assert_eq!(r.code, rc::SUCCESS, "{:?}", r.remark);
    }
    c.start_one(lagging);
    let snapshot = tmp.path().join(format!("controller-n{lagging}")).join("snapshot.json");
    let installed = poll_until(LEADER_WAIT, || async {
        std::fs::read(&snapshot)
            .is_ok_and(|b| String::from_utf8_lossy(&b).contains("127.0.0.20:10911"))
    })
    .await;
    assert!(
        installed.is_some(),
        "the lagging controller received a snapshot (ids up to at least 20)"
    );
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.start_one(i);
    }
    let r = to_leader(&c, || {
        RemotingCommand::request(req::CONTROLLER_GET_SYNC_STATE_DATA)
            .with_body(format!("[\"{GROUP}\"]"))
    })
    .await;
    let info: BrokerReplicasInfo = serde_json::from_slice(&r.body).unwrap();
    let g = &info.replicas_info_table[GROUP];
    assert_eq!(g.not_in_sync_replicas.len(), 30);
}

/// A leader left alone (both followers kill -9'd) answers writes and reads with an error
/// within its Raft deadline instead of hanging the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_leader_answers_instead_of_hanging() {
    bins();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Controllers::start(tmp.path(), 3, &[]);
    let leader = c.wait_leader(LEADER_WAIT).await;
    for i in (0..3).filter(|i| *i != leader) {
        c.kill(i);
    }
    let write = RemotingCommand::request_with_header(
        req::CONTROLLER_APPLY_BROKER_ID,
        &ApplyBrokerIdRequestHeader {
            cluster_name: "c".into(),
            broker_name: GROUP.into(),
            applied_broker_id: 1,
            register_check_code: format!("{};1", addr(1)),
        },
    );
    // Controllers::invoke waits 5 s; the deadline is 4 x 500 ms.
    let r = c.invoke(leader, write).await.expect("an answer, not a timeout");
    assert!(
        r.code == rc::SYSTEM_BUSY || r.code == rc::CONTROLLER_NOT_LEADER,
        "{} {:?}",
        r.code,
        r.remark
    );
    let read = RemotingCommand::request_with_header(
        req::CONTROLLER_GET_REPLICA_INFO,
        &GetReplicaInfoRequestHeader { broker_name: GROUP.into() },
    );
    let r = c.invoke(leader, read).await.expect("an answer, not a timeout");
    assert_ne!(r.code, rc::SUCCESS);
}

/// The leader cut off from the other two, both ways (each controller reaches each other one
/// through a fault proxy; this test still reaches all three): the two elect a leader among
/// them and commit; the one alone stops saying it leads within its election timeout (brokers
/// asking it for the leader look elsewhere; openraft alone would keep its role until it hears
/// a higher term) and refuses writes; healed, it follows and the group holds the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_cut_off_from_its_peers_stops_leading_while_the_majority_elects() {
    bins();
    let tmp = tempfile::tempdir().unwrap();
    let c = Controllers::start_linked(tmp.path(), 3, &[]).await;
    let old = c.wait_leader(LEADER_WAIT).await;
    c.isolate(old);
    let others: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    let new = wait_until("a leader among the other two", LEADER_WAIT, || async {
        for i in &others {
            if c.leads(*i).await {
                return Some(*i);
            }
        }
        None
    })
    .await;
    wait_until("the one cut off stops saying it leads", LEADER_WAIT, || async {
        !c.leads(old).await
    })
    .await;
    let apply = apply_broker_id;
    let r = c.invoke(new, apply(1)).await.expect("the majority's leader answers");
    assert_eq!(r.code, rc::SUCCESS, "{:?}", r.remark);
    let r = c.invoke(old, apply(2)).await.expect("the one cut off answers");
    assert_eq!(r.code, rc::CONTROLLER_NOT_LEADER, "{:?}", r.remark);

    c.heal_links();
    let next = || {
        RemotingCommand::request_with_header(
            req::CONTROLLER_GET_NEXT_BROKER_ID,
            &GetNextBrokerIdRequestHeader { cluster_name: "c".into(), broker_name: GROUP.into() },
        )
    };
    let r = to_leader(&c, next).await;
    let h: GetNextBrokerIdResponseHeader = r.decode_header().unwrap();
    assert_eq!(h.next_broker_id, 2, "the write committed while {old} was cut off");
    // The healed one has applied it too: it names a leader other than itself.
    wait_until("the healed controller follows a leader", LEADER_WAIT, || async {
        let r = c.invoke(old, RemotingCommand::request(req::CONTROLLER_GET_METADATA_INFO)).await;
        r.and_then(|r| r.decode_header::<GetMetaDataResponseHeader>().ok())
            .is_some_and(|h| !h.is_leader && h.controller_leader_id.is_some())
    })
    .await;
}
