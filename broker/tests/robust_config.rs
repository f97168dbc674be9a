//! Config persistence and registration under hostile load, against real `mqbroker` /
//! `mqnamesrv` processes (issue 16): a heartbeat naming 50,000 groups (B2), layout keys on the
//! wire (B6), concurrent topic creates (B7), a paused broker coming back (B8), restart-only
//! keys and files outside the store (B9), the per-client budget of auto-created topics (B4).
//!
//! Each test prints its figure (`robust B2: ...`); `RMQ_BIN_DIR=<dir of older binaries>` runs
//! the same test against another build to measure a "before".

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{decode_msgs, pull_req, send_header, send_v2};
use mq_common::config::parse_properties;
use mq_common::protocol::body::{to_json, ConsumerData, HeartbeatData};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::{CreateTopicRequestHeader, PullMessageResponseHeader};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_test_support::{free_port, wait_until, written_bytes, Proc, Stack, StackOptions};

const T: Duration = Duration::from_secs(10);
const MIB: f64 = 1024.0 * 1024.0;

async fn call(addr: &str, cmd: RemotingCommand, timeout: Duration) -> RemotingCommand {
    let client = RemotingClient::new(ClientConfig::default());
    let r = client.invoke(addr, cmd, timeout).await.expect("rpc");
    client.close_all();
    r
}

fn update(body: &str) -> RemotingCommand {
    RemotingCommand::request(rq::UPDATE_BROKER_CONFIG).with_body(Bytes::from(body.to_string()))
}

