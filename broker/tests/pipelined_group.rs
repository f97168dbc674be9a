//! Sends pipelined in one write are stored as put groups (one commit-log write for the run of
//! sends of one read), on a real broker process, in both commit-log write modes: every send is
//! answered, in order per queue with consecutive offsets, a refused send among them does not
//! fail the others, a request that is not a send ends the run and sees the sends before it,
//! and everything reads back in order; after a kill -9 the acknowledged messages are there.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bytes::BytesMut;
use common::{pull_bodies, send_header, send_v2};
use mq_common::message::property::{self, encode_properties};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::frame;
use mq_common::protocol::header::{
    OffsetResponseHeader, QueueRequestHeader, SendMessageResponseHeader,
};
use mq_common::protocol::RemotingCommand;
use mq_common::remoting::{ClientConfig, RemotingClient};
use mq_test_support::{Stack, StackOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(30);
const TOPIC: &str = "PipeGroup";
const QUEUES: i32 = 3;
/// Sends in the one write.
const N: usize = 300;
/// The send whose properties are too long (refused by the store, inside a group).
const BAD_PROPS: usize = 40;
/// The send to a queue the topic does not have (refused by the checks, before the store).
const BAD_QUEUE: usize = 41;
/// Position of a GET_MAX_OFFSET (queue 0) among the sends: it ends the run before it.
const PROBE_AT: usize = 150;

fn body(i: usize) -> Vec<u8> {
    (0..50 + (i * 131) % 700).map(|j| (i + j) as u8).collect()
}

fn refused(i: usize) -> bool {
    i == BAD_PROPS || i == BAD_QUEUE
}

/// Send `i` (opaque `i + 1`).
fn send(i: usize) -> RemotingCommand {
    let mut h = send_header(TOPIC, (i % QUEUES as usize) as i32, "t", &format!("k{i}"));
    if i == BAD_PROPS {
        h.properties = Some(encode_properties([(property::KEYS, "x".repeat(40_000).as_str())]));
    }
    if i == BAD_QUEUE {
        h.queue_id = 99;
    }
    let mut c = send_v2(&h, &body(i));
    c.opaque = i as i32 + 1;
    c
}

/// Every body of `queue` from offset 0.
async fn pull_all(client: &RemotingClient, addr: &str, queue: i32) -> Vec<Vec<u8>> {
    pull_bodies(client, addr, (TOPIC, queue), T).await
}

/// What queue `q` must hold: the stored sends to it, in order.
fn expected(q: i32) -> Vec<Vec<u8>> {
    (0..N).filter(|i| !refused(*i) && (*i % QUEUES as usize) as i32 == q).map(body).collect()
}

async fn pipelined_sends_in_one_write(pwrite: bool) {
    let opts = StackOptions::default().broker_sets(&[
        ("commitLogPwriteEnable", if pwrite { "true" } else { "false" }),
        // Small files: the runs cross file ends.
        ("mappedFileSizeCommitLog", "65536"),
    ]);
    let mut stack = Stack::start(opts).await;
    stack.create_topic(TOPIC, QUEUES).await;
    let addr = stack.broker_addr.clone();

    // All frames in one buffer, written with one call: the broker reads them in a few reads.
    let mut out = BytesMut::new();
    for i in 0..N {
        if i == PROBE_AT {
            let q = QueueRequestHeader { topic: TOPIC.into(), queue_id: 0, committed: None };
            let mut probe = RemotingCommand::request_with_header(rq::GET_MAX_OFFSET, &q);
            probe.opaque = 100_000;
            frame::encode(&probe, &mut out);
        }
        frame::encode(&send(i), &mut out);
    }
    let mut sock = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    sock.write_all(&out).await.expect("write");
    let mut answers: HashMap<i32, RemotingCommand> = HashMap::new();
    let mut inbuf = BytesMut::with_capacity(64 * 1024);
    let deadline = tokio::time::Instant::now() + T;
    while answers.len() < N + 1 {
        while let Some(r) = frame::decode(&mut inbuf, 16 << 20).expect("frame") {
            assert!(answers.insert(r.opaque, r).is_none(), "one answer per request");
        }
        if answers.len() == N + 1 {
            break;
        }
        let n = tokio::time::timeout_at(deadline, sock.read_buf(&mut inbuf))
            .await
            .unwrap_or_else(|_| panic!("{} of {} answers in time", answers.len(), N + 1))
            .expect("read");
        assert!(n > 0, "connection closed after {} answers", answers.len());
    }

    let mut next = [0i64; QUEUES as usize];
    for i in 0..N {
        let r = &answers[&(i as i32 + 1)];
        if i == BAD_PROPS {
            assert_eq!(r.code, response::MESSAGE_ILLEGAL, "{:?}", r.remark);
            continue;
        }
        if i == BAD_QUEUE {
            assert_eq!(r.code, response::SYSTEM_ERROR, "{:?}", r.remark);
            continue;
        }
        assert_eq!(r.code, response::SUCCESS, "send {i}: {:?}", r.remark);
        let h = r.decode_header::<SendMessageResponseHeader>().unwrap();
        let q = i % QUEUES as usize;
        assert_eq!(h.queue_id, q as i32);
        assert_eq!(h.queue_offset, next[q], "send {i}: consecutive offsets in queue {q}");
        next[q] += 1;
    }
    // The probe saw exactly the sends to queue 0 before it, and none after.
    let before = (0..PROBE_AT).filter(|i| !refused(*i) && i % QUEUES as usize == 0).count();
    let probe = answers[&100_000].decode_header::<OffsetResponseHeader>().unwrap();
    assert_eq!(probe.offset, before as i64, "GET_MAX_OFFSET answered in its place");

    let client = RemotingClient::new(ClientConfig::default());
    for q in 0..QUEUES {
        assert!(pull_all(&client, &addr, q).await == expected(q), "queue {q} reads back in order");
    }
    stack.kill_broker("broker-a");
    stack.start_broker("broker-a").await;
    for q in 0..QUEUES {
        assert!(pull_all(&client, &addr, q).await == expected(q), "queue {q} after kill -9");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_sends_are_grouped_in_order_mapping_mode() {
    pipelined_sends_in_one_write(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_sends_are_grouped_in_order_pwrite_mode() {
    pipelined_sends_in_one_write(true).await;
}
