//! Timer message (RocketMQ 5 arbitrary delay): deliver at a chosen millisecond and measure.
//!
//! `cargo run -p mq-client --example timer -- 127.0.0.1:9876 [topic] [delay_ms]`

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mq_client::{ConsumeFromWhere, Message, MessageExt, Producer, PushConsumer};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "TimerTopic".into());
    let delay_ms: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3_500);
    // The first send auto-creates the topic, so the consumer finds its route at once.
    let producer =
        Producer::builder().namesrv_addr(&namesrv).group("example_timer_producer").start().await?;
    producer.send(Message::new(&topic, "warm-up")).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let consumer = PushConsumer::builder()
        .namesrv_addr(&namesrv)
        .group("example_timer_consumer")
        .subscribe(&topic, "*")
        .consume_from(ConsumeFromWhere::Last)
        .start(move |msg: MessageExt| {
            let tx = tx.clone();
            async move {
                if &msg.body[..] != b"warm-up" {
                    let _ = tx.send((msg, now_ms()));
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
    let at = now_ms() + delay_ms;
    let mut msg = Message::new(&topic, "wake me up");
    msg.set_deliver_time_ms(at);
    let r = producer.send(msg).await?;
    println!("sent {} to be delivered at {at} (in {delay_ms} ms)", r.msg_id);
    match tokio::time::timeout(Duration::from_millis(delay_ms.max(0) as u64 + 60_000), rx.recv())
        .await
    {
        Ok(Some((m, got))) => {
            println!("received {} {} ms after its delivery time", m.msg_id(), got - at)
        }
        _ => println!("not received within 60 s of its time"),
    }
    producer.shutdown().await;
    consumer.shutdown().await;
    Ok(())
}
