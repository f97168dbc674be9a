//! Ordered messages: a producer puts each order's steps into one queue (hash of the order id),
//! an orderly consumer receives every order's steps in sequence.
//!
//! `cargo run -p mq-client --example ordered -- 127.0.0.1:9876 [topic]`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mq_client::{ConsumeFromWhere, Message, MessageExt, Producer, PushConsumer, SelectByHash};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "OrderedTopic".into());
    let producer = Producer::builder()
        .namesrv_addr(&namesrv)
        .group("example_ordered_producer")
        .start()
        .await?;
    for step in 0..5 {
        for order in 0..4 {
            let msg = Message::new(&topic, format!("order-{order} step-{step}"));
            producer.send_with_selector(msg, &SelectByHash, &format!("order-{order}")).await?;
        }
    }
    producer.shutdown().await;

    let seen: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let s = seen.clone();
    let consumer = PushConsumer::builder()
        .namesrv_addr(&namesrv)
        .group("example_ordered_consumer")
        .subscribe(&topic, "*")
        .consume_from(ConsumeFromWhere::First)
        .orderly(true)
        .start(move |msg: MessageExt| {
            let s = s.clone();
            async move {
                let body = String::from_utf8_lossy(&msg.body).to_string();
                println!("queue {} offset {}: {body}", msg.queue_id, msg.queue_offset);
                let order = body.split(' ').next().unwrap_or("").to_string();
                s.lock().unwrap().entry(order).or_default().push(body);
                Ok(())
            }
        })
        .await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    consumer.shutdown().await;
    for (order, steps) in seen.lock().unwrap().iter() {
        println!("{order}: {steps:?}");
    }
    Ok(())
}
