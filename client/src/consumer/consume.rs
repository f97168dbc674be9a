//! Concurrent consumption: each pulled batch runs on one task; a handler that finishes on its
//! first poll costs no task of its own, one that waits continues on its own task (bounded by
//! the consumer's concurrency); failures go back to the broker for delayed redelivery.
//!
//! Why not a task per message: spawning one (the future moved several times, a task
//! allocated, scheduled and freed) was most of the consumer's CPU per message. The cost of
//! the batch task: a handler that computes for long without awaiting holds up the rest of its
//! batch (other queues' batches still run in parallel); move such work to
//! `tokio::task::spawn_blocking`, as on any tokio runtime.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures::future::CatchUnwind;
use futures::FutureExt;
use mq_common::message::property::{
    MAX_OFFSET, MAX_RECONSUME_TIMES, MIN_OFFSET, RECONSUME_TIME, RETRY_TOPIC,
};
use mq_common::message::{Message, MessageExt};
use mq_common::protocol::body::{system_topics, MessageQueue};
use mq_common::protocol::header::ConsumerSendMsgBackRequestHeader;
use tokio::sync::OwnedSemaphorePermit;

use super::process_queue::ProcessQueue;
use super::push::PushInner;
use super::{ConsumeError, HandlerFuture, MessageHandler};
use crate::error::{ClientError, Result};
use crate::producer::{prepare_single, SendShape};
use crate::route::publish_queues;

/// One run of the user's handler, a panic caught.
type Attempt = CatchUnwind<AssertUnwindSafe<HandlerFuture>>;

fn attempt(handler: &dyn MessageHandler, msg: MessageExt) -> Attempt {
    AssertUnwindSafe(handler.handle(msg)).catch_unwind()
}

/// A handler's result, a panic turned into an error (the message is then retried like any
/// failure instead of being stuck unacknowledged).
fn outcome(r: std::thread::Result<Result<(), ConsumeError>>) -> Result<(), ConsumeError> {
    r.unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("handler panicked: {what}").into())
    })
}

/// Run the user's handler (see [`outcome`]).
pub(crate) async fn call_handler(
    handler: &dyn MessageHandler,
    msg: MessageExt,
) -> Result<(), ConsumeError> {
    outcome(attempt(handler, msg).await)
}

/// A first attempt begun on the batch's task and handed to the message's own task.
struct Begun {
    state: FirstRun,
    /// the concurrency slot it holds until it finishes
    permit: OwnedSemaphorePermit,
}

/// How a first attempt stands after its first poll.
enum FirstRun {
    /// it failed (or panicked) at once
    Done(std::thread::Result<Result<(), ConsumeError>>),
    /// it is waiting on something
    Running(Attempt),
}

impl PushInner {
    /// Consume a pulled batch on one task (see the module docs).
    pub fn dispatch_concurrently(
        self: &Arc<Self>,
        mq: &MessageQueue,
        pq: &Arc<ProcessQueue>,
        msgs: Vec<MessageExt>,
    ) {
        let (me, mq, pq) = (self.clone(), mq.clone(), pq.clone());
        tokio::spawn(async move { me.consume_batch(mq, pq, msgs).await });
    }

