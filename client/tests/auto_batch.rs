//! The producer's auto-batching against a real nameserver + broker: each caller's own result
//! (id, queue, offset) and error, exactly-once delivery, shutdown flushing pending batches.

#[allow(unused_imports)]
mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use common::{Stack, StackOptions};
use futures::future::join_all;
use mq_client::producer::ProducerBuilder;
use mq_client::{ClientError, ConsumeFromWhere, Message, Producer, PullConsumer};

fn builder(stack: &Stack) -> ProducerBuilder {
    Producer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("ab_producer")
        .auto_batch(true)
        .compress_threshold(64 * 1024)
        .max_message_size(64 * 1024)
}

/// Pull `topic` from the first offset until `expect` messages arrived (or 20 s): UNIQ_KEY →
/// (queue id, queue offset, body).
async fn pull_ids(
    stack: &Stack,
    topic: &str,
    expect: usize,
) -> HashMap<String, (i32, i64, Vec<u8>)> {
    let c = PullConsumer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group(format!("ab_check_{topic}"))
        .consume_from(ConsumeFromWhere::First)
        .start()
        .await
        .unwrap();
    let qs = c.fetch_queues(topic).await.unwrap();
    c.assign(&qs, "*").await;
    let mut out = HashMap::new();
    let end = Instant::now() + Duration::from_secs(20);
    while out.len() < expect && Instant::now() < end {
        for m in c.poll(Duration::from_millis(300)).await.unwrap() {
            let id = m.msg_id().to_string();
            let prev = out.insert(id.clone(), (m.queue_id, m.queue_offset, m.body.to_vec()));
            assert!(prev.is_none(), "message {id} delivered twice");
        }
    }
    c.shutdown().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batched_bursts_give_each_send_its_own_result_and_deliver_once() {
    let stack = common::stack().await;
    stack.create_topic("AbTopic", 4).await;

    // Java's flush rule with a long delay: a burst issued at once is one batch, so its results
    // share a queue and count up from the batch's first offset in send order.
    let p = builder(&stack)
        .batch_flush_when_idle(false)
        .batch_max_delay(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    p.publish_queues("AbTopic").await.unwrap();
    let one = join_all((0..100).map(|i| p.send(Message::new("AbTopic", format!("one-{i}"))))).await;
    let one: Vec<_> = one.into_iter().map(Result::unwrap).collect();
    let q = &one[0].message_queue;
    for (i, r) in one.iter().enumerate() {
        assert_eq!(&r.message_queue, q);
        assert_eq!(r.queue_offset, one[0].queue_offset + i as i64, "member {i}");
        assert!(!r.msg_id.contains(',') && !r.offset_msg_id.contains(','));
    }
    p.shutdown().await;

    // The default (idle) flush rule with 8 KiB batches: many batches in flight at once.
    let p = builder(&stack).batch_max_bytes(8 * 1024).start().await.unwrap();
    let body = |i: usize| format!("two-{i}-{}", "x".repeat(1000));
    let two = join_all((0..500).map(|i| p.send(Message::new("AbTopic", body(i))))).await;
    let two: Vec<_> = two.into_iter().map(Result::unwrap).collect();
    let queues: BTreeSet<i32> = two.iter().map(|r| r.message_queue.queue_id).collect();
    assert!(queues.len() > 1, "batches spread over queues: {queues:?}");
    p.shutdown().await;

    // Every message exactly once, where its own result says, with its own body.
    let got = pull_ids(&stack, "AbTopic", 600).await;
    assert_eq!(got.len(), 600);
    let sent = one.iter().enumerate().map(|(i, r)| (r, format!("one-{i}")));
    for (r, want) in sent.chain(two.iter().enumerate().map(|(i, r)| (r, body(i)))) {
        let (queue, offset, b) = got.get(&r.msg_id).unwrap_or_else(|| panic!("{} lost", r.msg_id));
        assert_eq!((*queue, *offset), (r.message_queue.queue_id, r.queue_offset));
        assert_eq!(b, want.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_failures_fail_each_member_with_a_clear_error() {
    let mut opts = StackOptions::default();
    opts.broker_config.push(("autoCreateTopicEnable".into(), "false".into()));
    opts.broker_config.push(("maxMessageSize".into(), "2048".into()));
    let stack = Stack::start(opts).await;
    stack.create_topic("AbFail", 2).await;
    let p = builder(&stack)
        .batch_flush_when_idle(false)
        .batch_max_delay(Duration::from_millis(100))
        .retries(0)
        .start()
        .await
        .unwrap();

    // A topic that does not exist (and cannot be auto-created): every member fails.
    let missing =
        join_all((0..20).map(|i| p.send(Message::new("AbMissing", format!("m{i}"))))).await;
    for r in missing {
        let e = r.unwrap_err();
        assert!(matches!(e, ClientError::NoRoute(_)) || e.code() == Some(17), "missing topic: {e}");
    }

    // A member over the client's limit is refused alone; the others are stored.
    let mut burst: Vec<Message> =
        (0..10).map(|i| Message::new("AbFail", format!("ok{i}"))).collect();
    burst.push(Message::new("AbFail", vec![b'x'; 65 * 1024]));
    let out = join_all(burst.into_iter().map(|m| p.send(m))).await;
    for r in &out[..10] {
        assert!(r.is_ok(), "{r:?}");
    }
    let e = out[10].as_ref().unwrap_err();
    assert!(matches!(e, ClientError::InvalidArgument(m) if m.contains("maximum")), "{e}");

    // A member over the broker's maxMessageSize fails its batch at the broker: each member
    // gets the broker's answer (as Java's auto-batch; a batch is stored whole or not at all).
    let mut burst: Vec<Message> =
        (0..10).map(|i| Message::new("AbFail", format!("b{i}"))).collect();
    burst.push(Message::new("AbFail", vec![b'y'; 4096]));
    let out = join_all(burst.into_iter().map(|m| p.send(m))).await;
    for r in out {
        let e = r.unwrap_err();
        assert_eq!(e.code(), Some(13), "{e}");
        assert!(e.to_string().contains("maxMessageSize"), "{e}");
    }
    p.shutdown().await;
    // Only the ten good messages were stored.
    assert_eq!(pull_ids(&stack, "AbFail", 10).await.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_sends_pending_batches() {
    let stack = common::stack().await;
    stack.create_topic("AbShut", 2).await;
    // A delay far longer than the test: only shutdown's flush can send these.
    let p = builder(&stack)
        .batch_flush_when_idle(false)
        .batch_max_delay(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    p.publish_queues("AbShut").await.unwrap();
    let mut burst =
        Box::pin(join_all((0..50).map(|i| p.send(Message::new("AbShut", format!("s{i}"))))));
    // One poll puts every message into the accumulator.
    assert!(futures::poll!(&mut burst).is_pending());
    let t0 = Instant::now();
    p.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(10), "shutdown waited {:?}", t0.elapsed());
    let results = burst.await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let e = p.send(Message::new("AbShut", "late")).await.unwrap_err();
    assert!(matches!(e, ClientError::Shutdown), "{e}");
    let got = pull_ids(&stack, "AbShut", 50).await;
    assert_eq!(got.len(), 50);
    for r in results {
        assert!(got.contains_key(&r.unwrap().msg_id));
    }
}
