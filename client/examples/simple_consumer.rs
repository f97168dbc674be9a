//! Receive a topic's messages with the POP simple consumer: each is invisible to other
//! receives for 30 s and acked once printed (a message not acked in time comes back).
//!
//! `cargo run -p mq-client --example simple_consumer -- 127.0.0.1:9876 [topic] [tag-expression]`

use std::time::Duration;

use mq_client::{MessageSelector, SimpleConsumer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "TopicTest".into());
    let tags = args.next().unwrap_or_else(|| "*".into());
    let consumer = SimpleConsumer::builder()
        .namesrv_addr(&namesrv)
        .group("example_simple")
        .subscribe(&topic, MessageSelector::tag(tags))
        .await_duration(Duration::from_secs(5))
        .start()
        .await?;
    let mut total = 0;
    loop {
        let msgs = consumer.receive(16, Duration::from_secs(30)).await?;
        if msgs.is_empty() {
            break;
        }
        for m in &msgs {
            println!(
                "{}#{}@{} attempt {} {}",
                m.message.topic,
                m.message.queue_id,
                m.message.queue_offset,
                m.delivery_attempt,
                String::from_utf8_lossy(&m.message.body)
            );
            consumer.ack(m).await?;
        }
        total += msgs.len();
    }
    println!("received and acked {total} messages");
    consumer.shutdown().await;
    Ok(())
}
