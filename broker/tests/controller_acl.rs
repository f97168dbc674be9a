//! Controller mode with ACL on the controllers (docs/security.md, "Controller"): 3
//! `mqcontroller` with `aclEnable=true` and 3 `mqbroker`s that sign with an admin account. The
//! brokers' registration, heartbeats, the election and the sync-state-set changes are signed
//! writes the controllers admit; the controllers sign their Raft traffic and their role-change
//! pushes; a master killed -9 is replaced; an unsigned election is refused.

#[path = "common/controller_group.rs"]
mod controller_group;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use controller_group::*;
use mq_common::acl::DENIAL_PREFIX;
use mq_common::protocol::codes::{request as req, response as rc};
use mq_common::protocol::header::ElectMasterRequestHeader;
use mq_common::protocol::RemotingCommand;
use mq_test_support::wait_until;
use parking_lot::Mutex;

const ACCOUNTS: &str = "\
accounts:
  - accessKey: groupAdmin
    secretKey: group-admin-secret
    admin: true
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_controllers_elect_and_fail_over_signing_brokers() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("plain_acl.yml");
    std::fs::write(&acl, ACCOUNTS).unwrap();
    let acl = acl.display().to_string();
    let creds = [("accessKey", "groupAdmin"), ("secretKey", "group-admin-secret")];
    let mut ctl = vec![("aclEnable", "true"), ("aclFilePath", acl.as_str())];
    ctl.extend_from_slice(&creds);
    // Returns once a master is routed and all three replicas are in the sync state set.
    let mut g = Group::start_with(Timings::Fast, false, &creds, &ctl).await;
    let master = g.wait_master(None).await;

    // Nobody else can move the master: an unsigned election is refused by the leader.
    let leader = g.ctls.wait_leader(T).await;
    let elect = RemotingCommand::request_with_header(
        req::CONTROLLER_ELECT_MASTER,
        &ElectMasterRequestHeader {
            cluster_name: Some("DefaultCluster".into()),
            broker_name: GROUP.into(),
            broker_id: Some(2),
            designate_elect: Some(true),
            ..Default::default()
        },
    );
    let r = g.ctls.invoke(leader, elect).await.expect("an answer");
    assert_eq!(r.code, rc::SYSTEM_ERROR, "{:?}", r.remark);
    let remark = r.remark.unwrap_or_default();
    assert_eq!(remark.strip_prefix(DENIAL_PREFIX), Some("No accessKey is configured"));
    assert_eq!(g.wait_master(None).await, master, "a refused election moved the master");

    // The signed group still fails over.
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (producer, task) = sender(&g.ns, sent.clone(), stop.clone()).await;
    let (new_master, took) = fail_over(&mut g, &master, &sent).await;
    println!("failover to {new_master} in {took:?}");
    let acked = sent.lock().acked.len();
    wait_until("20 sends acknowledged by the new master", T, || async {
        sent.lock().acked.len() >= acked + 20
    })
    .await;
    stop.store(true, Ordering::Release);
    task.await.unwrap();
    producer.shutdown().await;
}
