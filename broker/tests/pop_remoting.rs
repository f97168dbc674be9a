//! The POP requests of the remoting protocol (POP_MESSAGE, ACK_MESSAGE,
//! CHANGE_MESSAGE_INVISIBLETIME) answered as Java's client expects: handles rebuilt the way
//! Java's client rebuilds them (from the response header) ack, a changed handle supersedes the
//! old one, an empty poll answers PULL_NOT_FOUND after the poll time.

mod common;

use common::{decode_msgs, send_header, send_v2, start, test_config};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader, PopMessageResponseHeader,
};
use mq_common::protocol::{CommandHeader, RemotingCommand};

fn pop(topic: &str, poll_ms: i64) -> RemotingCommand {
    RemotingCommand::request_with_header(
        rq::POP_MESSAGE,
        &PopMessageRequestHeader {
            consumer_group: "GPopRemoting".into(),
            topic: topic.into(),
            queue_id: -1,
            max_msg_nums: 32,
            invisible_time: 20_000,
            poll_time: poll_ms,
            born_time: mq_common::protocol::now_millis(),
            init_mode: 0,
            exp_type: Some("TAG".into()),
            exp: Some("*".into()),
            order: Some(false),
            attempt_id: None,
        },
    )
}

/// Java's client: `ckQueueOffset popTime invisibleTime reviveQid topicType brokerName queueId
/// queueOffset`, the first field from `startOffsetInfo` of the message's queue.
fn java_handle(h: &PopMessageResponseHeader, queue_id: i32, offset: i64) -> String {
    let start = h.start_offset_info.as_deref().unwrap();
    let ck = start
        .split(';')
        .map(|e| e.split(' ').collect::<Vec<_>>())
        .find(|f| f[0] == "0" && f[1] == queue_id.to_string())
        .map(|f| f[2].to_string())
        .unwrap();
    format!(
        "{ck} {} {} {} 0 broker-test {queue_id} {offset}",
        h.pop_time, h.invisible_time, h.revive_qid
    )
}

fn ack(topic: &str, queue_id: i32, offset: i64, extra: &str) -> RemotingCommand {
    RemotingCommand::request_with_header(
        rq::ACK_MESSAGE,
        &AckMessageRequestHeader {
            consumer_group: "GPopRemoting".into(),
            topic: topic.into(),
            queue_id,
            extra_info: extra.into(),
            offset,
        },
    )
}

#[tokio::test]
async fn pop_ack_and_change_invisible_time_as_java_clients_do() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("PopR", 2).await;
    for i in 0..3 {
        let r = b.call(send_v2(&send_header("PopR", 0, "TagA", &format!("k{i}")), b"x")).await;
        assert_eq!(r.code, response::SUCCESS);
    }
    let r = b.call(pop("PopR", 1000)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let h = PopMessageResponseHeader::read(&r.ext_fields).unwrap();
    assert_eq!(h.invisible_time, 20_000);
    assert_eq!(h.msg_offset_info.as_deref(), Some("0 0 0,1,2"));
    let msgs = decode_msgs(&r.body);
    assert_eq!(msgs.len(), 3);
    let handles: Vec<String> =
        msgs.iter().map(|m| java_handle(&h, m.queue_id, m.queue_offset)).collect();

    // Ack the first; twice is refused.
    assert_eq!(b.call(ack("PopR", 0, 0, &handles[0])).await.code, response::SUCCESS);
    assert_eq!(b.call(ack("PopR", 0, 0, &handles[0])).await.code, response::NO_MESSAGE);

    // Change the second's invisible time; Java rebuilds the handle from the answer.
    let c = b
        .call(RemotingCommand::request_with_header(
            rq::CHANGE_MESSAGE_INVISIBLETIME,
            &ChangeInvisibleTimeRequestHeader {
                consumer_group: "GPopRemoting".into(),
                topic: "PopR".into(),
                queue_id: 0,
                extra_info: handles[1].clone(),
                offset: 1,
                invisible_time: 30_000,
            },
        ))
        .await;
    assert_eq!(c.code, response::SUCCESS, "{:?}", c.remark);
    let ch = ChangeInvisibleTimeResponseHeader::read(&c.ext_fields).unwrap();
    let ck = handles[1].split(' ').next().unwrap();
    let rebuilt =
        format!("{ck} {} {} {} 0 broker-test 0 1", ch.pop_time, ch.invisible_time, ch.revive_qid);
    // The old handle is superseded; the rebuilt one acks.
    assert_eq!(b.call(ack("PopR", 0, 1, &handles[1])).await.code, response::NO_MESSAGE);
    assert_eq!(b.call(ack("PopR", 0, 1, &rebuilt)).await.code, response::SUCCESS);
    assert_eq!(b.call(ack("PopR", 0, 2, &handles[2])).await.code, response::SUCCESS);

    // Nothing left: PULL_NOT_FOUND after the poll time.
    let t0 = std::time::Instant::now();
    let r = b.call(pop("PopR", 300)).await;
    assert_eq!(r.code, response::PULL_NOT_FOUND);
    assert!(t0.elapsed() >= std::time::Duration::from_millis(250));
    // Malformed handle: a clear error.
    assert_eq!(b.call(ack("PopR", 0, 0, "nonsense")).await.code, response::SYSTEM_ERROR);
    b.shutdown().await;
}

