//! The commit log in pwrite mode (`commitLogPwriteEnable=true`), on a real broker process:
//! records written with `pwrite(2)` are readable through the (read-only) mapping at once, across
//! a file roll (whose blank marker is written the same way), and survive a kill -9 that comes
//! before any flush: an acknowledged record is in the page cache when the send is answered.

mod common;

use std::time::Duration;

use common::{pull_bodies, send_header, send_v2};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::SendMessageResponseHeader;
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_test_support::{Stack, StackOptions};

const T: Duration = Duration::from_secs(30);
const TOPIC: &str = "PwriteKill";
/// Enough 0.1–6 KiB bodies to fill more than one 1 MiB commit-log file.
const N: usize = 400;

fn body(i: usize) -> Vec<u8> {
    let len = 100 + (i * 397) % 6000;
    (0..len).map(|j| (i * 31 + j) as u8).collect()
}

/// Every body of queue 0 from offset 0.
async fn pull_all(client: &RemotingClient, addr: &str) -> Vec<Vec<u8>> {
    pull_bodies(client, addr, (TOPIC, 0), T).await
}

/// The permissions of the broker's mappings of commit-log files (`/proc/PID/maps`).
fn commit_log_mapping_perms(pid: u32) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    maps.lines()
        .filter(|l| l.contains("/commitlog/"))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pwritten_records_are_read_through_the_mapping_and_survive_kill_9() {
    // Nothing is flushed before the kill: the periodic flush and the thorough flush are 10
    // minutes away, so what survives is what pwrite put in the page cache.
    let opts = StackOptions::default().broker_sets(&[
        ("commitLogPwriteEnable", "true"),
        ("mappedFileSizeCommitLog", "1048576"),
        ("flushIntervalCommitLog", "600000"),
        ("flushCommitLogThoroughInterval", "600000"),
    ]);
    let mut stack = Stack::start(opts).await;
    stack.create_topic(TOPIC, 1).await;
    let addr = stack.broker_addr.clone();
    let client = RemotingClient::new(ClientConfig::default());
    let mut offsets = Vec::with_capacity(N);
    for i in 0..N {
        let req = send_v2(&send_header(TOPIC, 0, "t", &format!("k{i}")), &body(i));
        let r = client.invoke(&addr, req, T).await.expect("send answered");
        assert_eq!(r.code, response::SUCCESS, "send {i}: {:?}", r.remark);
        offsets.push(r.decode_header::<SendMessageResponseHeader>().unwrap().queue_offset);
    }
    assert_eq!(offsets, (0..N as i64).collect::<Vec<_>>());
    let want: Vec<Vec<u8>> = (0..N).map(body).collect();
    assert!(pull_all(&client, &addr).await == want, "read back through the mapping");

    let pid = stack.broker_pid("broker-a").expect("broker running");
    let perms = commit_log_mapping_perms(pid);
    assert!(perms.len() >= 2, "the log rolled to a second file: {perms:?}");
    assert!(perms.iter().all(|p| p == "r--s"), "commit log mapped read-only, shared: {perms:?}");

    stack.kill_broker("broker-a");
    stack.start_broker("broker-a").await;
    assert!(pull_all(&client, &addr).await == want, "every acknowledged record after kill -9");
    let r = client.invoke(&addr, send_v2(&send_header(TOPIC, 0, "t", "after"), b"after"), T).await;
    let r = r.expect("send after restart answered");
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(r.decode_header::<SendMessageResponseHeader>().unwrap().queue_offset, N as i64);
}
