//! Checks on the replicas of a broker group, by broker address (docs/ha-protocol.md §12): is a
//! slave connected, has it caught up, does it serve a topic, and what does a queue hold. Every
//! wait is bounded ([`crate::wait`]); reads go through the public remoting requests
//! (GET_BROKER_RUNTIME_INFO, PULL_MESSAGE), so they work on any broker of the protocol.

use std::collections::BTreeMap;
use std::time::Duration;

use mq_client::consumer::fetch::PullStatus;
use mq_client::{Admin, MessageQueue};

use crate::wait::wait_until;

/// How long replication may take to (re)connect or catch up on a loaded machine.
pub const REPLICA_WAIT: Duration = Duration::from_secs(30);

/// Consumer group the reads below use (never commits: reads do not move any offset).
const READ_GROUP: &str = "HarnessReader";

/// An admin client for requests addressed to the broker at `addr` (it asks no name server;
/// the constructor wants a list, so it gets the broker itself).
fn admin(addr: &str) -> Admin {
    Admin::new(vec![addr.to_string()], Duration::from_secs(5)).expect("admin client")
}

/// GET_BROKER_RUNTIME_INFO of the broker at `addr` (`None` when it does not answer).
pub async fn runtime_info(addr: &str) -> Option<BTreeMap<String, String>> {
    let a = admin(addr);
    let r = a.broker_runtime_info(addr).await.ok();
    a.close();
    r
}

/// The broker's commit-log end (`commitLogMaxOffset`).
pub async fn max_offset(addr: &str) -> Option<i64> {
    runtime_info(addr).await?.get("commitLogMaxOffset")?.parse().ok()
}

/// Wait until the master at `master` has at least one slave connected (its
/// `haConnectionCount`): before that a SYNC_MASTER answers SLAVE_NOT_AVAILABLE, so a test that
/// counts send outcomes waits for this first (docs/replication.md, "Start-up window").
pub async fn wait_replicating(master: &str) {
    wait_until(&format!("a slave connected to {master}"), REPLICA_WAIT, || async {
        runtime_info(master)
            .await
            .and_then(|t| t.get("haConnectionCount")?.parse::<u32>().ok())
            .is_some_and(|n| n >= 1)
    })
    .await;
}

/// Wait until the slave at `slave` holds the master's whole commit log as it is now.
pub async fn wait_caught_up(master: &str, slave: &str) {
    let m = max_offset(master).await.expect("the master answers");
    wait_until(&format!("{slave} caught up with {master} at {m}"), REPLICA_WAIT, || async {
        max_offset(slave).await.is_some_and(|s| s >= m)
    })
    .await;
}

/// Wait until the broker at `addr` serves `topic` (on a slave: metadata sync brought it).
pub async fn wait_topic_served(addr: &str, topic: &str) {
    let a = admin(addr);
    let mq = MessageQueue::new(topic, "", 0);
    wait_until(&format!("{addr} serves {topic}"), REPLICA_WAIT, || async {
        a.pull_without_commit(addr, &mq, "*", READ_GROUP, 0, 1).await.is_ok()
    })
    .await;
    a.close();
}

/// Every message of queues `0..queues` of `topic` at the broker at `addr` (a slave needs
/// `slaveReadEnable=true`), as `(queue id, queue offset) → body`.
pub async fn read_queues(addr: &str, topic: &str, queues: i32) -> BTreeMap<(i32, i64), String> {
    let a = admin(addr);
    let mut out = BTreeMap::new();
    for q in 0..queues {
        let mq = MessageQueue::new(topic, "", q);
        let mut off = 0;
        loop {
            let r = a
                .pull_without_commit(addr, &mq, "*", READ_GROUP, off, 32)
                .await
                .unwrap_or_else(|e| panic!("pull {topic}/{q}@{off} from {addr}: {e}"));
            match r.status {
                PullStatus::Found(msgs) => {
                    for m in msgs {
                        out.insert((q, m.queue_offset), String::from_utf8_lossy(&m.body).into());
                    }
                }
                PullStatus::NoMatchedMsg if r.next_begin_offset > off => {}
                _ => break,
            }
            if r.next_begin_offset <= off {
                break;
            }
            off = r.next_begin_offset;
        }
    }
    a.close();
    out
}

/// Wait until queues `0..queues` of `topic` at the broker at `addr` hold exactly `want` (as
/// [`read_queues`] reads them). A replica's readable view trails the bytes it holds: its
/// consume queues are dispatched asynchronously, and in controller mode its read limit comes
/// in the master's next CONFIRM frame (`docs/controller.md`), so an equal commit-log end is not
/// yet equal queues. `Err` after [`REPLICA_WAIT`]: the differences, for the caller to report
/// (with its process logs).
pub async fn wait_same_queues(
    addr: &str,
    topic: &str,
    queues: i32,
    want: &BTreeMap<(i32, i64), String>,
) -> Result<(), String> {
    let deadline = std::time::Instant::now() + REPLICA_WAIT;
    let got = loop {
        let got = read_queues(addr, topic, queues).await;
        if got == *want {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let diff: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(k) != Some(v))
        .map(|(k, v)| (k, v, got.get(k)))
        .take(10)
        .collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(k)).take(10).collect();
    Err(format!(
        "{addr} holds {} entries of {topic}, {} wanted; (queue, offset) wanted / held: {diff:?}; \
         held, not wanted: {extra:?}",
        got.len(),
        want.len()
    ))
}

/// The offset group `group` committed for queue `queue` of `topic` at the broker at `addr`
/// (`None`: none, or the broker does not answer).
pub async fn committed_offset(addr: &str, group: &str, topic: &str, queue: i32) -> Option<i64> {
    let a = admin(addr);
    let mq = MessageQueue::new(topic, "", queue);
    let r = a.api().query_consumer_offset(addr, group, &mq).await.ok().flatten();
    a.close();
    r
}

/// Wait until `group`'s committed offset of every queue `0..queues` of `topic` at `addr` is
/// `offset` or more.
pub async fn wait_committed(addr: &str, group: &str, topic: &str, queues: i32, offset: i64) {
    wait_until(
        &format!("{group} committed {offset} on {topic} at {addr}"),
        REPLICA_WAIT,
        || async {
            for q in 0..queues {
                if committed_offset(addr, group, topic, q).await.unwrap_or(-1) < offset {
                    return false;
                }
            }
            true
        },
    )
    .await;
}