/// BATCH_ACK_MESSAGE as Java's client sends it: per queue and pop, the offsets as bits above
/// the check-point offset of `startOffsetInfo`.
#[tokio::test]
async fn batch_ack_as_java_clients_send_it() {
    use mq_common::protocol::body::{BatchAck, BatchAckMessageRequestBody};
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(dir.path())).await;
    b.create_topic("PopB", 1).await;
    for i in 0..5 {
        let r = b.call(send_v2(&send_header("PopB", 0, "TagA", &format!("k{i}")), b"x")).await;
        assert_eq!(r.code, response::SUCCESS);
    }
    let r = b.call(pop("PopB", 1000)).await;
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let h = PopMessageResponseHeader::read(&r.ext_fields).unwrap();
    assert_eq!(decode_msgs(&r.body).len(), 5);
    let handles: Vec<String> = (0..5).map(|o| java_handle(&h, 0, o)).collect();
    let ck: i64 = handles[0].split(' ').next().unwrap().parse().unwrap();
    assert_eq!(ck, 0, "the check-point offset is the first offset popped");

    let batch = |offsets: &[i64], pop_time: i64| {
        let mut a = BatchAck {
            consumer_group: "GPopRemoting".into(),
            topic: "PopB".into(),
            retry: "0".into(),
            start_offset: ck,
            queue_id: 0,
            revive_queue_id: h.revive_qid,
            pop_time,
            invisible_time: h.invisible_time,
            bits: Vec::new(),
        };
        for o in offsets {
            a.set(*o);
        }
        let body = BatchAckMessageRequestBody { broker_name: "broker-test".into(), acks: vec![a] };
        RemotingCommand::request(rq::BATCH_ACK_MESSAGE)
            .with_body(serde_json::to_vec(&body).unwrap())
    };
    // A stale pop time acks nothing (answered SUCCESS, as Java).
    assert_eq!(b.call(batch(&[1], h.pop_time - 1)).await.code, response::SUCCESS);
    assert_eq!(b.call(batch(&[0, 2, 4], h.pop_time)).await.code, response::SUCCESS);
    // Acked ones are gone; 1 and 3 are still in flight with their handles.
    for (o, want) in [(0, response::NO_MESSAGE), (1, response::SUCCESS), (2, response::NO_MESSAGE)]
    {
        assert_eq!(b.call(ack("PopB", 0, o, &handles[o as usize])).await.code, want, "offset {o}");
    }
    assert_eq!(b.call(batch(&[3], h.pop_time)).await.code, response::SUCCESS);
    assert_eq!(b.call(ack("PopB", 0, 3, &handles[3])).await.code, response::NO_MESSAGE);
    assert_eq!(b.call(pop("PopB", 200)).await.code, response::PULL_NOT_FOUND);

    // Bad input: clear codes.
    let empty = RemotingCommand::request(rq::BATCH_ACK_MESSAGE).with_body(&b"{\"acks\":[]}"[..]);
    assert_eq!(b.call(empty).await.code, response::NO_MESSAGE);
    let garbage = RemotingCommand::request(rq::BATCH_ACK_MESSAGE).with_body(&b"{nope"[..]);
    assert_eq!(b.call(garbage).await.code, response::SYSTEM_ERROR);
    let mut unknown: BatchAckMessageRequestBody =
        serde_json::from_slice(&batch(&[0], h.pop_time).body).unwrap();
    unknown.acks[0].topic = "NoSuchTopic".into();
    let r = b
        .call(
            RemotingCommand::request(rq::BATCH_ACK_MESSAGE)
                .with_body(serde_json::to_vec(&unknown).unwrap()),
        )
        .await;
    assert_eq!(r.code, response::TOPIC_NOT_EXIST);
    b.shutdown().await;
}

/// A pop with messages there is answered at once; an empty one without a poll time is
/// answered at once with PULL_NOT_FOUND; an empty one with a poll time waits and is answered
/// as soon as a message arrives.
#[tokio::test]
async fn empty_pops_wait_for_the_poll_time_or_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let b = std::sync::Arc::new(start(test_config(dir.path())).await);
    b.create_topic("PopW", 1).await;
    let t0 = std::time::Instant::now();
    assert_eq!(b.call(pop("PopW", 0)).await.code, response::PULL_NOT_FOUND);
    assert!(t0.elapsed() < std::time::Duration::from_secs(2));

    let waiting = tokio::spawn({
        let b = b.clone();
        async move {
            let t0 = std::time::Instant::now();
            (b.call(pop("PopW", 20_000)).await, t0.elapsed())
        }
    });
    // Sent while the pop waits (it armed its wake-up before looking; a message sent before
    // that is found by the look itself).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = b.call(send_v2(&send_header("PopW", 0, "TagA", "w"), b"w")).await;
    assert_eq!(r.code, response::SUCCESS);
    let (r, waited) = waiting.await.unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(decode_msgs(&r.body).len(), 1);
    assert!(waited < std::time::Duration::from_secs(10), "answered on arrival: {waited:?}");

    // Messages there: the answer carries them at once.
    let r = b.call(send_v2(&send_header("PopW", 0, "TagA", "x"), b"x")).await;
    assert_eq!(r.code, response::SUCCESS);
    let r = b.call(pop("PopW", 20_000)).await;
    assert_eq!(r.code, response::SUCCESS);
    assert_eq!(decode_msgs(&r.body).len(), 1);
    std::sync::Arc::try_unwrap(b).ok().expect("one owner left").shutdown().await;
}
