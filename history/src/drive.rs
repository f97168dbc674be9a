//! The Rust driver: `mq-client`'s producer sending continuously from several tasks, every
//! send recorded as `invoke` + `ok` / `fail` / `info`, and (optionally) a push consumer
//! recording every delivery as a `recv` (`via: consumer`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mq_client::{
    ClientError, ConsumeFromWhere, Message, MessageExt, Producer, PushConsumer, SendStatus,
};

use crate::event::{body_hash, Event, Kind, Via};
use crate::readback::replicas;
use crate::recorder::Recorder;

/// What to drive.
#[derive(Debug, Clone)]
pub struct DriveOptions {
    /// `;`-separated name servers.
    pub namesrv: String,
    /// Topic to send to.
    pub topic: String,
    /// Client name in the history; keys are `{client}-{n}`, so it must be unique per run.
    pub client: String,
    /// Concurrent send loops.
    pub workers: usize,
    /// Pause after a send that did not succeed (a down broker is not hammered).
    pub pause_after_error: Duration,
    /// Also consume the topic (group `CG_{client}`, from the first offset) and record each
    /// delivery.
    pub consume: bool,
}

/// Send until `stop` is set; returns (sends, acknowledged).
pub async fn drive(
    opts: &DriveOptions,
    rec: &Recorder,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(u64, u64)> {
    let producer = Producer::builder()
        .namesrv_addr(&opts.namesrv)
        .group(format!("PG_{}", opts.client))
        .route_refresh_interval(Duration::from_millis(500))
        // One broker group is all there may be: do not avoid it for long after a failure.
        .fault_backoff(Duration::from_millis(200))
        .start()
        .await?;
    let producer = Arc::new(producer);
    let consumer = if opts.consume { Some(consume(opts, rec).await?) } else { None };
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..opts.workers.max(1) {
        let (p, rec, stop, next, acked, o) = (
            producer.clone(),
            rec.clone(),
            stop.clone(),
            next.clone(),
            acked.clone(),
            opts.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if send_one(&p, &o, n, &rec).await {
                    acked.fetch_add(1, Ordering::Relaxed);
                } else {
                    tokio::time::sleep(o.pause_after_error).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    producer.shutdown().await;
    if let Some(c) = consumer {
        c.shutdown().await;
    }
    Ok((next.load(Ordering::Relaxed), acked.load(Ordering::Relaxed)))
}

/// Send message `n` and record it; true when acknowledged.
async fn send_one(p: &Producer, o: &DriveOptions, n: u64, rec: &Recorder) -> bool {
    let key = format!("{}-{n}", o.client);
    let body = format!("{key}:{}", "x".repeat(64));
    let hash = body_hash(body.as_bytes());
    let mut inv = Event::new(Kind::Invoke, &o.client).msg(&key, &hash);
    inv.topic = Some(o.topic.clone());
    rec.record(&inv);
    let mut msg = Message::new(&o.topic, body);
    msg.set_keys([&key]);
    let mut e = match p.send(msg).await {
        Ok(r) if r.status == SendStatus::SendOk => {
            let mq = &r.message_queue;
            let mut e = Event::new(Kind::Ok, &o.client).pos(
                &o.topic,
                &mq.broker_name,
                mq.queue_id,
                r.queue_offset,
            );
            e.msg_id = Some(r.msg_id);
            e
        }
        // FLUSH_*_TIMEOUT / SLAVE_NOT_AVAILABLE: stored on the master, not acknowledged.
        Ok(r) => {
            let mut e = Event::new(Kind::Info, &o.client);
            e.error = Some(format!("{:?}", r.status));
            e
        }
        Err(err) => {
            let mut e = Event::new(
                if definitely_not_sent(&err) { Kind::Fail } else { Kind::Info },
                &o.client,
            );
            e.error = Some(err.to_string());
            e
        }
    };
    let ok = e.kind == Kind::Ok;
    e.key = Some(key);
    e.hash = Some(hash);
    rec.record(&e);
    ok
}

/// Errors raised before any request left the client (anything later, a timeout above all,
/// may have been stored: those are `info`).
fn definitely_not_sent(e: &ClientError) -> bool {
    matches!(e, ClientError::NoRoute(_) | ClientError::InvalidArgument(_) | ClientError::Shutdown)
}

/// A push consumer recording every delivery. A delivery names no broker group, so the group
/// is found from the message's store host (the master that stored it, also in the bytes a
/// slave serves) among the replicas the name servers route.
async fn consume(o: &DriveOptions, rec: &Recorder) -> anyhow::Result<PushConsumer> {
    let groups: std::collections::BTreeMap<String, String> = replicas(&o.namesrv, &o.topic)
        .await?
        .into_iter()
        .map(|(r, _)| (r.addr, r.broker))
        .collect();
    let (rec, topic) = (rec.clone(), o.topic.clone());
    let c = PushConsumer::builder()
        .namesrv_addr(&o.namesrv)
        .group(format!("CG_{}", o.client))
        .subscribe(&o.topic, "*")
        .consume_from(ConsumeFromWhere::First)
        .start(move |m: MessageExt| {
            let mut e = Event::new(Kind::Recv, "consumer");
            e.key = m.keys().first().map(|k| k.to_string());
            e.hash = Some(body_hash(&m.body));
            e.topic = Some(topic.clone());
            e.broker = groups.get(&m.store_host.to_string()).cloned();
            (e.queue, e.offset) = (Some(m.queue_id), Some(m.queue_offset));
            (e.msg_id, e.via) = (Some(m.msg_id().to_string()), Some(Via::Consumer));
            rec.record(&e);
            async { Ok(()) }
        })
        .await?;
    Ok(c)
}
