//! Hostile clients against real `mqbroker` / `mqnamesrv` processes (issue 16): stalled frame
//! headers (B3), a client that never reads its responses (B5), the connection cap and idle
//! reaping (R3), parked pulls per connection and the pull response size (R4).
//!
//! Each test prints its figure (`robust B3: ...`); `RMQ_BIN_DIR=<dir of older binaries>` runs
//! the same test against another build to measure a "before".

mod common;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{pull_req, send_header, send_v2};
use mq_common::message::decode_offset_msg_id;
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::frame;
use mq_common::protocol::header::{
    PullMessageResponseHeader, SendMessageResponseHeader, ViewMessageRequestHeader,
};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_test_support::{
    accepted_connections, anon_rss_bytes, poll_until, wait_until, Stack, StackOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(10);
const MIB: f64 = 1024.0 * 1024.0;

/// One raw connection: pipelined requests (written by a task, so responses are read while
/// requests are still going out), responses read back frame by frame.
struct Raw {
    rd: tokio::net::tcp::OwnedReadHalf,
    wr: Option<tokio::net::tcp::OwnedWriteHalf>,
    buf: BytesMut,
}

impl Raw {
    async fn connect(addr: &str) -> Raw {
        let (rd, wr) = TcpStream::connect(addr).await.unwrap().into_split();
        Raw { rd, wr: Some(wr), buf: BytesMut::new() }
    }

    fn send_all(&mut self, cmds: impl Iterator<Item = RemotingCommand>) {
        let mut wire = BytesMut::new();
        for (i, c) in cmds.enumerate() {
            frame::encode(&c.with_opaque(i as i32 + 1), &mut wire);
        }
        let mut wr = self.wr.take().expect("one batch per connection");
        tokio::spawn(async move {
            wr.write_all(&wire).await.unwrap();
            // Keep the write half open until the test drops the task's runtime.
            std::future::pending::<()>().await;
        });
    }

    async fn recv(&mut self, within: Duration) -> Option<RemotingCommand> {
        let end = tokio::time::Instant::now() + within;
        loop {
            if let Some(c) = frame::decode(&mut self.buf, frame::DEFAULT_MAX_FRAME).unwrap() {
                return Some(c);
            }
            match tokio::time::timeout_at(end, self.rd.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
    }
}

/// The broker's runtime info (through the listenPort-2 listener when `fast`: it has its own
/// connection cap, so it answers while the main one is full).
async fn runtime_info(stack: &Stack, fast: bool) -> std::collections::BTreeMap<String, String> {
    let port = if fast { stack.broker_port - 2 } else { stack.broker_port };
    let client = RemotingClient::new(ClientConfig::default());
    let r = client
        .invoke(
            &format!("127.0.0.1:{port}"),
            RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO),
            T,
        )
        .await
        .expect("runtime info");
    client.close_all();
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("kv table");
    v["table"]
        .as_object()
        .map(|m| {
            m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
        })
        .unwrap_or_default()
}

fn stat(info: &std::collections::BTreeMap<String, String>, key: &str) -> u64 {
    info.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Largest anonymous RSS of `pid` over `window` (sampled every 100 ms). Anonymous memory is
/// what a client can make the broker allocate; mapped store files (the commit log's
/// pre-touched pages) would only add noise.
async fn peak_rss(pid: u32, window: Duration) -> u64 {
    let end = Instant::now() + window;
    let mut peak = anon_rss_bytes(pid);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(anon_rss_bytes(pid));
    }
    peak
}

/// B3: 1,000 connections that send only a 4-byte length announcing a 16 MiB frame, then idle.
/// The broker's memory grows with the bytes that arrived, not with what was announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_stalled_frame_headers_cost_little_memory() {
    let stack = Stack::start(StackOptions::default()).await;
    let pid = stack.broker_pid("broker-a").unwrap();
    let port: u16 = stack.broker_addr.rsplit(':').next().unwrap().parse().unwrap();
    let (conns0, rss0) =
        (accepted_connections(port), peak_rss(pid, Duration::from_millis(500)).await);
    let mut conns = Vec::new();
    for _ in 0..1000 {
        let mut s = TcpStream::connect(&stack.broker_addr).await.unwrap();
        s.write_all(&(16i32 * 1024 * 1024).to_be_bytes()).await.unwrap();
        conns.push(s);
    }
    // Counted on the broker's port, not by its descriptor count: that also moves with the
    // broker's own files and outgoing connections (a transient one at the first count once
    // left the broker one descriptor short of +1,000 forever).
    let mut seen = conns0;
    if poll_until(T * 3, || {
        seen = accepted_connections(port);
        std::future::ready(seen >= conns0 + 1000)
    })
    .await
    .is_none()
    {
        panic!(
            "the broker accepted {} of 1,000 connections in {:?}",
            seen.saturating_sub(conns0),
            T * 3
        );
    }
    let rss1 = peak_rss(pid, Duration::from_secs(2)).await;
    let per_conn = rss1.saturating_sub(rss0) / 1000;
    eprintln!(
        "robust B3: 1,000 connections announcing 16 MiB frames: broker anonymous RSS {:.1} -> {:.1} MiB, {:.1} KiB per connection",
        rss0 as f64 / MIB,
        rss1 as f64 / MIB,
        per_conn as f64 / 1024.0
    );
    assert!(per_conn <= 64 * 1024, "{per_conn} bytes per idle connection");
    // The broker still serves.
    assert!(runtime_info(&stack, false).await.contains_key("bootTimestamp"));
    drop(conns);
}

/// B5: a client pipelines 300 VIEW_MESSAGE_BY_ID of a 4 MB message and never reads. The
/// broker stops reading that connection past its high-water mark and closes it once it stays
/// stuck for the idle timeout; other clients are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b5_a_client_that_never_reads_is_bounded_and_closed() {
    let opts = StackOptions::default().broker_set("serverChannelMaxIdleTimeSeconds", "3");
    let stack = Stack::start(opts).await;
    stack.create_topic("Big", 1).await;
    let pid = stack.broker_pid("broker-a").unwrap();
    let client = RemotingClient::new(ClientConfig::default());
    let body: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
    let r = client
        .invoke(&stack.broker_addr, send_v2(&send_header("Big", 0, "t", "k"), &body), T)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let sent: SendMessageResponseHeader = r.decode_header().unwrap();
    let (_, phys) = decode_offset_msg_id(&sent.msg_id).unwrap();
    let view = |offset| {
        RemotingCommand::request_with_header(
            rq::VIEW_MESSAGE_BY_ID,
            &ViewMessageRequestHeader { offset, topic: None },
        )
    };
    let rss0 = peak_rss(pid, Duration::from_millis(500)).await;

    // A small receive buffer, so the kernel holds little for it.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut hostile = sock.connect(stack.broker_addr.parse().unwrap()).await.unwrap();
    let mut wire = BytesMut::new();
    for i in 0..300 {
        frame::encode(&view(phys).with_opaque(i + 1), &mut wire);
    }
    hostile.write_all(&wire).await.unwrap();
    let peak = peak_rss(pid, Duration::from_secs(3)).await;
    let growth = peak.saturating_sub(rss0);
    eprintln!(
        "robust B5: 300 pipelined 4 MB views never read: broker anonymous RSS {:.1} -> peak {:.1} MiB (+{:.1} MiB) over 3 s",
        rss0 as f64 / MIB,
        peak as f64 / MIB,
        growth as f64 / MIB,
    );

    // Meanwhile a normal client is served, promptly.
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let t0 = Instant::now();
        let r = client
            .invoke(
                &stack.broker_addr,
                send_v2(&send_header("Big", 0, "t", &format!("n{i}")), b"small"),
                T,
            )
            .await
            .unwrap();
        assert_eq!(r.code, response::SUCCESS);
        let r = client.invoke(&stack.broker_addr, view(phys), T).await.unwrap();
        assert_eq!(r.code, response::SUCCESS);
        slowest = slowest.max(t0.elapsed());
    }
    eprintln!("robust B5: meanwhile another client's slowest send + 4 MB view took {slowest:?}");
    let t0 = Instant::now();
    wait_until("the stuck connection to be closed", T * 3, || async {
        stat(&runtime_info(&stack, false).await, "connectionsStalledClosed") >= 1
    })
    .await;
    eprintln!(
        "robust B5: stuck connection closed {:?} after the other client finished",
        t0.elapsed()
    );
    assert!(growth < 100 * 1024 * 1024, "broker grew {growth} bytes");
    assert!(slowest < Duration::from_secs(5), "other client waited {slowest:?}");
    drop(hostile);
    client.close_all();
}

