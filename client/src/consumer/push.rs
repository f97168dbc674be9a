//! The push consumer: rebalanced queue assignment, one long-polling pull loop per queue,
//! flow control, concurrent or orderly consumption, periodic offset commits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use mq_common::protocol::body::{
    system_topics, ConsumerData, HeartbeatData, MessageQueue, SubscriptionData,
};
use mq_common::protocol::codes::response;
use mq_common::protocol::header::{
    PullMessageRequestHeader, PULL_FLAG_COMMIT_OFFSET, PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND,
};
use parking_lot::RwLock;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::fetch::{self, PullStatus};
use super::offset_store::OffsetStore;
use super::process_queue::ProcessQueue;
use super::{ConsumeFromWhere, MessageHandler, MessageModel, MessageSelector};
use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;
use crate::options::ClientOptions;

/// Tunables of a push consumer (defaults as Java's, spec §9).
#[derive(Debug, Clone)]
pub(crate) struct PushConfig {
    pub group: String,
    pub subscriptions: Vec<(String, MessageSelector)>,
    pub model: MessageModel,
    pub consume_from: ConsumeFromWhere,
    pub orderly: bool,
    pub concurrency: usize,
    pub pull_batch_size: i32,
    pub max_cached_msgs: usize,
    pub max_cached_bytes: usize,
    pub pull_suspend: Duration,
    pub pull_timeout: Duration,
    pub pull_backoff: Duration,
    pub flow_backoff: Duration,
    pub rebalance_interval: Duration,
    pub persist_interval: Duration,
    pub lock_interval: Duration,
    pub lock_max_age: Duration,
    pub max_reconsume_times: Option<i32>,
    pub orderly_suspend: Duration,
    pub local_retry_delay: Duration,
    pub offset_store_dir: Option<PathBuf>,
    pub shutdown_timeout: Duration,
}

/// Builder of a [`PushConsumer`].
#[derive(Debug, Clone)]
pub struct PushConsumerBuilder {
    opts: ClientOptions,
    cfg: PushConfig,
}

impl Default for PushConsumerBuilder {
    fn default() -> Self {
        PushConsumerBuilder {
            opts: ClientOptions::default(),
            cfg: PushConfig {
                group: "DEFAULT_CONSUMER".into(),
                subscriptions: Vec::new(),
                model: MessageModel::Clustering,
                consume_from: ConsumeFromWhere::Last,
                orderly: false,
                concurrency: 20,
                pull_batch_size: 32,
                max_cached_msgs: 1000,
                max_cached_bytes: 100 * 1024 * 1024,
                pull_suspend: Duration::from_secs(15),
                pull_timeout: Duration::from_secs(30),
                pull_backoff: Duration::from_secs(3),
                flow_backoff: Duration::from_millis(50),
                rebalance_interval: Duration::from_secs(20),
                persist_interval: Duration::from_secs(5),
                lock_interval: Duration::from_secs(20),
                lock_max_age: Duration::from_secs(30),
                max_reconsume_times: None,
                orderly_suspend: Duration::from_secs(1),
                local_retry_delay: Duration::from_secs(5),
                offset_store_dir: None,
                shutdown_timeout: Duration::from_secs(10),
            },
        }
    }
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident : $ty:ty) => {
        $(#[$m])*
        pub fn $name(mut self, v: $ty) -> Self {
            self.cfg.$name = v;
            self
        }
    };
}

crate::options::client_option_setters!(PushConsumerBuilder);

