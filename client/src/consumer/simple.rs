//! [`SimpleConsumer`]: POP consumption (RocketMQ 5's simple consumer over the remoting POP
//! requests). `receive` takes messages from the brokers with an *invisible time*; each must be
//! [`ack`](SimpleConsumer::ack)ed before it runs out, or it is delivered again (with its
//! delivery attempt raised); [`change_invisible_duration`](SimpleConsumer::change_invisible_duration)
//! asks for more time (or less: 0 makes it visible again at once). No queue is assigned to a
//! consumer, so any number of them share a group without rebalancing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mq_common::message::property::RETRY_TOPIC;
use mq_common::message::record::decode_all;
use mq_common::message::MessageExt;
use mq_common::protocol::body::system_topics::RETRY_PREFIX;
use mq_common::protocol::body::{
    BatchAck, BatchAckMessageRequestBody, ConsumerData, HeartbeatData, SubscriptionData,
};
use mq_common::protocol::codes::{request as rq, response};
use mq_common::protocol::header::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    PopMessageRequestHeader, PopMessageResponseHeader,
};
use mq_common::protocol::{now_millis, CommandHeader, RemotingCommand};

use super::MessageSelector;
use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;
use crate::options::ClientOptions;
use crate::route::subscribe_queues;

/// Most messages one receive asks a broker for (the broker's cap).
pub const MAX_RECEIVE: i32 = 32;

/// Builder of a [`SimpleConsumer`].
#[derive(Debug, Clone)]
pub struct SimpleConsumerBuilder {
    opts: ClientOptions,
    group: String,
    subscriptions: BTreeMap<String, MessageSelector>,
    await_duration: Duration,
}

impl Default for SimpleConsumerBuilder {
    fn default() -> Self {
        SimpleConsumerBuilder {
            opts: ClientOptions::default(),
            group: "DEFAULT_SIMPLE_CONSUMER".into(),
            subscriptions: BTreeMap::new(),
            await_duration: Duration::from_secs(20),
        }
    }
}

crate::options::client_option_setters!(SimpleConsumerBuilder);

impl SimpleConsumerBuilder {
    /// Consumer group.
    pub fn group(mut self, g: impl Into<String>) -> Self {
        self.group = g.into();
        self
    }
    /// Receive `topic`'s messages that `selector` accepts.
    pub fn subscribe(mut self, topic: impl Into<String>, selector: MessageSelector) -> Self {
        self.subscriptions.insert(topic.into(), selector);
        self
    }
    /// How long a receive waits for messages when none are there (long polling; default
    /// 20 s, the broker caps it at 30 s).
    pub fn await_duration(mut self, d: Duration) -> Self {
        self.await_duration = d;
        self
    }

    /// Start the consumer.
    pub async fn start(self) -> Result<SimpleConsumer> {
        if self.opts.namesrv_addrs.is_empty() {
            return Err(ClientError::InvalidArgument("no nameserver address".into()));
        }
        if self.subscriptions.is_empty() {
            return Err(ClientError::InvalidArgument("no subscription".into()));
        }
        for s in self.subscriptions.values() {
            s.validate()?;
        }
        let inst = ClientInstance::new(self.opts).await;
        let subs: Vec<SubscriptionData> =
            self.subscriptions.iter().map(|(t, s)| s.subscription(t, now_millis())).collect();
        for s in &subs {
            inst.watch_topic(&s.topic);
        }
        let (group, client_id) = (self.group.clone(), inst.client_id.clone());
        let hb_subs = subs.clone();
        inst.set_heartbeat_source(Arc::new(move || HeartbeatData {
            client_id: client_id.clone(),
            producer_data_set: vec![],
            consumer_data_set: vec![ConsumerData {
                group_name: group.clone(),
                consume_type: "CONSUME_POP".into(),
                message_model: "CLUSTERING".into(),
                consume_from_where: "CONSUME_FROM_LAST_OFFSET".into(),
                subscription_data_set: hb_subs.clone(),
                unit_mode: false,
            }],
            ..Default::default()
        }));
        inst.spawn_background();
        Ok(SimpleConsumer {
            inner: Arc::new(Inner {
                inst,
                group: self.group,
                subs,
                await_duration: self.await_duration,
                rr: AtomicUsize::new(0),
            }),
        })
    }
}

/// A received message and what acks it.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    /// The message (for a redelivery its original topic, as sent).
    pub message: MessageExt,
    /// Which delivery this is (1 = first).
    pub delivery_attempt: i32,
    broker_addr: String,
    topic: String,
    queue_id: i32,
    /// Java's `extraInfo`: `ck popTime invisibleTime reviveQid topicType brokerName queueId
    /// queueOffset`.
    handle: String,
}

impl ReceivedMessage {
    /// The receipt handle (changes with every change of invisible duration).
    pub fn receipt_handle(&self) -> &str {
        &self.handle
    }
}

