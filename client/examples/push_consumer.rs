//! Consume a topic in a clustering group until Ctrl-C.
//!
//! `cargo run -p mq-client --example push_consumer -- 127.0.0.1:9876 [topic] [group]`

use mq_client::{ConsumeFromWhere, MessageExt, PushConsumer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "TopicTest".into());
    let group = args.next().unwrap_or_else(|| "example_consumer".into());
    let consumer = PushConsumer::builder()
        .namesrv_addr(&namesrv)
        .group(group)
        .subscribe(topic, "*")
        .consume_from(ConsumeFromWhere::First)
        .start(|msg: MessageExt| async move {
            println!(
                "{} {}#{}@{} {}",
                msg.msg_id(),
                msg.topic,
                msg.queue_id,
                msg.queue_offset,
                String::from_utf8_lossy(&msg.body)
            );
            Ok(())
        })
        .await?;
    println!("consumer {} started, Ctrl-C to stop", consumer.client_id());
    tokio::signal::ctrl_c().await?;
    consumer.shutdown().await;
    Ok(())
}