/// Open `n` idle connections to `addr` and sort them into refused (closed at once) and
/// accepted (still open after `wait`).
async fn probe_cap(addr: &str, n: usize, wait: Duration) -> (Vec<TcpStream>, usize) {
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(TcpStream::connect(addr).await.unwrap());
    }
    let results = futures::future::join_all(conns.into_iter().map(|mut s| async move {
        let mut b = [0u8; 1];
        match tokio::time::timeout(wait, s.read(&mut b)).await {
            Err(_) => Some(s),
            Ok(_) => None,
        }
    }))
    .await;
    let refused = results.iter().filter(|r| r.is_none()).count();
    (results.into_iter().flatten().collect(), refused)
}

/// Open idle connections to `addr` until one is refused (closed at once): the server is then
/// at its cap. Returns the ones it kept.
async fn top_up_to_cap(addr: &str) -> Vec<TcpStream> {
    let mut kept = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut b = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut b)).await {
            Err(_) => kept.push(s),
            Ok(_) => return kept,
        }
    }
    panic!("{addr}: 100 connections past the probe were all served");
}

/// R3: past `serverMaxConnections` a connection is closed at once (not left in the backlog),
/// idle connections are reaped after `serverChannelMaxIdleTimeSeconds`, and the broker counts
/// both. The name server does the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_connection_cap_refuses_at_once_and_idle_connections_are_reaped() {
    let opts = StackOptions::default()
        .broker_sets(&[("serverMaxConnections", "64"), ("serverChannelMaxIdleTimeSeconds", "4")])
        .namesrv_set("serverMaxConnections", "64")
        .namesrv_set("serverChannelMaxIdleTimeSeconds", "6");
    let stack = Stack::start(opts).await;

    for (what, addr) in [("broker", &stack.broker_addr), ("name server", &stack.namesrv_addr)] {
        let t0 = Instant::now();
        let (held, refused) = probe_cap(addr, 80, Duration::from_secs(2)).await;
        eprintln!(
            "robust R3 ({what}): 80 idle connections with a cap of 64: {} served, {refused} refused at once",
            held.len()
        );
        assert!((60..=64).contains(&held.len()), "{what}: {} connections served", held.len());
        assert_eq!(refused, 80 - held.len());
        // A real client at the cap fails fast instead of hanging. Connections this test does
        // not hold (the stack's own, idle since start-up) can be reaped meanwhile and free a
        // slot (on a loaded machine the probe's 2 s wait reaches their idle timeout): top the
        // server up to its cap just before asking, and ask again if a slot freed in between.
        // A server that does not enforce the cap serves all three attempts.
        let client = RemotingClient::new(ClientConfig::default());
        let mut held = held;
        let mut refused_at_cap = false;
        for _ in 0..3 {
            held.extend(top_up_to_cap(addr).await);
            let t1 = Instant::now();
            let r =
                client.invoke(addr, RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO), T).await;
            assert!(
                t1.elapsed() < Duration::from_secs(5),
                "{what}: answer took {:?}",
                t1.elapsed()
            );
            if r.is_err() {
                refused_at_cap = true;
                break;
            }
            client.close_all();
        }
        assert!(refused_at_cap, "{what}: a client past the cap is refused");
        // Idle connections are reaped; then clients are served again.
        let reaped = futures::future::join_all(held.into_iter().map(|mut s| async move {
            let mut b = [0u8; 1];
            matches!(tokio::time::timeout(T * 2, s.read(&mut b)).await, Ok(Ok(0)) | Ok(Err(_)))
        }))
        .await;
        assert!(reaped.iter().all(|r| *r), "{what}: every idle connection is closed");
        eprintln!("robust R3 ({what}): idle connections reaped {:?} after opening", t0.elapsed());
        wait_until(&format!("{what} to serve again"), T, || {
            let (client, addr) = (client.clone(), addr.clone());
            async move {
                client
                    .invoke(&addr, RemotingCommand::request(rq::GET_BROKER_RUNTIME_INFO), T)
                    .await
                    .is_ok()
            }
        })
        .await;
        client.close_all();
    }
    let info = runtime_info(&stack, true).await;
    assert!(stat(&info, "connectionsRefused") >= 16, "{info:?}");
    assert!(stat(&info, "connectionsIdleClosed") >= 60, "{info:?}");
    // The broker stayed registered throughout (its name-server connection is not idle).
    let admin = mq_client::Admin::connect(&stack.namesrv_addr).await.unwrap();
    assert!(admin.topic_route("TBW102").await.is_ok());
    admin.close();
}