struct Inner {
    inst: Arc<ClientInstance>,
    group: String,
    subs: Vec<SubscriptionData>,
    await_duration: Duration,
    rr: AtomicUsize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.inst.shutdown.cancel();
    }
}

/// A POP consumer (see the module doc).
#[derive(Clone)]
pub struct SimpleConsumer {
    inner: Arc<Inner>,
}

impl SimpleConsumer {
    /// A builder.
    pub fn builder() -> SimpleConsumerBuilder {
        SimpleConsumerBuilder::default()
    }

    /// Up to `max` messages (≤ 32) invisible to other receives for `invisible`; waits up to
    /// the await duration when there are none (then answers an empty list).
    pub async fn receive(&self, max: i32, invisible: Duration) -> Result<Vec<ReceivedMessage>> {
        if !(1..=MAX_RECEIVE).contains(&max) {
            return Err(ClientError::InvalidArgument(format!("max must be in 1..={MAX_RECEIVE}")));
        }
        let invisible_ms = invisible.as_millis() as i64;
        if invisible_ms <= 0 {
            return Err(ClientError::InvalidArgument("invisible time must be positive".into()));
        }
        let me = &self.inner;
        // Every (subscription, broker) pair, from a rotating start: a quick pass, then a long
        // poll on the first.
        let mut targets = Vec::new();
        for sub in &me.subs {
            let Some(route) = me.inst.route(&sub.topic).await? else { continue };
            let brokers: BTreeSet<String> =
                subscribe_queues(&sub.topic, &route).into_iter().map(|q| q.broker_name).collect();
            for b in brokers {
                targets.push((sub, b));
            }
        }
        if targets.is_empty() {
            return Err(ClientError::NoRoute(me.subs[0].topic.clone()));
        }
        let start = me.rr.fetch_add(1, Ordering::Relaxed);
        let n = targets.len();
        targets.rotate_left(start % n);
        for (i, (sub, broker)) in targets.iter().enumerate() {
            let last = i + 1 == targets.len();
            let poll = if last { me.await_duration } else { Duration::ZERO };
            let got = self.pop(sub, broker, max, invisible_ms, poll).await?;
            if !got.is_empty() {
                return Ok(got);
            }
        }
        Ok(Vec::new())
    }

    async fn pop(
        &self,
        sub: &SubscriptionData,
        broker: &str,
        max: i32,
        invisible_ms: i64,
        poll: Duration,
    ) -> Result<Vec<ReceivedMessage>> {
        let me = &self.inner;
        let addr = me
            .inst
            .master_addr(broker, &sub.topic)
            .await
            .ok_or_else(|| ClientError::BrokerNotFound(broker.to_string()))?;
        let h = PopMessageRequestHeader {
            consumer_group: me.group.clone(),
            topic: sub.topic.clone(),
            queue_id: -1,
            max_msg_nums: max,
            invisible_time: invisible_ms,
            poll_time: poll.as_millis() as i64,
            born_time: now_millis(),
            init_mode: 0,
            exp_type: Some(sub.expression_type.clone()),
            exp: Some(sub.sub_string.clone()),
            order: Some(false),
            attempt_id: None,
        };
        let cmd = RemotingCommand::request_with_header(rq::POP_MESSAGE, &h);
        let resp = me.inst.api.invoke(&addr, cmd, poll + me.inst.api.timeout).await?;
        match resp.code {
            response::SUCCESS => {}
            response::PULL_NOT_FOUND | response::NO_MESSAGE => return Ok(Vec::new()),
            _ => return Err(ClientError::from_response(&addr, &resp)),
        }
        let hdr = PopMessageResponseHeader::read(&resp.ext_fields)
            .map_err(|e| ClientError::BadResponse(format!("pop header: {e}")))?;
        // (topic type, queue id) → check-point offset, the first field of each handle.
        let mut ck: BTreeMap<(String, i32), String> = BTreeMap::new();
        for part in hdr.start_offset_info.as_deref().unwrap_or("").split(';') {
            let f: Vec<&str> = part.split(' ').collect();
            if let [kind, q, offset] = f[..] {
                ck.insert((kind.to_string(), q.parse().unwrap_or(-1)), offset.to_string());
            }
        }
        let msgs = decode_all(&resp.body, false)
            .map_err(|e| ClientError::BadResponse(format!("pop body: {e}")))?;
        let mut out = Vec::with_capacity(msgs.len());
        for mut m in msgs {
            let kind = if m.topic.starts_with(RETRY_PREFIX) { "1" } else { "0" };
            let Some(first) = ck.get(&(kind.to_string(), m.queue_id)) else {
                return Err(ClientError::BadResponse("message of no listed queue".into()));
            };
            let handle = format!(
                "{first} {} {} {} {kind} {broker} {} {}",
                hdr.pop_time, hdr.invisible_time, hdr.revive_qid, m.queue_id, m.queue_offset
            );
            if kind == "1" {
                if let Some(t) = m.property(RETRY_TOPIC).map(str::to_string) {
                    m.topic = t;
                }
            }
            out.push(ReceivedMessage {
                delivery_attempt: m.reconsume_times + 1,
                broker_addr: addr.clone(),
                topic: sub.topic.clone(),
                queue_id: m.queue_id,
                handle,
                message: m,
            });
        }
        Ok(out)
    }