impl PushConsumerBuilder {
    /// Consumer group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.cfg.group = group.into();
        self
    }
    /// Subscribe to `topic` with a tag expression: `*` or `a || b`.
    pub fn subscribe(mut self, topic: impl Into<String>, expr: impl Into<String>) -> Self {
        self.cfg.subscriptions.push((topic.into(), MessageSelector::tag(expr)));
        self
    }
    /// Subscribe to `topic` with a [`MessageSelector`] (tags or a SQL92 property filter).
    pub fn subscribe_with(mut self, topic: impl Into<String>, selector: MessageSelector) -> Self {
        self.cfg.subscriptions.push((topic.into(), selector));
        self
    }
    /// Clustering (default) or broadcasting.
    pub fn message_model(mut self, m: MessageModel) -> Self {
        self.cfg.model = m;
        self
    }
    /// Where to start without a committed offset (default: last).
    pub fn consume_from(mut self, w: ConsumeFromWhere) -> Self {
        self.cfg.consume_from = w;
        self
    }
    /// Orderly mode: queues are locked on the broker and consumed one message at a time, in order.
    pub fn orderly(mut self, on: bool) -> Self {
        self.cfg.orderly = on;
        self
    }
    setter!(
        /// Handlers running at once in concurrent mode (default 20).
        concurrency: usize
    );
    setter!(
        /// Messages per pull (default 32).
        pull_batch_size: i32
    );
    setter!(
        /// Flow control: stop pulling a queue with more cached messages (default 1000).
        max_cached_msgs: usize
    );
    setter!(
        /// Flow control: stop pulling a queue with more cached body bytes (default 100 MiB).
        max_cached_bytes: usize
    );
    setter!(
        /// Long-poll hold time asked of the broker (default 15 s).
        pull_suspend: Duration
    );
    setter!(
        /// RPC timeout of a pull (default 30 s; must exceed `pull_suspend`).
        pull_timeout: Duration
    );
    setter!(
        /// Pause after a failed pull (default 3 s).
        pull_backoff: Duration
    );
    setter!(
        /// Rebalance period (default 20 s; also runs on NOTIFY_CONSUMER_IDS_CHANGED).
        rebalance_interval: Duration
    );
    setter!(
        /// Offset commit period (default 5 s).
        persist_interval: Duration
    );
    setter!(
        /// Orderly lock refresh period (default 20 s).
        lock_interval: Duration
    );
    setter!(
        /// Pause of an orderly queue after a failed message (default 1 s).
        orderly_suspend: Duration
    );
    setter!(
        /// Pause before retrying locally when a failed message could not be sent back (default 5 s).
        local_retry_delay: Duration
    );
    setter!(
        /// Broadcasting: directory of the local offsets file (default `~/.rocketmq_offsets`).
        offset_store_dir: Option<PathBuf>
    );
    setter!(
        /// How long shutdown waits for running handlers (default 10 s).
        shutdown_timeout: Duration
    );
    /// Deliveries before a failing message goes to the DLQ (broker default 16; orderly default: unlimited).
    pub fn max_reconsume_times(mut self, n: i32) -> Self {
        self.cfg.max_reconsume_times = Some(n);
        self
    }

    /// Start consuming with `handler`.
    pub async fn start<H: MessageHandler>(self, handler: H) -> Result<PushConsumer> {
        let PushConsumerBuilder { opts, cfg } = self;
        if opts.namesrv_addrs.is_empty() {
            return Err(ClientError::InvalidArgument("no nameserver address".into()));
        }
        if cfg.subscriptions.is_empty() {
            return Err(ClientError::InvalidArgument("subscribe to at least one topic".into()));
        }
        if cfg.pull_timeout <= cfg.pull_suspend {
            return Err(ClientError::InvalidArgument(
                "pull_timeout must be longer than pull_suspend".into(),
            ));
        }
        let mut cfg = cfg;
        // A lock is trusted a little longer than the refresh period (Java: 30 s vs 20 s).
        cfg.lock_max_age = cfg.lock_max_age.max(cfg.lock_interval * 3 / 2);
        let inst = ClientInstance::new(opts).await;
        let version = mq_common::protocol::now_millis();
        let mut subs = BTreeMap::new();
        for (t, sel) in &cfg.subscriptions {
            mq_common::protocol::body::validate_topic(t).map_err(ClientError::InvalidArgument)?;
            sel.validate()?;
            subs.insert(t.clone(), sel.subscription(t, version));
        }
        if cfg.model == MessageModel::Clustering {
            let rt = system_topics::retry_topic(&cfg.group);
            subs.insert(rt.clone(), SubscriptionData::build(&rt, "*", version));
        }
        for t in subs.keys() {
            inst.watch_topic(t);
        }
        let offsets = match cfg.model {
            MessageModel::Clustering => OffsetStore::remote(&cfg.group, inst.clone()),
            MessageModel::Broadcasting => {
                let dir = cfg.offset_store_dir.clone().unwrap_or_else(|| {
                    std::env::var_os("HOME")
                        .map(PathBuf::from)
                        .unwrap_or_else(std::env::temp_dir)
                        .join(".rocketmq_offsets")
                });
                let instance =
                    inst.client_id.split('@').nth(1).unwrap_or("DEFAULT").replace(['/', '\\'], "_");
                OffsetStore::local(
                    &cfg.group,
                    inst.clone(),
                    dir.join(instance).join(&cfg.group).join("offsets.json"),
                )
            }
        };
        let inner = Arc::new(PushInner {
            permits: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            stop: CancellationToken::new(),
            rebalance_now: Notify::new(),
            pqs: DashMap::new(),
            subs: RwLock::new(subs),
            handler: Arc::new(handler),
            offsets,
            started_ms: mq_common::protocol::now_millis(),
            inst,
            cfg,
        });
        let weak = Arc::downgrade(&inner);
        inner.inst.set_heartbeat_source(Arc::new(move || match weak.upgrade() {
            Some(me) => me.heartbeat_data(),
            None => HeartbeatData::default(),
        }));
        super::client_requests::install(&inner);
        inner.inst.refresh_all_routes().await;
        inner.inst.heartbeat_all().await;
        inner.inst.spawn_background();
        inner.spawn_loops();
        Ok(PushConsumer { inner })
    }
}

