//! `mqadmin updateBrokerConfig` against real `mqnamesrv` + `mqbroker` processes: the keys Java
//! reads live take effect without a restart, `getBrokerConfig` shows them, and the broker's
//! config file is rewritten with them.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{wait_until, Stack, StackOptions};
use mq_client::{Admin, Message, MessageQueue, Producer};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};

const WAIT: Duration = Duration::from_secs(20);

fn mqadmin(ns: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(args)
        .args(["-n", ns])
        .output()
        .expect("run mqadmin");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "mqadmin {args:?} failed:\n{text}");
    text
}

/// `mqadmin updateBrokerConfig -k K -v V`, then `getBrokerConfig` must show `K = V`.
fn set(stack: &Stack, key: &str, value: &str) -> String {
    let (ns, b) = (stack.namesrv_addr.as_str(), stack.broker_addr.as_str());
    let out = mqadmin(ns, &["updateBrokerConfig", "-b", b, "-k", key, "-v", value]);
    assert!(out.contains("update broker config success"), "{out}");
    let shown = mqadmin(ns, &["getBrokerConfig", "-b", b]);
    let line = shown
        .lines()
        .find(|l| l.split('=').next().map(str::trim) == Some(key))
        .unwrap_or_else(|| panic!("{key} not in getBrokerConfig:\n{shown}"));
    assert_eq!(line.split_once('=').map(|(_, v)| v.trim()), Some(value), "{line}");
    out
}

fn persisted(stack: &Stack, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(stack.dir.path().join("broker-a.conf")).ok()?;
    mq_common::config::parse_properties(&text)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

async fn producer(stack: &Stack) -> Producer {
    Producer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("cfg_live_producer")
        .compress_threshold(1 << 30)
        .retries(0)
        .start()
        .await
        .unwrap()
}

async fn max_offset(admin: &Admin, addr: &str, topic: &str) -> i64 {
    admin.topic_stats_at(addr, topic).await.unwrap().values().map(|o| o.max_offset).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_create_topic_and_max_message_size_change_live() {
    let opts = StackOptions::default()
        .broker_sets(&[("maxMessageSize", "4096"), ("mappedFileSizeCommitLog", "1048576")]);
    let stack = Stack::start(opts).await;
    let ns = stack.namesrv_addr.clone();
    let admin = Admin::connect(&ns).await.unwrap();
    let p = producer(&stack).await;

    // autoCreateTopicEnable off: a send to an unknown topic fails with TOPIC_NOT_EXIST.
    set(&stack, "autoCreateTopicEnable", "false");
    assert_eq!(persisted(&stack, "autoCreateTopicEnable").as_deref(), Some("false"));
    let e = p.send(Message::new("LiveAutoOff", "x")).await.unwrap_err();
    assert_eq!(e.code(), Some(response::TOPIC_NOT_EXIST), "{e}");
    // On again: the same send creates the topic.
    set(&stack, "autoCreateTopicEnable", "true");
    p.send(Message::new("LiveAutoOn", "x")).await.unwrap();

    // maxMessageSize lowered to 1000: a 2000-byte body is MESSAGE_ILLEGAL, and the messages
    // around it are all there (nothing lost, nothing half-written).
    stack.create_topic("LiveSize", 1).await;
    let mq = MessageQueue::new("LiveSize", "broker-a", 0);
    p.send_to_queue(Message::new("LiveSize", vec![b'a'; 900]), &mq).await.unwrap();
    let out = set(&stack, "maxMessageSize", "1000");
    assert!(!out.contains("restart"), "maxMessageSize is live: {out}");
    let e = p.send_to_queue(Message::new("LiveSize", vec![b'b'; 2000]), &mq).await.unwrap_err();
    assert_eq!(e.code(), Some(response::MESSAGE_ILLEGAL), "{e}");
    p.send_to_queue(Message::new("LiveSize", vec![b'c'; 1000]), &mq).await.unwrap();
    // Raised above the startup value (4096): the store takes 6000 bytes now.
    set(&stack, "maxMessageSize", "8192");
    p.send_to_queue(Message::new("LiveSize", vec![b'd'; 6000]), &mq).await.unwrap();
    assert_eq!(max_offset(&admin, &stack.broker_addr, "LiveSize").await, 3);
    for (offset, (byte, len)) in [(b'a', 900), (b'c', 1000), (b'd', 6000)].into_iter().enumerate() {
        let m = admin
            .query_msg_by_offset(&mq, offset as i64)
            .await
            .unwrap()
            .expect("message at offset");
        assert_eq!((m.body[0], m.body.len()), (byte, len), "offset {offset}");
    }

    // A key that needs a restart says so, and is still shown and persisted.
    let out = set(&stack, "flushConsumerOffsetInterval", "700");
    assert!(out.contains("restart"), "{out}");
    assert_eq!(persisted(&stack, "flushConsumerOffsetInterval").as_deref(), Some("700"));
    p.shutdown().await;
    admin.close();
}

/// `commitLogMinOffset` from the broker's runtime info (-1 if absent).
async fn commit_log_min_offset(admin: &Admin, addr: &str) -> i64 {
    let info = admin.broker_runtime_info(addr).await.unwrap();
    info.get("commitLogMinOffset").and_then(|v| v.parse::<i64>().ok()).unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_reserved_time_changes_live() {
    // Small commit-log files and a fast clean loop, so retention is observable in seconds.
    let opts = StackOptions::default().broker_sets(&[
        ("mappedFileSizeCommitLog", "65536"),
        ("cleanResourceInterval", "200"),
        ("fileReservedTime", "72"),
    ]);
    let stack = Stack::start(opts).await;
    let admin = Admin::connect(&stack.namesrv_addr).await.unwrap();
    stack.create_topic("LiveRetention", 1).await;
    let p = producer(&stack).await;
    for i in 0..60 {
        p.send(Message::new("LiveRetention", format!("{i:03}").repeat(1000))).await.unwrap();
    }
    assert_eq!(commit_log_min_offset(&admin, &stack.broker_addr).await, 0);

    // With 72 h the files just written are kept whatever triggers a run; with 0 h every
    // file but the active one is expired, and the next (triggered) run deletes them.
    set(&stack, "fileReservedTime", "0");
    assert_eq!(persisted(&stack, "fileReservedTime").as_deref(), Some("0"));
    let client = RemotingClient::new(ClientConfig::default());
    let r = client
        .invoke(&stack.broker_addr, RemotingCommand::request(rq::TRIGGER_DELETE_FILES), WAIT)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    wait_until("expired commit-log files deleted", WAIT, || {
        let (admin, addr) = (admin.clone(), stack.broker_addr.clone());
        async move { commit_log_min_offset(&admin, &addr).await > 0 }
    })
    .await;
    client.close_all();
    p.shutdown().await;
    admin.close();
}
