//! Three real `mqcontroller` processes with `aclEnable=true`: reads stay open, every write
//! (an id application, an election, Raft between the controllers) needs a signed request from
//! an admin account, and a refused write changes nothing. The controllers sign their own Raft
//! traffic with `accessKey`/`secretKey`, so a write an admin makes still commits on a quorum.

use std::time::Duration;

use mq_common::acl::{Credentials, DENIAL_PREFIX};
use mq_common::protocol::codes::{request as req, response as rc};
use mq_common::protocol::header::{
    ApplyBrokerIdRequestHeader, GetNextBrokerIdRequestHeader, GetNextBrokerIdResponseHeader,
};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_test_support::controllers::Controllers;
use mq_test_support::ensure_bins;
use mq_test_support::wait::wait_until;

const GROUP: &str = "acl-g";
const LEADER_WAIT: Duration = Duration::from_secs(30);
const ACL: &str = "\
accounts:
  - accessKey: ctlAdmin
    secretKey: ctl-admin-secret
    admin: true
  - accessKey: ctlUser
    secretKey: ctl-user-secret
    admin: false
";

fn client(creds: Option<(&str, &str)>) -> RemotingClient {
    RemotingClient::new(ClientConfig {
        credentials: creds.map(|(ak, sk)| Credentials::new(ak, sk)),
        ..Default::default()
    })
}

fn apply(id: i64) -> RemotingCommand {
    RemotingCommand::request_with_header(
        req::CONTROLLER_APPLY_BROKER_ID,
        &ApplyBrokerIdRequestHeader {
            cluster_name: "c".into(),
            broker_name: GROUP.into(),
            applied_broker_id: id,
            register_check_code: format!("127.0.0.{id}:10911;1"),
        },
    )
}

/// The id the leader would hand out next (a read: unsigned).
async fn next_id(c: &Controllers, leader: usize) -> i64 {
    let r = c
        .invoke(
            leader,
            RemotingCommand::request_with_header(
                req::CONTROLLER_GET_NEXT_BROKER_ID,
                &GetNextBrokerIdRequestHeader {
                    cluster_name: "c".into(),
                    broker_name: GROUP.into(),
                },
            ),
        )
        .await
        .expect("an answer");
    assert_eq!(r.code, rc::SUCCESS, "{:?}", r.remark);
    let h: GetNextBrokerIdResponseHeader = r.decode_header().unwrap();
    h.next_broker_id
}

/// Send `cmd` with `client` to whichever controller leads (retrying across a leader change).
async fn to_leader(
    c: &Controllers,
    client: &RemotingClient,
    cmd: impl Fn() -> RemotingCommand,
) -> (usize, RemotingCommand) {
    wait_until("a leader's answer", LEADER_WAIT, || async {
        let i = c.leader_now().await?;
        let r = client.invoke(&c.addrs[i], cmd(), Duration::from_secs(5)).await.ok()?;
        (r.code != rc::CONTROLLER_NOT_LEADER).then_some((i, r))
    })
    .await
}

fn denial(r: &RemotingCommand) -> String {
    assert_eq!(r.code, rc::SYSTEM_ERROR, "refused: {:?}", r.remark);
    let remark = r.remark.clone().unwrap_or_default();
    remark.strip_prefix(DENIAL_PREFIX).unwrap_or_else(|| panic!("an ACL denial: {remark}")).into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_writes_need_an_admin_signature() {
    ensure_bins(&["mqcontroller"]);
    let tmp = tempfile::tempdir().unwrap();
    let acl_file = tmp.path().join("plain_acl.yml");
    std::fs::write(&acl_file, ACL).unwrap();
    let acl_path = acl_file.display().to_string();
    let c = Controllers::start(
        tmp.path(),
        3,
        &[
            ("aclEnable", "true"),
            ("aclFilePath", &acl_path),
            ("accessKey", "ctlAdmin"),
            ("secretKey", "ctl-admin-secret"),
        ],
    );
    // Raft between the controllers is signed: they elect a leader. Reads are open.
    let leader = c.wait_leader(LEADER_WAIT).await;
    let before = next_id(&c, leader).await;

    // Unsigned, non-admin and wrongly signed writes are refused and change nothing.
    let (leader, r) = to_leader(&c, &client(None), || apply(before)).await;
    assert_eq!(denial(&r), "No accessKey is configured");
    let (_, r) =
        to_leader(&c, &client(Some(("ctlUser", "ctl-user-secret"))), || apply(before)).await;
    assert!(
        denial(&r).starts_with(&format!(
            "Need admin permission for request code={}",
            req::CONTROLLER_APPLY_BROKER_ID
        )),
        "{:?}",
        r.remark
    );
    let (_, r) =
        to_leader(&c, &client(Some(("ctlAdmin", "not-the-secret"))), || apply(before)).await;
    assert!(denial(&r).starts_with("Check signature failed"), "{:?}", r.remark);
    // A forged Raft vote from outside is refused before Raft sees it.
    let follower = (leader + 1) % 3;
    let vote = RemotingCommand::request(req::CONTROLLER_RAFT_VOTE).with_body(b"{}".to_vec());
    let r = c.invoke(follower, vote).await.expect("an answer");
    assert_eq!(denial(&r), "No accessKey is configured");
    assert_eq!(next_id(&c, leader).await, before, "a refused write changed the state");

    // The admin's write commits (on a quorum, through the signed Raft traffic).
    let (leader, r) =
        to_leader(&c, &client(Some(("ctlAdmin", "ctl-admin-secret"))), || apply(before)).await;
    assert_eq!(r.code, rc::SUCCESS, "{:?}", r.remark);
    assert_eq!(next_id(&c, leader).await, before + 1);
}
