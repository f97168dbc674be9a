//! A lite pull consumer: the application assigns queues, seeks, polls batches and commits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mq_common::message::MessageExt;
use mq_common::protocol::body::{ConsumerData, HeartbeatData, MessageQueue, SubscriptionData};
use mq_common::protocol::header::{PullMessageRequestHeader, PULL_FLAG_SUBSCRIPTION};
use parking_lot::Mutex;

use super::fetch::{self, PullStatus};
use super::offset_store::OffsetStore;
use super::{ConsumeFromWhere, MessageSelector};
use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;
use crate::options::ClientOptions;
use crate::route::subscribe_queues;

/// Builder of a [`PullConsumer`].
#[derive(Debug, Clone)]
pub struct PullConsumerBuilder {
    opts: ClientOptions,
    group: String,
    batch_size: i32,
    consume_from: ConsumeFromWhere,
    poll_interval: Duration,
}

impl Default for PullConsumerBuilder {
    fn default() -> Self {
        PullConsumerBuilder {
            opts: ClientOptions::default(),
            group: "DEFAULT_PULL_CONSUMER".into(),
            batch_size: 32,
            consume_from: ConsumeFromWhere::Last,
            poll_interval: Duration::from_millis(100),
        }
    }
}

crate::options::client_option_setters!(PullConsumerBuilder);

impl PullConsumerBuilder {
    /// Consumer group (offsets are committed under it).
    pub fn group(mut self, g: impl Into<String>) -> Self {
        self.group = g.into();
        self
    }
    /// Messages per queue per pull (default 32).
    pub fn batch_size(mut self, n: i32) -> Self {
        self.batch_size = n;
        self
    }
    /// Start position of a queue without committed offset (default: last).
    pub fn consume_from(mut self, w: ConsumeFromWhere) -> Self {
        self.consume_from = w;
        self
    }
    /// Pause between empty rounds while polling (default 100 ms).
    pub fn poll_interval(mut self, t: Duration) -> Self {
        self.poll_interval = t;
        self
    }

    /// Start the consumer (no queues assigned yet).
    pub async fn start(self) -> Result<PullConsumer> {
        if self.opts.namesrv_addrs.is_empty() {
            return Err(ClientError::InvalidArgument("no nameserver address".into()));
        }
        let inst = ClientInstance::new(self.opts).await;
        let offsets = OffsetStore::remote(&self.group, inst.clone());
        let inner = Arc::new(PullInner {
            group: self.group,
            batch_size: self.batch_size,
            consume_from: self.consume_from,
            poll_interval: self.poll_interval,
            offsets,
            assigned: Mutex::new(BTreeMap::new()),
            inst,
        });
        let weak = Arc::downgrade(&inner);
        inner.inst.set_heartbeat_source(Arc::new(move || match weak.upgrade() {
            Some(me) => me.heartbeat_data(),
            None => HeartbeatData::default(),
        }));
        inner.inst.spawn_background();
        Ok(PullConsumer { inner })
    }
}

/// Position of one assigned queue.
#[derive(Debug, Clone)]
struct Assignment {
    /// Next offset to read; `None` until resolved from the committed offset.
    position: Option<i64>,
    sub: SubscriptionData,
}

struct PullInner {
    inst: Arc<ClientInstance>,
    group: String,
    batch_size: i32,
    consume_from: ConsumeFromWhere,
    poll_interval: Duration,
    offsets: OffsetStore,
    assigned: Mutex<BTreeMap<MessageQueue, Assignment>>,
}

impl Drop for PullInner {
    fn drop(&mut self) {
        self.inst.shutdown.cancel();
    }
}

impl PullInner {
    fn heartbeat_data(&self) -> HeartbeatData {
        let mut subs: BTreeMap<String, SubscriptionData> = BTreeMap::new();
        for a in self.assigned.lock().values() {
            subs.insert(a.sub.topic.clone(), a.sub.clone());
        }
        HeartbeatData {
            client_id: self.inst.client_id.clone(),
            producer_data_set: vec![],
            consumer_data_set: vec![ConsumerData {
                group_name: self.group.clone(),
                consume_type: "CONSUME_ACTIVELY".into(),
                message_model: "CLUSTERING".into(),
                consume_from_where: self.consume_from.java_name().into(),
                subscription_data_set: subs.into_values().collect(),
                unit_mode: false,
            }],
            ..Default::default()
        }
    }

    async fn addr(&self, mq: &MessageQueue) -> Result<String> {
        self.inst
            .master_addr(&mq.broker_name, &mq.topic)
            .await
            .ok_or_else(|| ClientError::BrokerNotFound(mq.broker_name.clone()))
    }

    async fn resolve_position(&self, mq: &MessageQueue) -> Result<i64> {
        if let Some(o) = self.offsets.read_store(mq).await? {
            return Ok(o);
        }
        let addr = self.addr(mq).await?;
        match self.consume_from {
            ConsumeFromWhere::First => self.inst.api.min_offset(&addr, mq).await,
            ConsumeFromWhere::Last => self.inst.api.max_offset(&addr, mq).await,
            ConsumeFromWhere::Timestamp(ts) => self.inst.api.search_offset(&addr, mq, ts).await,
        }
    }
}

/// A pull consumer with explicit queue assignment.
pub struct PullConsumer {
    inner: Arc<PullInner>,
}

impl PullConsumer {
    /// A builder with defaults.
    pub fn builder() -> PullConsumerBuilder {
        PullConsumerBuilder::default()
    }

