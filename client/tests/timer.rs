//! Timer messages (`Message::set_deliver_time_ms` & co.) against real `mqnamesrv` + `mqbroker`
//! processes: a push consumer receives them at their time, and timers acknowledged before a
//! `kill -9` (and a SIGTERM) of the broker are each delivered exactly once afterwards.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{wait_until, Stack, StackOptions};
use mq_client::{ConsumeFromWhere, Message, MessageExt, MessageQueue, Producer, PushConsumer};
use mq_common::protocol::now_millis;

async fn producer(stack: &Stack) -> Producer {
    Producer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("timer_producer")
        .route_refresh_interval(Duration::from_millis(500))
        .fault_backoff(Duration::from_millis(200))
        .start()
        .await
        .unwrap()
}

/// Send until stored (the broker may just have restarted), for at most 30 s.
async fn send(p: &Producer, msg: Message) {
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match p.send(msg.clone()).await {
            Ok(_) => return,
            Err(e) if std::time::Instant::now() > end => panic!("send keeps failing: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Every message in `topic`'s queues on the broker: body → store timestamps of its copies.
async fn topic_content(stack: &Stack, topic: &str, queues: i32) -> HashMap<String, Vec<i64>> {
    let admin = mq_client::Admin::connect(&stack.namesrv_addr).await.unwrap();
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    for q in 0..queues {
        let mq = MessageQueue { broker_name: "broker-a".into(), queue_id: q, topic: topic.into() };
        let mut offset = 0;
        loop {
            let Ok(r) = admin
                .pull_without_commit(&stack.broker_addr, &mq, "*", "timer_reader", offset, 32)
                .await
            else {
                break;
            };
            let mq_client::consumer::fetch::PullStatus::Found(msgs) = r.status else { break };
            for m in msgs {
                out.entry(String::from_utf8_lossy(&m.body).to_string())
                    .or_default()
                    .push(m.store_timestamp);
            }
            offset = r.next_begin_offset;
        }
    }
    admin.close();
    out
}

#[tokio::test]
async fn push_consumer_receives_timers_at_their_time() {
    let stack = Stack::start(StackOptions::default().broker_set("timerPrecisionMs", "100")).await;
    stack.create_topic("TimerRx", 2).await;
    let got: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let g = got.clone();
    let consumer = PushConsumer::builder()
        .namesrv_addr(&stack.namesrv_addr)
        .group("timer_rx")
        .subscribe("TimerRx", "*")
        .consume_from(ConsumeFromWhere::First)
        .rebalance_interval(Duration::from_millis(500))
        .start(move |m: MessageExt| {
            let g = g.clone();
            async move {
                g.lock()
                    .unwrap()
                    .push((String::from_utf8_lossy(&m.body).to_string(), now_millis()));
                Ok(())
            }
        })
        .await
        .unwrap();
    let p = producer(&stack).await;
    let t0 = now_millis();
    let mut asked = HashMap::new();
    for i in 0..20i64 {
        let mut m = Message::new("TimerRx", format!("at-{i}"));
        let at = t0 + 1_000 + i * 50;
        m.set_deliver_time_ms(at);
        send(&p, m).await;
        asked.insert(format!("at-{i}"), at);
        let mut m = Message::new("TimerRx", format!("sec-{i}"));
        m.set_delay_time_sec(1);
        let at = now_millis() + 1_000;
        send(&p, m).await;
        asked.insert(format!("sec-{i}"), at);
    }
    wait_until("timers received", Duration::from_secs(30), || {
        let n = got.lock().unwrap().len();
        async move { n >= 40 }
    })
    .await;
    for (body, at) in got.lock().unwrap().iter() {
        let want = asked[body];
        assert!(*at >= want, "{body} received {} ms early", want - at);
        // Generous for a loaded CI machine; a missed wake-up would cost seconds.
        assert!(*at - want < 3_000, "{body} received {} ms late", at - want);
    }
    consumer.shutdown().await;
    p.shutdown().await;
}

#[tokio::test]
async fn timers_survive_kill_9_and_sigterm_and_are_delivered_once() {
    let mut stack = Stack::start(
        StackOptions::default()
            .broker_sets(&[("timerPrecisionMs", "100"), ("timerFlushIntervalMs", "300")]),
    )
    .await;
    stack.create_topic("TimerKill", 2).await;
    let p = producer(&stack).await;
    let mut asked: HashMap<String, i64> = HashMap::new();
    // Wave 1: acknowledged, then the broker is killed while they fall due.
    let t0 = now_millis();
    for i in 0..200i64 {
        let at = t0 + 1_500 + i * 20;
        let mut m = Message::new("TimerKill", format!("w1-{i}"));
        m.set_deliver_time_ms(at);
        send(&p, m).await;
        asked.insert(format!("w1-{i}"), at);
    }
    let kill_at = t0 + 3_000;
    tokio::time::sleep(Duration::from_millis((kill_at - now_millis()).max(0) as u64)).await;
    stack.kill_broker("broker-a");
    stack.start_broker("broker-a").await;
    // Wave 2: after the restart; then a SIGTERM while they are pending.
    let t1 = now_millis();
    for i in 0..100i64 {
        let at = t1 + 1_000 + i * 30;
        let mut m = Message::new("TimerKill", format!("w2-{i}"));
        m.set_delay_time_ms(at - now_millis());
        send(&p, m).await;
        asked.insert(format!("w2-{i}"), at);
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stack.stop_broker("broker-a");
    stack.start_broker("broker-a").await;
    // One more kill -9 once everything is due, then count what the topic holds.
    let last = asked.values().copied().max().unwrap();
    tokio::time::sleep(Duration::from_millis((last - now_millis()).max(0) as u64)).await;
    stack.kill_broker("broker-a");
    stack.start_broker("broker-a").await;
    let s = &stack;
    wait_until("every timer delivered", Duration::from_secs(60), move || async move {
        topic_content(s, "TimerKill", 2).await.len() >= 300
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let content = topic_content(&stack, "TimerKill", 2).await;
    assert_eq!(content.len(), asked.len(), "missing or unexpected messages");
    for (body, times) in &content {
        assert_eq!(times.len(), 1, "{body} delivered {} times", times.len());
        assert!(times[0] >= asked[body], "{body} delivered {} ms early", asked[body] - times[0]);
    }
    p.shutdown().await;
}