async fn config_value(addr: &str, key: &str) -> Option<String> {
    let r = call(addr, RemotingCommand::request(rq::GET_BROKER_CONFIG), T).await;
    parse_properties(&String::from_utf8_lossy(&r.body))
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Whether the name server routes TBW102 to `broker_addr`.
async fn routed(namesrv: &str, broker_addr: &str) -> bool {
    route_shows(namesrv, broker_addr).await == Some(true)
}

/// Whether the name server's route of TBW102 lists `broker_addr`; `None` when the query itself
/// failed (a loaded machine), which says nothing about the broker.
async fn route_shows(namesrv: &str, broker_addr: &str) -> Option<bool> {
    let admin = mq_client::Admin::connect(namesrv).await.ok()?;
    let shown = admin
        .topic_route("TBW102")
        .await
        .ok()
        .map(|r| r.broker_datas.iter().any(|b| b.master_addr() == Some(broker_addr)));
    admin.close();
    shown
}

fn heartbeat_with_groups(prefix: &str, n: usize) -> RemotingCommand {
    let hb = HeartbeatData {
        client_id: format!("hostile@{prefix}"),
        producer_data_set: vec![],
        consumer_data_set: (0..n)
            .map(|i| ConsumerData {
                group_name: format!("{prefix}-{i}"),
                consume_type: "CONSUME_PASSIVELY".into(),
                message_model: "CLUSTERING".into(),
                consume_from_where: "CONSUME_FROM_FIRST_OFFSET".into(),
                subscription_data_set: vec![],
                unit_mode: false,
            })
            .collect(),
        ..Default::default()
    };
    RemotingCommand::request(rq::HEART_BEAT).with_body(to_json(&hb))
}

fn log_of(stack: &Stack, name: &str) -> String {
    std::fs::read_to_string(stack.dir.path().join(format!("{name}.log"))).unwrap_or_default()
}

/// B2: one HEART_BEAT naming 50,000 new groups: the config files are written a bounded number
/// of times, the broker stays registered, and SIGTERM during such a heartbeat stops it on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b2_a_heartbeat_naming_50000_groups_is_cheap_and_never_blocks() {
    let opts = StackOptions::default()
        .namesrv_set("scanNotActiveBrokerInterval", "500")
        .namesrv_set("brokerChannelExpiredTime", "6000");
    let mut stack = Stack::start(opts).await;
    let pid = stack.broker_pid("broker-a").unwrap();
    let groups_file = stack.dir.path().join("store-broker-a/config/subscriptionGroup.json");
    let hb = heartbeat_with_groups("HG", 50_000);
    eprintln!("robust B2: heartbeat body {:.1} MiB", hb.body.len() as f64 / MIB);

    let w0 = written_bytes(pid);
    let t0 = Instant::now();
    let addr = stack.broker_addr.clone();
    let sent = tokio::spawn(async move {
        let client = RemotingClient::new(ClientConfig::default());
        client.invoke(&addr, hb, Duration::from_secs(60)).await.map(|r| (r.code, t0.elapsed()))
    });
    // The broker stays routed while it works (the name server expires it after 6 s).
    let (mut missing, mut unanswered) = (0, 0);
    while t0.elapsed() < Duration::from_secs(15) {
        match route_shows(&stack.namesrv_addr, &stack.broker_addr).await {
            Some(true) => {}
            Some(false) => missing += 1,
            None => unanswered += 1,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let answered = sent.await.unwrap();
    let persisted = async {
        let end = Instant::now() + T * 6;
        while Instant::now() < end {
            if std::fs::read_to_string(&groups_file).is_ok_and(|t| t.contains("\"HG-49999\"")) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
    .await;
    let written = written_bytes(pid) - w0;
    eprintln!(
        "robust B2: 50,000-group heartbeat: answer {answered:?}; all groups persisted: {persisted}; {:.1} MiB written by the broker in {:?}; route missing in {missing} of the checks ({unanswered} route queries failed)",
        written as f64 / MIB,
        t0.elapsed()
    );
    assert!(matches!(answered, Ok((response::SUCCESS, _))), "{answered:?}");
    assert!(persisted, "subscriptionGroup.json has every group");
    assert_eq!(missing, 0, "the broker's route went missing");
    assert!(written < 1024 * 1024 * 1024, "{written} bytes written");

    // SIGTERM while another such heartbeat is being handled: a clean, timely exit.
    let addr = stack.broker_addr.clone();
    let _second = tokio::spawn(async move {
        let client = RemotingClient::new(ClientConfig::default());
        let _ = client.invoke(&addr, heartbeat_with_groups("HG2", 50_000), T * 12).await;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t1 = Instant::now();
    // SAFETY: kill(2) on the PID of our own child process.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    // Bounded, but generous for a loaded machine (~2 s unloaded; before: never).
    // Exited (a zombie until reaped): /proc/<pid>/stat's state after the command name.
    let exited = move || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| match s.rsplit_once(')') {
                Some((_, rest)) => rest.trim_start().starts_with('Z'),
                None => true,
            })
            .unwrap_or(true)
    };
    wait_until("an exit after SIGTERM", T * 6, || std::future::ready(exited())).await;
    let stopped_in = t1.elapsed();
    eprintln!(
        "robust B2: SIGTERM during a second 50,000-group heartbeat: exited in {stopped_in:?}"
    );
    stack.stop_broker("broker-a");
    assert!(log_of(&stack, "broker-a").contains("broker shut down"), "clean shutdown");
    stack.start_broker("broker-a").await;
    assert!(std::fs::read_to_string(&groups_file).unwrap().contains("\"HG-49999\""));
}

/// B6: the keys that define the store's on-disk layout are refused on the wire (NO_PERMISSION,
/// nothing changes, not even the valid keys of the same update); acknowledged messages stay
/// readable across a restart; an unusable file size stops the broker at start with the key
/// named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b6_layout_keys_are_never_changed_on_the_wire() {
    let opts = StackOptions::default().broker_set("mappedFileSizeCommitLog", "1048576");
    let mut stack = Stack::start(opts).await;
    stack.create_topic("Layout", 1).await;
    let addr = stack.broker_addr.clone();
    let body = vec![b'L'; 10_000];
    let client = RemotingClient::new(ClientConfig::default());
    for i in 0..300 {
        let r = client
            .invoke(&addr, send_v2(&send_header("Layout", 0, "t", &format!("k{i}")), &body), T)
            .await
            .unwrap();
        assert_eq!(r.code, response::SUCCESS);
    }
    client.close_all();
    let conf = stack.dir.path().join("broker-a.conf");
    let conf_before = std::fs::read_to_string(&conf).unwrap();
    let elsewhere = stack.dir.path().join("elsewhere");
    for (k, v) in [
        ("mappedFileSizeCommitLog", "65536".to_string()),
        ("mapedFileSizeCommitLog", "0".to_string()),
        ("mappedFileSizeConsumeQueue", "1".to_string()),
        ("maxIndexNum", "1".to_string()),
        ("storePathCommitLog", elsewhere.display().to_string()),
    ] {
        let r = call(&addr, update(&format!("autoCreateTopicEnable=false\n{k}={v}\n")), T).await;
        eprintln!("robust B6: UPDATE_BROKER_CONFIG {k}={v}: code {} {:?}", r.code, r.remark);
        assert_eq!(r.code, response::NO_PERMISSION, "{k}: {:?}", r.remark);
        assert!(r.remark.as_deref().unwrap_or("").contains(k), "{:?}", r.remark);
    }
    assert_eq!(config_value(&addr, "mappedFileSizeCommitLog").await.as_deref(), Some("1048576"));
    assert_eq!(config_value(&addr, "autoCreateTopicEnable").await.as_deref(), Some("true"));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), conf_before, "config file untouched");
    assert!(!elsewhere.exists());

    // Every acknowledged message is readable after a restart; nothing was set aside.
    stack.stop_broker("broker-a");
    assert!(log_of(&stack, "broker-a").contains("broker shut down"), "clean shutdown");
    stack.start_broker("broker-a").await;
    let mut offset = 0;
    let mut read = 0;
    while offset < 300 {
        let mut req = pull_req("LayoutG", "Layout", 0, offset, Some("*"), None);
        req.ext_fields.insert("maxMsgNums".into(), "64".into());
        let r = call(&addr, req, T).await;
        if r.code != response::SUCCESS {
            break;
        }
        let msgs = decode_msgs(&r.body);
        assert!(msgs.iter().all(|m| m.body.as_ref() == body.as_slice()));
        read += msgs.len();
        offset = r.decode_header::<PullMessageResponseHeader>().unwrap().next_begin_offset;
    }
    let orphans = std::fs::read_dir(stack.dir.path().join("store-broker-a/commitlog"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".orphan"))
        .count();
    eprintln!("robust B6: after a restart {read} of 300 acknowledged messages readable, {orphans} orphaned files");
    assert_eq!((read, orphans), (300, 0));

    // A size no store can use is refused at start, naming the key.
    let mut bad = Proc::spawn(
        stack.dir.path(),
        "broker-bad",
        "mqbroker",
        &[
            "--set".into(),
            format!("storePathRootDir={}", stack.dir.path().join("store-bad").display()),
            "--set".into(),
            "mappedFileSizeCommitLog=1".into(),
            "--set".into(),
            format!("listenPort={}", free_port()),
            "--set".into(),
            "brokerIP1=127.0.0.1".into(),
        ],
        &[],
    );
    wait_until("the misconfigured broker to exit", T * 2, || {
        let exited = !bad.alive();
        async move { exited }
    })
    .await;
    let log = std::fs::read_to_string(&bad.log).unwrap_or_default();
    eprintln!(
        "robust B6: a broker with mappedFileSizeCommitLog=1: {}",
        log.lines().next().unwrap_or("")
    );
    assert!(log.contains("mappedFileSizeCommitLog"), "{log}");
}

/// B7: 480 concurrent topic creates over 16 connections: every one is acknowledged only once
/// it is on disk, no persist fails, and all survive a kill -9.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b7_concurrent_topic_creates_all_persist() {
    let mut stack = Stack::start(StackOptions::default()).await;
    let addr = stack.broker_addr.clone();
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|c| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let client = RemotingClient::new(ClientConfig::default());
                let calls = (0..30).map(|i| {
                    let h = CreateTopicRequestHeader {
                        topic: format!("Conc-{c}-{i}"),
                        default_topic: Some("TBW102".into()),
                        read_queue_nums: 2,
                        write_queue_nums: 2,
                        perm: 6,
                        ..Default::default()
                    };
                    let client = client.clone();
                    let addr = addr.clone();
                    async move {
                        let cmd =
                            RemotingCommand::request_with_header(rq::UPDATE_AND_CREATE_TOPIC, &h);
                        client.invoke(&addr, cmd, T * 3).await.map(|r| r.code).unwrap_or(-1)
                    }
                });
                let codes = futures::future::join_all(calls).await;
                client.close_all();
                codes
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap().iter().filter(|c| **c == response::SUCCESS).count();
    }
    let failures = log_of(&stack, "broker-a").matches("persisting").count();
    eprintln!(
        "robust B7: 480 concurrent creates: {ok} acknowledged in {:?}, {failures} failed persists logged",
        t0.elapsed()
    );
    assert_eq!((ok, failures), (480, 0));
    // Acknowledged means durable: kill -9 and restart, every topic is there.
    stack.kill_broker("broker-a");
    stack.start_broker("broker-a").await;
    let r = call(&addr, RemotingCommand::request(rq::GET_ALL_TOPIC_CONFIG), T).await;
    let text = String::from_utf8_lossy(&r.body);
    let present = (0..16)
        .flat_map(|c| (0..30).map(move |i| format!("\"Conc-{c}-{i}\"")))
        .filter(|t| text.contains(t.as_str()))
        .count();
    eprintln!("robust B7: after kill -9 and restart {present} of 480 topics present");
    assert_eq!(present, 480);
}