    /// Every readable queue of `topic`.
    pub async fn fetch_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        self.inner.inst.watch_topic(topic);
        let route = self
            .inner
            .inst
            .refresh_route(topic)
            .await?
            .ok_or_else(|| ClientError::NoRoute(topic.to_string()))?;
        Ok(subscribe_queues(topic, &route).into_iter().collect())
    }

    /// Assign queues (replacing the previous assignment), all filtered by tag expression `expr`.
    pub async fn assign(&self, queues: &[MessageQueue], expr: &str) {
        self.assign_with(queues, &MessageSelector::tag(expr)).await
    }

    /// Assign queues (replacing the previous assignment), all filtered by `selector` (tags or
    /// SQL92; the broker evaluates it).
    pub async fn assign_with(&self, queues: &[MessageQueue], selector: &MessageSelector) {
        let version = mq_common::protocol::now_millis();
        {
            let mut a = self.inner.assigned.lock();
            a.retain(|mq, _| queues.contains(mq));
            for mq in queues {
                self.inner.inst.watch_topic(&mq.topic);
                a.entry(mq.clone()).or_insert_with(|| Assignment {
                    position: None,
                    sub: selector.subscription(&mq.topic, version),
                });
            }
        }
        self.inner.inst.refresh_all_routes().await;
        self.inner.inst.heartbeat_all().await;
    }

    /// Queues currently assigned.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        self.inner.assigned.lock().keys().cloned().collect()
    }

    /// Read `mq` from `offset` next.
    pub fn seek(&self, mq: &MessageQueue, offset: i64) -> Result<()> {
        let mut a = self.inner.assigned.lock();
        let e = a
            .get_mut(mq)
            .ok_or_else(|| ClientError::InvalidArgument(format!("{mq} is not assigned")))?;
        e.position = Some(offset);
        Ok(())
    }

    /// Read `mq` from its first stored message next.
    pub async fn seek_to_begin(&self, mq: &MessageQueue) -> Result<()> {
        let addr = self.inner.addr(mq).await?;
        let o = self.inner.inst.api.min_offset(&addr, mq).await?;
        self.seek(mq, o)
    }

    /// Read `mq` from its end next (only new messages).
    pub async fn seek_to_end(&self, mq: &MessageQueue) -> Result<()> {
        let addr = self.inner.addr(mq).await?;
        let o = self.inner.inst.api.max_offset(&addr, mq).await?;
        self.seek(mq, o)
    }

    /// The next offset to be read from `mq`, if resolved.
    pub fn position(&self, mq: &MessageQueue) -> Option<i64> {
        self.inner.assigned.lock().get(mq).and_then(|a| a.position)
    }

    /// Pull once from every assigned queue (without long polling), repeating until something
    /// arrives or `timeout` passes. Positions advance past what is returned.
    pub async fn poll(&self, timeout: Duration) -> Result<Vec<MessageExt>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msgs = self.poll_once().await?;
            if !msgs.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(msgs);
            }
            tokio::time::sleep(
                self.inner
                    .poll_interval
                    .min(deadline.saturating_duration_since(tokio::time::Instant::now())),
            )
            .await;
        }
    }

    async fn poll_once(&self) -> Result<Vec<MessageExt>> {
        let snapshot: Vec<(MessageQueue, Assignment)> =
            self.inner.assigned.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut out = Vec::new();
        let mut last_err = None;
        for (mq, a) in snapshot {
            let pos = match a.position {
                Some(p) => p,
                None => match self.inner.resolve_position(&mq).await {
                    Ok(p) => p,
                    Err(e) => {
                        last_err = Some(e);
                        continue;
                    }
                },
            };
            let addr = match self.inner.addr(&mq).await {
                Ok(a) => a,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let header = PullMessageRequestHeader {
                consumer_group: self.inner.group.clone(),
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                queue_offset: pos,
                max_msg_nums: self.inner.batch_size,
                sys_flag: PULL_FLAG_SUBSCRIPTION,
                commit_offset: Some(0),
                suspend_timeout_millis: Some(0),
                subscription: Some(a.sub.sub_string.clone()),
                sub_version: Some(a.sub.sub_version),
                expression_type: Some(a.sub.expression_type.clone()),
                max_msg_bytes: None,
            };
            match fetch::pull(
                &self.inner.inst.api,
                &addr,
                &header,
                self.inner.inst.opts.rpc_timeout,
                &a.sub,
                &self.inner.group,
            )
            .await
            {
                Ok(r) => {
                    if let PullStatus::Found(msgs) = r.status {
                        out.extend(msgs);
                    }
                    if let Some(e) = self.inner.assigned.lock().get_mut(&mq) {
                        e.position = Some(r.next_begin_offset);
                    }
                }
                Err(e) => last_err = Some(e),
            }
        }
        match (out.is_empty(), last_err) {
            (true, Some(e)) => Err(e),
            _ => Ok(out),
        }
    }

    /// Commit the current positions of all assigned queues to the broker.
    pub async fn commit(&self) -> Result<()> {
        let positions: Vec<(MessageQueue, i64)> = self
            .inner
            .assigned
            .lock()
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.position?)))
            .collect();
        for (mq, p) in &positions {
            let addr = self.inner.addr(mq).await?;
            self.inner.inst.api.update_consumer_offset(&addr, &self.inner.group, mq, *p).await?;
            self.inner.offsets.update(mq, *p, false);
        }
        Ok(())
    }

    /// The committed offset of `mq` on the broker.
    pub async fn committed(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        self.inner.offsets.read_store(mq).await
    }

    /// Unregister and close connections (does not commit; call [`Self::commit`] first).
    pub async fn shutdown(&self) {
        self.inner.inst.close(None, Some(&self.inner.group)).await;
    }
}
