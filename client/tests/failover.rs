//! The producer follows a replaced master at once: after a failed send it refreshes the
//! topic's route (at most every 250 ms per topic) instead of waiting for the periodic refresh
//! (30 s by default; 5 min here, so only the refresh after the failure can find the new
//! master within the test's bound).

use std::time::{Duration, Instant};

use mq_client::{Message, Producer, SendStatus};
use mq_test_support::cluster::{Cluster, Node};
use mq_test_support::wait_until;

const TOPIC: &str = "FailoverTopic";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_follows_a_replaced_master_after_a_failed_send() {
    let mut c = Cluster::start(1, &[]).await;
    c.add_broker(Node::master("m1", "broker-a", "ASYNC_MASTER")).await;
    c.create_topic(TOPIC, 4).await;
    let p = Producer::builder()
        .namesrv_addr(&c.namesrv_list())
        .group("failover_producer")
        .route_refresh_interval(Duration::from_secs(300))
        .send_timeout(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let r = p.send(Message::new(TOPIC, b"to m1".to_vec())).await.unwrap();
    assert_eq!(r.status, SendStatus::SendOk);

    // The master dies; another broker takes its name (an operator's replacement, or what an
    // election does in controller mode) and registers.
    c.kill("m1");
    let m2 = c.add_broker(Node::master("m2", "broker-a", "ASYNC_MASTER")).await;
    c.create_topic(TOPIC, 4).await;
    let t0 = Instant::now();
    let r =
        wait_until("a send acknowledged by the new master", Duration::from_secs(30), || async {
            p.send(Message::new(TOPIC, b"to m2".to_vec())).await.ok()
        })
        .await;
    assert_eq!(r.status, SendStatus::SendOk);
    // offsetMsgId encodes the storing broker's address.
    let stored_at = mq_common::message::decode_offset_msg_id(&r.offset_msg_id).ok().map(|(a, _)| a);
    assert_eq!(stored_at.map(|a| a.to_string()), Some(m2.clone()), "stored at {m2}?");
    println!("first acknowledged send to the new master {:?} after it was routed", t0.elapsed());
    p.shutdown().await;
}