/// B8: a broker paused (SIGSTOP) longer than the name server's expiry is routed again within
/// 2 s of SIGCONT, without waiting for its next periodic registration (30 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b8_a_paused_broker_is_routed_again_within_2s_of_sigcont() {
    let opts = StackOptions::default()
        .namesrv_set("scanNotActiveBrokerInterval", "200")
        .namesrv_set("brokerChannelExpiredTime", "3000")
        .broker_set("registerNameServerPeriod", "30000");
    let stack = Stack::start(opts).await;
    let pid = stack.broker_pid("broker-a").unwrap() as i32;
    // SAFETY: kill(2) on the PID of our own child process.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let (ns, addr) = (stack.namesrv_addr.clone(), stack.broker_addr.clone());
    wait_until("the name server to drop the paused broker", T * 2, || {
        let (ns, addr) = (ns.clone(), addr.clone());
        async move { !routed(&ns, &addr).await }
    })
    .await;
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let t0 = Instant::now();
    wait_until("the broker to be routed again", T * 4, || {
        let (ns, addr) = (ns.clone(), addr.clone());
        async move { routed(&ns, &addr).await }
    })
    .await;
    let back = t0.elapsed();
    eprintln!("robust B8: routes back {back:?} after SIGCONT (registerNameServerPeriod 30 s)");
    assert!(back <= Duration::from_secs(2), "routes came back after {back:?}");
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

