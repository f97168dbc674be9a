//! Send ten messages and print the results.
//!
//! `cargo run -p mq-client --example producer -- 127.0.0.1:9876 [topic]`

use mq_client::{Message, Producer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "TopicTest".into());
    let producer =
        Producer::builder().namesrv_addr(&namesrv).group("example_producer").start().await?;
    for i in 0..10 {
        let mut msg = Message::new(&topic, format!("Hello RocketMQ {i}"));
        msg.set_tags("TagA");
        msg.set_keys([format!("KEY{i}")]);
        msg.put_property("origin", "rust-example");
        let r = producer.send(msg).await?;
        println!(
            "SendResult [status={:?}, msgId={}, offsetMsgId={}, queue={}, queueOffset={}]",
            r.status, r.msg_id, r.offset_msg_id, r.message_queue, r.queue_offset
        );
    }
    producer.shutdown().await;
    Ok(())
}
