//! Delayed delivery: send with delay level 2 (5 s with the default levels) and measure.
//!
//! `cargo run -p mq-client --example delay -- 127.0.0.1:9876 [topic]`

use std::time::{Duration, Instant};

use mq_client::{ConsumeFromWhere, Message, MessageExt, Producer, PushConsumer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "DelayTopic".into());
    // The first send auto-creates the topic, so the consumer finds its route at once.
    let producer =
        Producer::builder().namesrv_addr(&namesrv).group("example_delay_producer").start().await?;
    producer.send(Message::new(&topic, "warm-up")).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let consumer = PushConsumer::builder()
        .namesrv_addr(&namesrv)
        .group("example_delay_consumer")
        .subscribe(&topic, "*")
        .consume_from(ConsumeFromWhere::Last)
        .start(move |msg: MessageExt| {
            let tx = tx.clone();
            async move {
                if &msg.body[..] != b"warm-up" {
                    let _ = tx.send(msg);
                }
                Ok(())
            }
        })
        .await?;
    for _ in 0..100 {
        if !consumer.assigned_queues().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = Instant::now();
    let r = producer.send_delayed(Message::new(&topic, "see you later"), 2).await?;
    println!("sent {} with delay level 2", r.msg_id);
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
        println!("received {} after {:?}", m.msg_id(), sent.elapsed());
    } else {
        println!("not received within 60 s");
    }
    producer.shutdown().await;
    consumer.shutdown().await;
    Ok(())
}