/// Shared state of a push consumer.
pub(crate) struct PushInner {
    pub inst: Arc<ClientInstance>,
    pub cfg: PushConfig,
    pub subs: RwLock<BTreeMap<String, SubscriptionData>>,
    pub handler: Arc<dyn MessageHandler>,
    pub pqs: DashMap<MessageQueue, Arc<ProcessQueue>>,
    pub offsets: OffsetStore,
    pub rebalance_now: Notify,
    pub permits: Arc<Semaphore>,
    pub stop: CancellationToken,
    pub started_ms: i64,
}

impl PushInner {
    pub fn heartbeat_data(&self) -> HeartbeatData {
        HeartbeatData {
            client_id: self.inst.client_id.clone(),
            producer_data_set: vec![],
            consumer_data_set: vec![ConsumerData {
                group_name: self.cfg.group.clone(),
                consume_type: "CONSUME_PASSIVELY".into(),
                message_model: self.cfg.model.java_name().into(),
                consume_from_where: self.cfg.consume_from.java_name().into(),
                subscription_data_set: self.subs.read().values().cloned().collect(),
                unit_mode: false,
            }],
            ..Default::default()
        }
    }

    pub fn is_clustering(&self) -> bool {
        self.cfg.model == MessageModel::Clustering
    }

    /// Whether queues must be locked on the broker before consuming.
    pub fn needs_lock(&self) -> bool {
        self.cfg.orderly && self.is_clustering()
    }