/// B9: on a broker started without `-c`, restart-only keys are validated and recorded (shown
/// and persisted under its store) but not acted on; a store path on the wire is refused and
/// nothing is written outside the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b9_restart_only_keys_are_recorded_and_nothing_is_written_elsewhere() {
    let stack = Stack::start(StackOptions::default()).await;
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store-b");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let sets = [
        "brokerClusterName=TestCluster".to_string(),
        "brokerName=broker-b".into(),
        "brokerIP1=127.0.0.1".into(),
        format!("listenPort={port}"),
        format!("storePathRootDir={}", store.display()),
        format!("namesrvAddr={}", stack.namesrv_addr),
    ];
    let args: Vec<String> = sets.iter().flat_map(|s| ["--set".to_string(), s.clone()]).collect();
    let _b = Proc::spawn(stack.dir.path(), "broker-b", "mqbroker", &args, &[]);
    let ns = stack.namesrv_addr.clone();
    wait_until("broker-b registered", T * 3, || {
        let (ns, addr) = (ns.clone(), addr.clone());
        async move { routed(&ns, &addr).await }
    })
    .await;
    let before = files_under(work.path());

    let elsewhere = work.path().join("elsewhere");
    let r = call(&addr, update(&format!("storePathRootDir={}", elsewhere.display())), T).await;
    eprintln!(
        "robust B9: storePathRootDir on the wire: code {} {:?}; files written there: {:?}",
        r.code,
        r.remark,
        files_under(&elsewhere)
    );
    assert_eq!(r.code, response::NO_PERMISSION, "{:?}", r.remark);
    assert!(!elsewhere.exists(), "nothing written at {}", elsewhere.display());

    // Invalid restart-only values are refused, all or nothing.
    for bad in [
        "listenPort=99999",
        "brokerIP1=not-an-ip",
        "namesrvAddr=nowhere",
        "serverMaxConnections=0",
        "writeBufferLowWaterMark=999999999",
    ] {
        let r = call(&addr, update(bad), T).await;
        assert_eq!(r.code, response::SYSTEM_ERROR, "{bad}: {:?}", r.remark);
    }
    // A valid one is recorded, shown and persisted under the store, not acted on.
    let other = free_port();
    let r = call(&addr, update(&format!("listenPort={other}")), T).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert!(r.remark.as_deref().unwrap_or("").contains("restart"), "{:?}", r.remark);
    assert_eq!(config_value(&addr, "listenPort").await, Some(other.to_string()));
    assert!(std::net::TcpStream::connect(("127.0.0.1", other)).is_err(), "not acted on");
    let persisted = std::fs::read_to_string(store.join("config/broker.properties")).unwrap();
    assert!(persisted.contains(&format!("listenPort={other}")));

    let mut new_files: Vec<String> =
        files_under(work.path()).into_iter().filter(|f| !before.contains(f)).collect();
    new_files.sort();
    eprintln!("robust B9: files created by the updates: {new_files:?}");
    assert!(new_files.iter().all(|f| f.starts_with("store-b/")), "{new_files:?}");
    assert!(!elsewhere.exists());
}

