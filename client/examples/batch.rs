//! Batch send: several messages of one topic in one request.
//!
//! `cargo run -p mq-client --example batch -- 127.0.0.1:9876 [topic]`

use mq_client::{Message, Producer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "BatchTopic".into());
    let producer =
        Producer::builder().namesrv_addr(&namesrv).group("example_batch_producer").start().await?;
    let msgs: Vec<Message> = (0..10)
        .map(|i| {
            let mut m = Message::new(&topic, format!("batch message {i}"));
            m.set_tags("TagB");
            m
        })
        .collect();
    let r = producer.send_batch(&msgs).await?;
    println!(
        "batch stored in {} from offset {}; ids: {}",
        r.message_queue, r.queue_offset, r.msg_id
    );
    producer.shutdown().await;
    Ok(())
}