    fn spawn_loops(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                me.rebalance().await;
                tokio::select! {
                    _ = me.stop.cancelled() => break,
                    _ = tokio::time::sleep(me.cfg.rebalance_interval) => {}
                    _ = me.rebalance_now.notified() => {}
                }
            }
        });
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = me.stop.cancelled() => break,
                    _ = tokio::time::sleep(me.cfg.persist_interval) => me.persist_all().await,
                }
            }
        });
        if self.needs_lock() {
            let me = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = me.stop.cancelled() => break,
                        _ = tokio::time::sleep(me.cfg.lock_interval) => me.lock_all().await,
                    }
                }
            });
        }
    }

    /// Commit the offsets of every assigned queue.
    pub async fn persist_all(&self) {
        let mqs: Vec<MessageQueue> = self.pqs.iter().map(|e| e.key().clone()).collect();
        self.offsets.persist(Some(&mqs)).await;
    }

    /// Start the long-polling pull loop of one queue.
    pub fn spawn_pull_loop(self: &Arc<Self>, mq: MessageQueue, pq: Arc<ProcessQueue>) {
        let me = self.clone();
        tokio::spawn(async move { me.pull_loop(mq, pq).await });
    }

    async fn pull_loop(self: Arc<Self>, mq: MessageQueue, pq: Arc<ProcessQueue>) {
        tracing::debug!(queue = %mq, "pull loop started");
        while !pq.is_dropped() && !self.stop.is_cancelled() {
            if pq.cached_count() > self.cfg.max_cached_msgs
                || pq.cached_bytes() > self.cfg.max_cached_bytes
            {
                self.pause(self.cfg.flow_backoff).await;
                continue;
            }
            if self.needs_lock() && !pq.is_locked(self.cfg.lock_max_age) {
                self.pause(Duration::from_millis(100)).await;
                continue;
            }
            let Some(sub) = self.subs.read().get(&mq.topic).cloned() else { break };
            let suggested = pq.suggested_broker.load(Ordering::Relaxed);
            let addr = match self.inst.routes.addr_for(&mq.broker_name, suggested) {
                Some(a) => a,
                None => match self.inst.master_addr(&mq.broker_name, &mq.topic).await {
                    Some(a) => a,
                    None => {
                        self.pause(self.cfg.pull_backoff).await;
                        continue;
                    }
                },
            };
            let offset = pq.next_offset.load(Ordering::SeqCst);
            let commit = if self.is_clustering() { self.offsets.read_memory(&mq) } else { None };
            let mut flag = PULL_FLAG_SUSPEND | PULL_FLAG_SUBSCRIPTION;
            if commit.is_some() {
                flag |= PULL_FLAG_COMMIT_OFFSET;
            }
            let header = PullMessageRequestHeader {
                consumer_group: self.cfg.group.clone(),
                topic: mq.topic.clone(),
                queue_id: mq.queue_id,
                queue_offset: offset,
                max_msg_nums: self.cfg.pull_batch_size,
                sys_flag: flag,
                commit_offset: Some(commit.unwrap_or(0)),
                suspend_timeout_millis: Some(self.cfg.pull_suspend.as_millis() as i64),
                subscription: Some(sub.sub_string.clone()),
                sub_version: Some(sub.sub_version),
                expression_type: Some(sub.expression_type.clone()),
                max_msg_bytes: None,
            };
            let result = tokio::select! {
                _ = self.stop.cancelled() => break,
                r = fetch::pull(&self.inst.api, &addr, &header, self.cfg.pull_timeout, &sub, &self.cfg.group) => r,
            };
            if pq.is_dropped() {
                break;
            }
            match result {
                Ok(r) => {
                    pq.next_offset.store(r.next_begin_offset, Ordering::SeqCst);
                    pq.suggested_broker.store(r.suggest_which_broker_id, Ordering::Relaxed);
                    match r.status {
                        PullStatus::Found(msgs) if !msgs.is_empty() => {
                            if self.cfg.orderly {
                                pq.put(msgs);
                                self.spawn_orderly(mq.clone(), pq.clone());
                            } else {
                                pq.track(&msgs);
                                self.dispatch_concurrently(&mq, &pq, msgs);
                            }
                        }
                        PullStatus::Found(_) | PullStatus::NoNewMsg | PullStatus::NoMatchedMsg => {
                            // Nothing to consume up to next_begin_offset: it is safe to commit.
                            if pq.is_empty() {
                                self.offsets.update(&mq, r.next_begin_offset, true);
                            }
                        }
                        PullStatus::OffsetIllegal => {
                            tracing::warn!(queue = %mq, from = offset, to = r.next_begin_offset, "pull offset moved");
                            pq.clear();
                            self.offsets.update(&mq, r.next_begin_offset, false);
                            self.offsets.persist(Some(std::slice::from_ref(&mq))).await;
                        }
                    }
                }
                Err(e) => {
                    let code = e.code();
                    tracing::debug!(queue = %mq, error = %e, "pull failed");
                    // Go back to the master after a failed pull from a replica.
                    pq.suggested_broker.store(0, Ordering::Relaxed);
                    if matches!(
                        code,
                        Some(response::SUBSCRIPTION_NOT_EXIST)
                            | Some(response::SUBSCRIPTION_NOT_LATEST)
                    ) {
                        self.inst.heartbeat_all().await;
                    } else if code.is_none() {
                        // The broker did not answer: it may be gone, with a replacement
                        // already routed.
                        self.inst.refresh_route_after_failure(&mq.topic);
                    }
                    self.pause(self.cfg.pull_backoff).await;
                }
            }
        }
        tracing::debug!(queue = %mq, "pull loop stopped");
    }

    /// Sleep unless stopping.
    pub async fn pause(&self, d: Duration) {
        tokio::select! {
            _ = self.stop.cancelled() => {}
            _ = tokio::time::sleep(d) => {}
        }
    }
}