    /// Acknowledge a message: it is consumed. Fails when its handle no longer holds (the
    /// invisible time ran out, or a newer handle replaced it).
    pub async fn ack(&self, m: &ReceivedMessage) -> Result<()> {
        let h = AckMessageRequestHeader {
            consumer_group: self.inner.group.clone(),
            topic: m.topic.clone(),
            queue_id: m.queue_id,
            extra_info: m.handle.clone(),
            offset: m.message.queue_offset,
        };
        let cmd = RemotingCommand::request_with_header(rq::ACK_MESSAGE, &h);
        self.inner.inst.api.invoke_ok(&m.broker_addr, cmd).await?;
        Ok(())
    }

    /// Acknowledge many messages with one BATCH_ACK_MESSAGE per broker (Java's client groups
    /// them the same way: per queue and pop, offsets as bits above the check-point offset).
    /// Messages whose handle no longer holds are skipped by the broker, not reported.
    pub async fn ack_batch(&self, msgs: &[ReceivedMessage]) -> Result<()> {
        type Key = (String, String, i64, i32, i64, i64, i32);
        let mut per: BTreeMap<String, (String, BTreeMap<Key, BatchAck>)> = BTreeMap::new();
        for m in msgs {
            let f: Vec<&str> = m.handle.split(' ').collect();
            let bad = || ClientError::InvalidArgument("malformed receipt handle".into());
            if f.len() < 8 {
                return Err(bad());
            }
            let ck: i64 = f[0].parse().map_err(|_| bad())?;
            let pop_time: i64 = f[1].parse().map_err(|_| bad())?;
            let invisible: i64 = f[2].parse().map_err(|_| bad())?;
            let revive: i32 = f[3].parse().map_err(|_| bad())?;
            let key: Key =
                (m.topic.clone(), f[4].to_string(), ck, m.queue_id, pop_time, invisible, revive);
            let (_, acks) = per
                .entry(m.broker_addr.clone())
                .or_insert_with(|| (f[5].to_string(), BTreeMap::new()));
            let a = acks.entry(key).or_insert_with(|| BatchAck {
                consumer_group: self.inner.group.clone(),
                topic: m.topic.clone(),
                retry: f[4].to_string(),
                start_offset: ck,
                queue_id: m.queue_id,
                revive_queue_id: revive,
                pop_time,
                invisible_time: invisible,
                bits: Vec::new(),
            });
            if m.message.queue_offset < ck {
                return Err(bad());
            }
            a.set(m.message.queue_offset);
        }
        for (addr, (broker_name, acks)) in per {
            let body =
                BatchAckMessageRequestBody { broker_name, acks: acks.into_values().collect() };
            let body = serde_json::to_vec(&body)
                .map_err(|e| ClientError::InvalidArgument(format!("batch ack body: {e}")))?;
            let cmd = RemotingCommand::request(rq::BATCH_ACK_MESSAGE).with_body(body);
            self.inner.inst.api.invoke_ok(&addr, cmd).await?;
        }
        Ok(())
    }

    /// Make the message invisible for `invisible` from now (0: visible again at once); its
    /// receipt handle is replaced (the old one stops working).
    pub async fn change_invisible_duration(
        &self,
        m: &mut ReceivedMessage,
        invisible: Duration,
    ) -> Result<()> {
        let h = ChangeInvisibleTimeRequestHeader {
            consumer_group: self.inner.group.clone(),
            topic: m.topic.clone(),
            queue_id: m.queue_id,
            extra_info: m.handle.clone(),
            offset: m.message.queue_offset,
            invisible_time: invisible.as_millis() as i64,
        };
        let cmd = RemotingCommand::request_with_header(rq::CHANGE_MESSAGE_INVISIBLETIME, &h);
        let resp = self.inner.inst.api.invoke_ok(&m.broker_addr, cmd).await?;
        let r = ChangeInvisibleTimeResponseHeader::read(&resp.ext_fields)
            .map_err(|e| ClientError::BadResponse(format!("change header: {e}")))?;
        // As Java's client: the first field stays, pop and invisible time are the answer's.
        let mut f: Vec<String> = m.handle.split(' ').map(str::to_string).collect();
        if f.len() < 3 {
            return Err(ClientError::BadResponse("malformed receipt handle".into()));
        }
        f[1] = r.pop_time.to_string();
        f[2] = r.invisible_time.to_string();
        m.handle = f.join(" ");
        Ok(())
    }

    /// Unregister from the brokers and stop background tasks.
    pub async fn shutdown(&self) {
        self.inner.inst.close(None, Some(&self.inner.group)).await;
    }
}