    async fn consume_batch(
        self: Arc<Self>,
        mq: MessageQueue,
        pq: Arc<ProcessQueue>,
        msgs: Vec<MessageExt>,
    ) {
        let mut acked = Vec::with_capacity(msgs.len());
        for msg in msgs {
            let permit = match self.permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    // Waiting for a slot: commit what is done first.
                    self.ack(&mq, &pq, &mut acked);
                    let Ok(p) = self.permits.clone().acquire_owned().await else { break };
                    p
                }
            };
            // Once stopping or reassigned, leave the rest unacknowledged: their offsets are
            // not committed, so they are delivered again (at-least-once).
            if self.stop.is_cancelled() || pq.is_dropped() {
                break;
            }
            let mut run = attempt(&*self.handler, msg.clone());
            let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut run).poll(cx))).await;
            let state = match first {
                Poll::Ready(Ok(Ok(()))) => {
                    drop(permit);
                    acked.push(msg.queue_offset);
                    continue;
                }
                Poll::Ready(r) => FirstRun::Done(r),
                Poll::Pending => FirstRun::Running(run),
            };
            let begun = Begun { state, permit };
            tokio::spawn(self.clone().consume_one(mq.clone(), pq.clone(), msg, Some(begun)));
        }
        self.ack(&mq, &pq, &mut acked);
    }

    /// Commit consumed messages (their queue offsets), emptying `acked`.
    fn ack(&self, mq: &MessageQueue, pq: &ProcessQueue, acked: &mut Vec<i64>) {
        if acked.is_empty() {
            return;
        }
        if let Some(off) = pq.remove(acked) {
            if !pq.is_dropped() {
                self.offsets.update(mq, off, true);
            }
        }
        acked.clear();
    }

    /// One message on its own task, from its first attempt (`begun`) or from scratch, until it
    /// is consumed, sent back, or the consumer stops.
    async fn consume_one(
        self: Arc<Self>,
        mq: MessageQueue,
        pq: Arc<ProcessQueue>,
        msg: MessageExt,
        mut begun: Option<Begun>,
    ) {
        loop {
            let result = match begun.take() {
                Some(Begun { state, permit }) => {
                    let r = match state {
                        FirstRun::Done(r) => r,
                        FirstRun::Running(run) => run.await,
                    };
                    drop(permit);
                    outcome(r)
                }
                None => {
                    let Ok(permit) = self.permits.clone().acquire_owned().await else { return };
                    if self.stop.is_cancelled() || pq.is_dropped() {
                        return;
                    }
                    let r = call_handler(&*self.handler, msg.clone()).await;
                    drop(permit);
                    r
                }
            };
            let acked = match result {
                Ok(()) => true,
                Err(e) if self.is_clustering() => {
                    tracing::debug!(msg_id = %msg.msg_id(), error = %e, "handler failed, sending back for redelivery");
                    // Boxed: the cold path's (large) future would otherwise be part of every
                    // message task's future.
                    match Box::pin(self.send_back(&mq, &msg, 0)).await {
                        Ok(()) => true,
                        Err(err) => {
                            tracing::warn!(msg_id = %msg.msg_id(), error = %err, "send back failed, retrying locally");
                            false
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(msg_id = %msg.msg_id(), error = %e, "handler failed (broadcasting: not redelivered)");
                    true
                }
            };
            if acked {
                self.ack(&mq, &pq, &mut vec![msg.queue_offset]);
                return;
            }
            Box::pin(self.pause(self.cfg.local_retry_delay)).await;
            if self.stop.is_cancelled() {
                return;
            }
        }
    }

    /// Return a failed message to the broker: CONSUMER_SEND_MSG_BACK (the broker schedules it on
    /// `%RETRY%group` with a growing delay, or moves it to the DLQ), falling back to sending a
    /// copy to the retry topic ourselves. `delay_level < 0` asks for the DLQ directly.
    pub async fn send_back(
        &self,
        mq: &MessageQueue,
        msg: &MessageExt,
        delay_level: i32,
    ) -> Result<()> {
        let addr = match self.inst.master_addr(&mq.broker_name, &mq.topic).await {
            Some(a) => a,
            None => msg.store_host.to_string(),
        };
        let header = ConsumerSendMsgBackRequestHeader {
            offset: msg.commit_log_offset,
            group: self.cfg.group.clone(),
            delay_level,
            origin_msg_id: Some(msg.msg_id().to_string()),
            origin_topic: Some(msg.topic.clone()),
            unit_mode: Some(false),
            max_reconsume_times: Some(self.max_reconsume_times()),
        };
        match self.inst.api.send_back(&addr, &header).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::debug!(error = %e, "CONSUMER_SEND_MSG_BACK failed, resending to the retry topic");
                self.resend_to_retry_topic(msg, delay_level).await
            }
        }
    }

    fn max_reconsume_times(&self) -> i32 {
        self.cfg.max_reconsume_times.unwrap_or(16)
    }

    /// Java's fallback: a copy of the message sent to `%RETRY%group` with the reconsume count.
    async fn resend_to_retry_topic(&self, msg: &MessageExt, delay_level: i32) -> Result<()> {
        let retry = system_topics::retry_topic(&self.cfg.group);
        let mut m = Message::new(retry.clone(), msg.body.clone());
        m.flag = msg.flag;
        m.properties = msg.properties.clone();
        m.properties.remove(MIN_OFFSET);
        m.properties.remove(MAX_OFFSET);
        m.properties.entry(RETRY_TOPIC.to_string()).or_insert_with(|| msg.topic.clone());
        m.put_property(RECONSUME_TIME, (msg.reconsume_times + 1).to_string());
        m.put_property(MAX_RECONSUME_TIMES, self.max_reconsume_times().to_string());
        let target = if delay_level < 0 || msg.reconsume_times + 1 > self.max_reconsume_times() {
            // Past the limit: the broker routes reconsumeTimes >= max to the DLQ.
            m.put_property(RECONSUME_TIME, self.max_reconsume_times().to_string());
            retry
        } else {
            m.set_delay_level(3 + msg.reconsume_times);
            retry
        };
        let shape = SendShape {
            group: self.cfg.group.clone(),
            compress_threshold: usize::MAX,
            max_message_size: usize::MAX,
            default_topic_queue_nums: 1,
        };
        let p = prepare_single(&m, &shape, &self.inst.ids)?;
        let route = self
            .inst
            .refresh_route(&target)
            .await?
            .ok_or_else(|| ClientError::NoRoute(target.clone()))?;
        let qs = publish_queues(&target, &route);
        let q = qs
            .get(rand::random::<u32>() as usize % qs.len().max(1))
            .ok_or_else(|| ClientError::NoRoute(target.clone()))?;
        let addr = self
            .inst
            .routes
            .master_addr(&q.broker_name)
            .ok_or_else(|| ClientError::BrokerNotFound(q.broker_name.clone()))?;
        let resp = self
            .inst
            .api
            .invoke(&addr, p.command(q.queue_id, &q.broker_name), self.inst.opts.rpc_timeout)
            .await?;
        crate::producer::parse_send_response(&addr, &resp, q, &p.msg_id).map(|_| ())
    }
}