/// A push consumer. Call [`PushConsumer::shutdown`] to stop it cleanly (commit offsets,
/// unregister); dropping it only stops its tasks.
pub struct PushConsumer {
    inner: Arc<PushInner>,
}

impl Drop for PushConsumer {
    fn drop(&mut self) {
        // The background tasks hold the inner state; without this they would run forever.
        self.inner.stop.cancel();
        self.inner.inst.shutdown.cancel();
    }
}

impl PushConsumer {
    /// A builder with Java's defaults.
    pub fn builder() -> PushConsumerBuilder {
        PushConsumerBuilder::default()
    }

    /// This member's client id.
    pub fn client_id(&self) -> &str {
        &self.inner.inst.client_id
    }

    /// Queues currently assigned to this member.
    pub fn assigned_queues(&self) -> Vec<MessageQueue> {
        let mut v: Vec<_> = self.inner.pqs.iter().map(|e| e.key().clone()).collect();
        v.sort();
        v
    }

    /// Run a rebalance now (normally periodic and on membership changes).
    pub fn trigger_rebalance(&self) {
        self.inner.rebalance_now.notify_one();
    }

    /// Stop pulling, let running handlers finish (bounded), commit offsets, release orderly
    /// locks and unregister from the brokers.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        if inner.stop.is_cancelled() {
            return;
        }
        inner.stop.cancel();
        let n = inner.cfg.concurrency.max(1) as u32;
        let _ =
            tokio::time::timeout(inner.cfg.shutdown_timeout, inner.permits.acquire_many(n)).await;
        if inner.cfg.orderly {
            let pqs: Vec<_> = inner.pqs.iter().map(|e| e.value().clone()).collect();
            for pq in pqs {
                let _ =
                    tokio::time::timeout(inner.cfg.shutdown_timeout, pq.consume_lock.lock()).await;
            }
        }
        inner.persist_all().await;
        if inner.needs_lock() {
            let mqs: Vec<_> = inner.pqs.iter().map(|e| e.key().clone()).collect();
            inner.unlock(&mqs).await;
        }
        for e in inner.pqs.iter() {
            e.value().set_dropped();
        }
        inner.pqs.clear();
        inner.inst.close(None, Some(&inner.cfg.group)).await;
    }
}
