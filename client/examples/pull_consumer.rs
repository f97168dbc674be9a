//! Read every queue of a topic from the beginning with the pull consumer, then commit.
//!
//! `cargo run -p mq-client --example pull_consumer -- 127.0.0.1:9876 [topic]`

use std::time::Duration;

use mq_client::{ConsumeFromWhere, PullConsumer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "TopicTest".into());
    let consumer = PullConsumer::builder()
        .namesrv_addr(&namesrv)
        .group("example_pull")
        .consume_from(ConsumeFromWhere::First)
        .start()
        .await?;
    let queues = consumer.fetch_queues(&topic).await?;
    consumer.assign(&queues, "*").await;
    for mq in &queues {
        consumer.seek_to_begin(mq).await?;
    }
    let mut total = 0;
    loop {
        let msgs = consumer.poll(Duration::from_secs(2)).await?;
        if msgs.is_empty() {
            break;
        }
        for m in &msgs {
            println!(
                "{}#{}@{} {}",
                m.topic,
                m.queue_id,
                m.queue_offset,
                String::from_utf8_lossy(&m.body)
            );
        }
        total += msgs.len();
    }
    consumer.commit().await?;
    println!("read {total} messages");
    consumer.shutdown().await;
    Ok(())
}
