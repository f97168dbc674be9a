//! Producer, pull consumer and admin API against a real nameserver + broker.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{wait_until, Stack};
use mq_client::{
    Admin, ClientError, ConsumeFromWhere, Message, MessageExt, Producer, PullConsumer,
    PushConsumer, SendStatus,
};

async fn producer(stack: &Stack) -> Producer {
    Producer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("it_producer")
        .compress_threshold(1024)
        .max_message_size(64 * 1024)
        .start()
        .await
        .unwrap()
}

async fn pull_all(stack: &Stack, topic: &str, group: &str, expect: usize) -> Vec<MessageExt> {
    let c = PullConsumer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group(group)
        .consume_from(ConsumeFromWhere::First)
        .start()
        .await
        .unwrap();
    let qs = c.fetch_queues(topic).await.unwrap();
    c.assign(&qs, "*").await;
    let mut out = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while out.len() < expect && std::time::Instant::now() < end {
        out.extend(c.poll(Duration::from_millis(500)).await.unwrap());
    }
    c.commit().await.unwrap();
    c.shutdown().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_variants_and_pull_back() {
    let stack = common::stack().await;
    stack.create_topic("ProdTopic", 4).await;
    let p = producer(&stack).await;

    // Plain send with tags, keys, user property.
    let mut m = Message::new("ProdTopic", "hello");
    m.set_tags("TagA");
    m.set_keys(["order-1"]);
    m.put_property("color", "blue");
    let r = p.send(m).await.unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    assert_eq!(r.msg_id.len(), 32);
    assert_eq!(r.offset_msg_id.len(), 32);

    // Compressed body (over the 1 KiB threshold) comes back intact.
    let big: String = (0..5000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    p.send(Message::new("ProdTopic", big.clone())).await.unwrap();

    // Too big: refused before any I/O.
    let err = p.send(Message::new("ProdTopic", vec![b'x'; 65 * 1024])).await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err}");

    // Batch.
    let batch: Vec<Message> =
        (0..10).map(|i| Message::new("ProdTopic", format!("batch-{i}"))).collect();
    let br = p.send_batch(&batch).await.unwrap();
    assert_eq!(br.msg_id.split(',').count(), 10);

    // Oneway.
    p.send_oneway(Message::new("ProdTopic", "oneway")).await.unwrap();

    // Many sends in flight at once on one connection.
    let sends = (0..500).map(|i| {
        let p = p.clone();
        async move { p.send(Message::new("ProdTopic", format!("pipelined-{i}"))).await }
    });
    let results = futures::future::join_all(sends).await;
    assert!(results.iter().all(|r| r.is_ok()));

    let got = pull_all(&stack, "ProdTopic", "prod_pull", 1 + 1 + 10 + 1 + 500).await;
    let bodies: BTreeSet<String> =
        got.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    assert!(
        bodies.contains("hello")
            && bodies.contains(&big)
            && bodies.contains("batch-9")
            && bodies.contains("oneway")
            && bodies.contains("pipelined-499")
    );
    let hello = got.iter().find(|m| &m.body[..] == b"hello").unwrap();
    assert_eq!(hello.msg_id(), r.msg_id);
    assert_eq!(hello.offset_msg_id, r.offset_msg_id);
    assert_eq!(hello.tags(), Some("TagA"));
    assert_eq!(hello.property("color"), Some("blue"));

    // Admin lookups of that message.
    let admin = Admin::connect(&stack.namesrv_addr).await.unwrap();
    let by_id = admin.query_msg_by_id(None, &r.offset_msg_id).await.unwrap();
    assert_eq!(&by_id[0].message.body[..], b"hello");
    wait_until("key index", Duration::from_secs(10), || {
        let admin = admin.clone();
        async move {
            admin
                .query_msg_by_key("ProdTopic", "order-1", 32, 0, i64::MAX)
                .await
                .map(|v| !v.is_empty())
                .unwrap_or(false)
        }
    })
    .await;
    let uniq = admin.query_msg_by_id(Some("ProdTopic"), &r.msg_id).await.unwrap();
    assert_eq!(&uniq[0].message.body[..], b"hello");
    let at = admin.query_msg_by_offset(&r.message_queue, r.queue_offset).await.unwrap().unwrap();
    assert_eq!(&at.body[..], b"hello");
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_topic_is_auto_created_through_tbw102() {
    let stack = common::stack().await;
    let p = producer(&stack).await;
    let r = p.send(Message::new("AutoCreated", "first")).await.unwrap();
    assert_eq!(r.message_queue.topic, "AutoCreated");
    let admin = Admin::connect(&stack.namesrv_addr).await.unwrap();
    wait_until("auto-created topic route", Duration::from_secs(20), || {
        let admin = admin.clone();
        async move { admin.topic_route("AutoCreated").await.is_ok() }
    })
    .await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tag_filter_delay_and_admin_views() {
    let stack = common::stack().await;
    stack.create_topic("TagTopic", 2).await;
    let got: Arc<Mutex<Vec<MessageExt>>> = Arc::default();
    let g = got.clone();
    let c = PushConsumer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("tag_group")
        .subscribe("TagTopic", "a || b")
        .consume_from(ConsumeFromWhere::First)
        .rebalance_interval(Duration::from_millis(500))
        .persist_interval(Duration::from_millis(200))
        .start(move |m: MessageExt| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(m);
                Ok(())
            }
        })
        .await
        .unwrap();
    let p = producer(&stack).await;
    for (i, tag) in ["a", "b", "c", "a"].iter().enumerate() {
        let mut m = Message::new("TagTopic", format!("{tag}{i}"));
        m.set_tags(*tag);
        p.send(m).await.unwrap();
    }
    let mut d = Message::new("TagTopic", "delayed");
    d.set_tags("a");
    p.send_delayed(d, 1).await.unwrap();
    wait_until("filtered + delayed messages", Duration::from_secs(30), || {
        let n = got.lock().unwrap().iter().filter(|m| &m.body[..] == b"delayed").count();
        async move { n > 0 }
    })
    .await;
    wait_until("a0 b1 a3", Duration::from_secs(10), || {
        let n = got.lock().unwrap().len();
        async move { n >= 4 }
    })
    .await;
    assert!(
        got.lock().unwrap().iter().all(|m| m.tags() != Some("c")),
        "tag c must be filtered out"
    );

    let admin = Admin::connect(&stack.namesrv_addr).await.unwrap();
    assert!(admin.topic_list().await.unwrap().contains(&"TagTopic".to_string()));
    let stats = admin.topic_status("TagTopic").await.unwrap();
    assert_eq!(stats.values().map(|o| o.max_offset).sum::<i64>(), 5);
    let conn = admin.consumer_connection("tag_group").await.unwrap();
    assert!(conn.connection_set.iter().any(|cn| cn.client_id == c.client_id()));
    let pc = admin.producer_connection("it_producer", "TagTopic").await.unwrap();
    assert!(!pc.connection_set.is_empty());
    wait_until("progress caught up", Duration::from_secs(10), || {
        let admin = admin.clone();
        async move {
            admin
                .consumer_progress("tag_group", Some("TagTopic"))
                .await
                .map(|p| !p.queues.is_empty() && p.diff_total() == 0)
                .unwrap_or(false)
        }
    })
    .await;
    let info = admin.consumer_running_info("tag_group", c.client_id()).await.unwrap();
    assert_eq!(info["properties"]["consumerGroup"], "tag_group");
    let rt = admin.broker_runtime_info(&stack.broker_addr).await.unwrap();
    assert!(!rt.is_empty());
    let cfg = admin.broker_config(&stack.broker_addr).await.unwrap();
    assert_eq!(cfg.get("brokerName").map(String::as_str), Some("broker-a"));

    // Reset the live group to the beginning: everything is consumed again.
    let before = got.lock().unwrap().len();
    let table = admin.reset_offset_by_time("tag_group", "TagTopic", 0, true).await.unwrap();
    assert!(!table.is_empty());
    wait_until("redelivery after reset", Duration::from_secs(20), || {
        let n = got.lock().unwrap().len();
        async move { n >= before + 4 }
    })
    .await;
    c.shutdown().await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_avoid_a_failed_broker_and_queries_merge_brokers() {
    let mut stack = common::stack().await;
    stack.add_broker("broker-b").await;
    stack.create_topic("TwoBrokers", 2).await;
    let p = Producer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("fault_producer")
        .fault_backoff(Duration::from_secs(30))
        .send_timeout(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let qs = p.publish_queues("TwoBrokers").await.unwrap();
    assert_eq!(qs.iter().map(|q| q.broker_name.as_str()).collect::<BTreeSet<_>>().len(), 2);
    // Both brokers get messages with the same key; a key query merges them.
    let mut used = BTreeSet::new();
    for i in 0..8 {
        let mut m = Message::new("TwoBrokers", format!("k{i}"));
        m.set_keys(["shared-key"]);
        used.insert(p.send(m).await.unwrap().message_queue.broker_name);
    }
    assert_eq!(used.len(), 2, "round robin spreads over both brokers");
    let admin = Admin::connect(&stack.namesrv_addr).await.unwrap();
    wait_until("key query over both brokers", Duration::from_secs(10), || {
        let admin = admin.clone();
        async move {
            admin
                .query_msg_by_key("TwoBrokers", "shared-key", 32, 0, i64::MAX)
                .await
                .map(|v| v.iter().map(|q| q.broker.clone()).collect::<BTreeSet<_>>().len() == 2)
                .unwrap_or(false)
        }
    })
    .await;
    // broker-b goes away while the producer's route still lists it: every send still succeeds,
    // and after the first failure broker-b is skipped.
    stack.stop_broker("broker-b");
    for i in 0..20 {
        let r = p.send(Message::new("TwoBrokers", format!("after-{i}"))).await.unwrap();
        assert_eq!(r.message_queue.broker_name, "broker-a");
    }
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pull_consumer_assign_seek_poll_commit() {
    let stack = common::stack().await;
    stack.create_topic("PullTopic", 1).await;
    let p = producer(&stack).await;
    for i in 0..10 {
        p.send(Message::new("PullTopic", format!("m{i}"))).await.unwrap();
    }
    let c = PullConsumer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("pull_group")
        .batch_size(4)
        .start()
        .await
        .unwrap();
    let qs = c.fetch_queues("PullTopic").await.unwrap();
    assert_eq!(qs.len(), 1);
    let mq = qs[0].clone();
    c.assign(&qs, "*").await;
    c.seek(&mq, 2).unwrap();
    let first = c.poll(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first[0].queue_offset, 2);
    assert_eq!(&first[0].body[..], b"m2");
    assert_eq!(first.len(), 4, "batch size honoured");
    assert_eq!(c.position(&mq), Some(6));
    c.commit().await.unwrap();
    assert_eq!(c.committed(&mq).await.unwrap(), Some(6));
    c.seek_to_end(&mq).await.unwrap();
    assert_eq!(c.position(&mq), Some(10));
    assert!(c.poll(Duration::from_millis(300)).await.unwrap().is_empty());
    c.seek_to_begin(&mq).await.unwrap();
    assert_eq!(c.poll(Duration::from_secs(5)).await.unwrap()[0].queue_offset, 0);
    assert!(c.seek(&mq::new_unassigned(), 0).is_err());
    c.shutdown().await;
    p.shutdown().await;
}

mod mq {
    pub fn new_unassigned() -> mq_client::MessageQueue {
        mq_client::MessageQueue::new("Other", "broker-a", 0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consume_from_timestamp_skips_older_messages() {
    let stack = common::stack().await;
    stack.create_topic("TsTopic", 2).await;
    let p = producer(&stack).await;
    for i in 0..5 {
        p.send(Message::new("TsTopic", format!("old-{i}"))).await.unwrap();
    }
    // Separate the two phases' store timestamps.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let since = mq_common::protocol::now_millis();
    for i in 0..5 {
        p.send(Message::new("TsTopic", format!("new-{i}"))).await.unwrap();
    }
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let g = got.clone();
    let c = PushConsumer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("ts_group")
        .subscribe("TsTopic", "*")
        .consume_from(ConsumeFromWhere::Timestamp(since))
        .start(move |m: MessageExt| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(String::from_utf8_lossy(&m.body).into_owned());
                Ok(())
            }
        })
        .await
        .unwrap();
    wait_until("the new messages", Duration::from_secs(20), || {
        let n = got.lock().unwrap().iter().filter(|b| b.starts_with("new-")).count();
        async move { n == 5 }
    })
    .await;
    c.shutdown().await;
    p.shutdown().await;
    assert!(
        got.lock().unwrap().iter().all(|b| b.starts_with("new-")),
        "older messages delivered: {:?}",
        got.lock().unwrap()
    );
}