/// One remoting connection from a chosen source address (127.0.0.x): the broker keys the
/// auto-create budget by client IP, so two "clients" on one host need two loopback addresses.
struct ConnFrom {
    stream: tokio::net::TcpStream,
    buf: bytes::BytesMut,
    opaque: i32,
}

impl ConnFrom {
    async fn open(src: std::net::IpAddr, addr: &str) -> ConnFrom {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind((src, 0).into()).expect("bind a loopback source address");
        let stream = sock.connect(addr.parse().unwrap()).await.expect("connect");
        ConnFrom { stream, buf: bytes::BytesMut::new(), opaque: 0 }
    }

    /// One request, its response (bounded wait).
    async fn call(&mut self, cmd: RemotingCommand) -> RemotingCommand {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.opaque += 1;
        let mut out = bytes::BytesMut::new();
        mq_common::protocol::frame::encode(&cmd.with_opaque(self.opaque), &mut out);
        let io = async {
            self.stream.write_all(&out).await.expect("write");
            loop {
                let max = mq_common::protocol::frame::DEFAULT_MAX_FRAME;
                if let Some(r) = mq_common::protocol::frame::decode(&mut self.buf, max).unwrap() {
                    return r;
                }
                assert!(self.stream.read_buf(&mut self.buf).await.expect("read") > 0, "closed");
            }
        };
        tokio::time::timeout(T, io).await.expect("the broker answers in time")
    }
}

/// B4 (second half): one client address may auto-create only
/// `autoCreateTopicMaxPerClientPerMinute` topics per minute; past it a send to a new topic is
/// refused with TOPIC_NOT_EXIST and a remark naming the key, sends to existing topics keep
/// working, and another client address keeps its own budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b4_auto_created_topics_are_limited_per_client() {
    const N: usize = 20;
    let mut opts = StackOptions::default();
    opts.broker_config.push(("autoCreateTopicMaxPerClientPerMinute".into(), N.to_string()));
    let stack = Stack::start(opts).await;
    let addr = stack.broker_addr.clone();
    let send = |topic: &str| send_v2(&send_header(topic, -1, "t", "k"), b"x");

    let mut a = ConnFrom::open("127.0.0.1".parse().unwrap(), &addr).await;
    let mut codes = Vec::new();
    let mut remark = String::new();
    for i in 0..N + 10 {
        let r = a.call(send(&format!("B4-a-{i}"))).await;
        if r.code != response::SUCCESS {
            remark = r.remark.clone().unwrap_or_default();
        }
        codes.push(r.code);
    }
    let ok = codes.iter().filter(|c| **c == response::SUCCESS).count();
    eprintln!(
        "robust B4: {} sends to new topics from one client: {ok} created, last refusal: {remark}",
        N + 10
    );
    assert_eq!(&codes[..N], vec![response::SUCCESS; N].as_slice(), "the first {N} are created");
    assert_eq!(&codes[N..], vec![response::TOPIC_NOT_EXIST; 10].as_slice(), "the rest refused");
    assert!(remark.contains("autoCreateTopicMaxPerClientPerMinute"), "{remark}");
    // Topics the client already has still take its sends; refused ones were not created.
    assert_eq!(a.call(send("B4-a-0")).await.code, response::SUCCESS);
    let r = call(&addr, RemotingCommand::request(rq::GET_ALL_TOPIC_CONFIG), T).await;
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains(&format!("\"B4-a-{}\"", N - 1)));
    assert!(!text.contains(&format!("\"B4-a-{N}\"")), "a refused topic was created");

    // A second client (another address) has its own budget.
    let mut b = ConnFrom::open("127.0.0.2".parse().unwrap(), &addr).await;
    for i in 0..N {
        let r = b.call(send(&format!("B4-b-{i}"))).await;
        assert_eq!(r.code, response::SUCCESS, "second client, topic {i}: {:?}", r.remark);
    }
    assert_eq!(b.call(send("B4-b-over")).await.code, response::TOPIC_NOT_EXIST);
}
