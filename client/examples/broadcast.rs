//! Broadcasting: two consumers of one group each receive every message.
//!
//! `cargo run -p mq-client --example broadcast -- 127.0.0.1:9876 [topic]`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mq_client::{ConsumeFromWhere, Message, MessageExt, MessageModel, Producer, PushConsumer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "BroadcastTopic".into());
    // Make sure the topic exists (auto-created through TBW102 by the first send) before the
    // members start reading from its end.
    let producer = Producer::builder()
        .namesrv_addr(&namesrv)
        .group("example_broadcast_producer")
        .start()
        .await?;
    producer.send(Message::new(&topic, "warm-up")).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut consumers = Vec::new();
    let mut counters = Vec::new();
    for i in 0..2 {
        let n = Arc::new(AtomicUsize::new(0));
        let c = n.clone();
        let consumer = PushConsumer::builder()
            .namesrv_addr(&namesrv)
            .group("example_broadcast")
            .instance_name(format!("member-{i}"))
            .subscribe(&topic, "*")
            .message_model(MessageModel::Broadcasting)
            .consume_from(ConsumeFromWhere::Last)
            .offset_store_dir(Some(std::env::temp_dir().join("rmq-broadcast-example")))
            .start(move |msg: MessageExt| {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    println!("member-{i}: {}", String::from_utf8_lossy(&msg.body));
                    Ok(())
                }
            })
            .await?;
        consumers.push(consumer);
        counters.push(n);
    }
    // Wait (bounded) until both members read the topic.
    for _ in 0..100 {
        if consumers.iter().all(|c: &PushConsumer| !c.assigned_queues().is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 0..5 {
        producer.send(Message::new(&topic, format!("news {i}"))).await?;
    }
    producer.shutdown().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (i, c) in consumers.iter().enumerate() {
        println!("member-{i} received {}", counters[i].load(Ordering::SeqCst));
        c.shutdown().await;
    }
    Ok(())
}
