//! Concurrent consumption: each message runs its handler on its own task (bounded by the
//! consumer's concurrency); failures go back to the broker for delayed redelivery.

use std::sync::Arc;

use mq_common::message::property::{
    MAX_OFFSET, MAX_RECONSUME_TIMES, MIN_OFFSET, RECONSUME_TIME, RETRY_TOPIC,
};
use mq_common::message::{Message, MessageExt};
use mq_common::protocol::body::{system_topics, MessageQueue};
use mq_common::protocol::header::ConsumerSendMsgBackRequestHeader;

use super::process_queue::ProcessQueue;
use super::push::PushInner;
use super::{ConsumeError, MessageHandler};
use crate::error::{ClientError, Result};
use crate::producer::{prepare_single, SendShape};
use crate::route::publish_queues;

/// Run the user's handler, turning a panic into an error (the message is then retried like any
/// failure instead of being stuck unacknowledged).
pub(crate) async fn call_handler(
    handler: &dyn MessageHandler,
    msg: MessageExt,
) -> Result<(), ConsumeError> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(handler.handle(msg)).catch_unwind().await {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("handler panicked: {what}").into())
        }
    }
}

impl PushInner {
    /// Run the handler for each message on its own task.
    pub fn dispatch_concurrently(
        self: &Arc<Self>,
        mq: &MessageQueue,
        pq: &Arc<ProcessQueue>,
        msgs: Vec<MessageExt>,
    ) {
        for msg in msgs {
            let me = self.clone();
            let mq = mq.clone();
            let pq = pq.clone();
            tokio::spawn(async move { me.consume_one(mq, pq, msg).await });
        }
    }

    async fn consume_one(
        self: Arc<Self>,
        mq: MessageQueue,
        pq: Arc<ProcessQueue>,
        msg: MessageExt,
    ) {
        loop {
            let Ok(permit) = self.permits.clone().acquire_owned().await else { return };
            // Once stopping or reassigned, leave the message unacknowledged: its offset is not
            // committed, so it is delivered again (at-least-once).
            if self.stop.is_cancelled() || pq.is_dropped() {
                return;
            }
            let result = call_handler(&*self.handler, msg.clone()).await;
            drop(permit);
            let acked = match result {
                Ok(()) => true,
                Err(e) if self.is_clustering() => {
                    tracing::debug!(msg_id = %msg.msg_id(), error = %e, "handler failed, sending back for redelivery");
                    match self.send_back(&mq, &msg, 0).await {
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
                if let Some(off) = pq.remove(&[msg.queue_offset]) {
                    if !pq.is_dropped() {
                        self.offsets.update(&mq, off, true);
                    }
                }
                return;
            }
            self.pause(self.cfg.local_retry_delay).await;
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