/// R4: one connection parks at most `maxParkedPullsPerConnection` long-polling pulls (more
/// get SYSTEM_BUSY at once), and `maxMsgBytes` = 2^31-1 cannot build a response near the frame
/// limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_parked_pulls_per_connection_and_response_size_are_bounded() {
    let opts = StackOptions::default().broker_set("maxParkedPullsPerConnection", "1000");
    let stack = Stack::start(opts).await;
    stack.create_topic("Empty", 1).await;
    stack.create_topic("Full", 1).await;
    let pid = stack.broker_pid("broker-a").unwrap();
    let rss0 = peak_rss(pid, Duration::from_millis(500)).await;

    let mut raw = Raw::connect(&stack.broker_addr).await;
    let n = 20_000;
    raw.send_all((0..n).map(|_| pull_req("ParkG", "Empty", 0, 0, Some("*"), Some(60_000))));
    let mut busy = 0;
    while busy < n - 1000 {
        let Some(r) = raw.recv(T * 3).await else { break };
        assert_eq!(r.code, response::SYSTEM_BUSY, "{:?}", r.remark);
        assert!(r.decode_header::<PullMessageResponseHeader>().is_ok());
        busy += 1;
    }
    let rss1 = peak_rss(pid, Duration::from_secs(1)).await;
    eprintln!(
        "robust R4: {n} long-polling pulls on one connection: {busy} refused SYSTEM_BUSY, broker anonymous RSS +{:.1} MiB",
        rss1.saturating_sub(rss0) as f64 / MIB
    );
    assert_eq!(busy, n - 1000);
    // The parked ones answer when a message arrives.
    let client = RemotingClient::new(ClientConfig::default());
    let r = client
        .invoke(&stack.broker_addr, send_v2(&send_header("Empty", 0, "t", "k"), b"wake"), T)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    for _ in 0..1000 {
        let r = raw.recv(T * 3).await.expect("a parked pull answers");
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    }

    // Parked pulls woken at once on a connection that never reads: only the first few build
    // full responses (until the high-water mark), the rest answer PULL_NOT_FOUND (pull again).
    stack.create_topic("Wake", 1).await;
    let mut sleeper = Raw::connect(&stack.broker_addr).await;
    sleeper.send_all((0..1000).map(|_| pull_req("WakeG", "Wake", 0, 0, Some("*"), Some(60_000))));
    wait_until("1,000 pulls parked", T * 3, || async {
        stat(&runtime_info(&stack, false).await, "pullsParked") >= 1000
    })
    .await;
    let rss2 = peak_rss(pid, Duration::from_millis(300)).await;
    let big = vec![b'w'; 1_000_000];
    let r = client
        .invoke(&stack.broker_addr, send_v2(&send_header("Wake", 0, "t", "w"), &big), T)
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS);
    wait_until("every parked pull answered", T * 3, || async {
        stat(&runtime_info(&stack, false).await, "pullsParked") == 0
    })
    .await;
    let rss3 = peak_rss(pid, Duration::from_secs(1)).await;
    eprintln!(
        "robust R4: 1,000 parked pulls woken by a 1 MB message on a connection that never reads: broker anonymous RSS +{:.1} MiB",
        rss3.saturating_sub(rss2) as f64 / MIB
    );
    assert!(rss3.saturating_sub(rss2) < 100 * 1024 * 1024, "{} bytes", rss3 - rss2);
    drop(sleeper);

    // Response size: 12 messages of 1 MB, one pull asking for everything.
    let body = vec![b'm'; 1_000_000];
    for i in 0..12 {
        let r = client
            .invoke(
                &stack.broker_addr,
                send_v2(&send_header("Full", 0, "t", &format!("k{i}")), &body),
                T,
            )
            .await
            .unwrap();
        assert_eq!(r.code, response::SUCCESS);
    }
    let mut req = pull_req("BigG", "Full", 0, 0, Some("*"), None);
    req.ext_fields.insert("maxMsgBytes".into(), i32::MAX.to_string());
    let r = client.invoke(&stack.broker_addr, req, T).await.unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    eprintln!(
        "robust R4: a pull with maxMsgBytes=2^31-1 over 12 MB of messages: {} bytes",
        r.body.len()
    );
    assert!(r.body.len() <= frame::DEFAULT_MAX_FRAME / 2 + 1_100_000, "{} bytes", r.body.len());
    client.close_all();
}
