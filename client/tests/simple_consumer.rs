//! The POP simple consumer against a real nameserver + broker: receive with a tag filter and an
//! invisible time, ack, change invisible duration (the old handle stops working, the message
//! comes back with attempt 2), nothing left at the end.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mq_client::{Message, MessageSelector, Producer, ReceivedMessage, SimpleConsumer};

fn body(m: &ReceivedMessage) -> String {
    String::from_utf8_lossy(&m.message.body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_ack_and_change_invisible_duration() {
    let stack = common::stack().await;
    stack.create_topic("SimpleTopic", 2).await;
    let p = Producer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("simple_producer")
        .start()
        .await
        .unwrap();
    for i in 0..10 {
        let mut m = Message::new("SimpleTopic", format!("s{i}"));
        m.set_tags(if i % 2 == 0 { "A" } else { "B" });
        p.send(m).await.unwrap();
    }
    let c = SimpleConsumer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("simple_group")
        .subscribe("SimpleTopic", MessageSelector::tag("A"))
        .await_duration(Duration::from_secs(2))
        .start()
        .await
        .unwrap();

    // The five A messages, first deliveries.
    let mut got: BTreeMap<String, ReceivedMessage> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 5 && Instant::now() < deadline {
        for m in c.receive(32, Duration::from_secs(30)).await.unwrap() {
            assert_eq!(m.delivery_attempt, 1);
            got.insert(body(&m), m);
        }
    }
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(names, ["s0", "s2", "s4", "s6", "s8"]);

    // Ack four; the fifth gets 1 s more, under a new handle.
    let mut last = got.remove("s8").unwrap();
    // One BATCH_ACK_MESSAGE for the four; their handles no longer ack one by one.
    let four: Vec<ReceivedMessage> = got.values().cloned().collect();
    c.ack_batch(&four).await.unwrap();
    for m in &four {
        assert!(c.ack(m).await.is_err(), "{} was acked by the batch", body(m));
    }
    let old = last.clone();
    c.change_invisible_duration(&mut last, Duration::from_secs(1)).await.unwrap();
    assert_ne!(old.receipt_handle(), last.receipt_handle());
    assert!(c.ack(&old).await.is_err(), "a superseded handle does not ack");

    // Not acked in time: it comes back, attempt 2; the expired handle no longer acks.
    let again = common::wait_until("s8 redelivered", Duration::from_secs(30), || async {
        c.receive(32, Duration::from_secs(30)).await.unwrap().into_iter().find(|m| body(m) == "s8")
    })
    .await;
    assert_eq!(again.delivery_attempt, 2);
    assert!(c.ack(&last).await.is_err(), "an expired handle does not ack");
    c.ack(&again).await.unwrap();
    assert!(c.receive(32, Duration::from_secs(30)).await.unwrap().is_empty());

    // Bad arguments: clear errors, no request.
    assert!(c.receive(0, Duration::from_secs(1)).await.is_err());
    assert!(c.receive(1, Duration::ZERO).await.is_err());
    c.shutdown().await;
    p.shutdown().await;
}
