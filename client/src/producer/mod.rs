//! The producer: route discovery, queue selection with fault avoidance, retries, batches,
//! oneway sends; many sends in flight at once over one connection per broker.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mq_client::ClientError> {
//! use mq_client::{Message, Producer};
//! let producer = Producer::builder().namesrv_addr("127.0.0.1:9876").group("PG").start().await?;
//! let r = producer.send(Message::new("TopicTest", "hello")).await?;
//! println!("{} -> {}", r.msg_id, r.message_queue);
//! producer.shutdown().await;
//! # Ok(()) }
//! ```

mod accumulator;
mod selector;
mod send;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use mq_common::message::Message;
use mq_common::protocol::body::system_topics::TBW102;
use mq_common::protocol::body::{HeartbeatData, MessageQueue, ProducerData};

use accumulator::{Accumulator, BatchOptions};
pub use selector::{FaultTracker, MessageQueueSelector, SelectByHash, TopicPublishInfo};
pub(crate) use send::{parse_response as parse_send_response, prepare_single, SendShape};
pub use send::{SendResult, SendStatus};

use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;
use crate::options::ClientOptions;
use crate::route::{publish_queues, route_from_template};

/// Builder of a [`Producer`]. Defaults follow the Java client (spec §9).
#[derive(Debug, Clone)]
pub struct ProducerBuilder {
    opts: ClientOptions,
    group: String,
    send_timeout: Duration,
    retries: usize,
    compress_threshold: usize,
    max_message_size: usize,
    default_topic_queue_nums: i32,
    fault_backoff: Duration,
    auto_batch: bool,
    batch: BatchOptions,
}

impl Default for ProducerBuilder {
    fn default() -> Self {
        ProducerBuilder {
            opts: ClientOptions::default(),
            group: "DEFAULT_PRODUCER".into(),
            send_timeout: Duration::from_secs(3),
            retries: 2,
            compress_threshold: 4096,
            max_message_size: 4 * 1024 * 1024,
            default_topic_queue_nums: 4,
            fault_backoff: Duration::from_secs(10),
            auto_batch: false,
            batch: BatchOptions::default(),
        }
    }
}

crate::options::client_option_setters!(ProducerBuilder);

impl ProducerBuilder {
    /// Producer group (default `DEFAULT_PRODUCER`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }
    /// Timeout of one send attempt (default 3 s).
    pub fn send_timeout(mut self, t: Duration) -> Self {
        self.send_timeout = t;
        self
    }
    /// Extra attempts after a failed send, each on another broker if possible (default 2).
    pub fn retries(mut self, n: usize) -> Self {
        self.retries = n;
        self
    }
    /// Bodies larger than this are zlib-compressed (default 4096 bytes).
    pub fn compress_threshold(mut self, bytes: usize) -> Self {
        self.compress_threshold = bytes;
        self
    }
    /// Largest body accepted, checked before sending (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }
    /// Queue count requested when a topic is auto-created through TBW102 (default 4).
    pub fn default_topic_queue_nums(mut self, n: i32) -> Self {
        self.default_topic_queue_nums = n;
        self
    }
    /// How long a broker that failed a send is avoided (default 10 s; zero disables).
    pub fn fault_backoff(mut self, t: Duration) -> Self {
        self.fault_backoff = t;
        self
    }

    /// Auto-batching (Java 5.x `setAutoBatch`; default off): concurrent [`Producer::send`] and
    /// [`Producer::send_to_queue`] calls to one topic (and queue) are merged into batch
    /// requests, each caller still getting its own [`SendResult`] or error. Fewer, larger
    /// requests cost the client and broker less per message. Delayed, timer, retry-topic,
    /// transactional and large messages still go alone. A message waits at most
    /// [`batch_max_delay`](Self::batch_max_delay) for its batch; with
    /// [`batch_flush_when_idle`](Self::batch_flush_when_idle) (the default) not at all when
    /// no batch of its topic is in flight.
    pub fn auto_batch(mut self, on: bool) -> Self {
        self.auto_batch = on;
        self
    }
    /// Longest a message waits for its batch to fill (Java `batchMaxDelayMs`; 10 ms, 1 ms..30 s).
    pub fn batch_max_delay(mut self, t: Duration) -> Self {
        self.batch.max_delay = t;
        self
    }
    /// A batch is sent once its bodies reach this size (Java `batchMaxBytes`; 32 KiB, at most
    /// 2 MiB); a larger message goes alone.
    pub fn batch_max_bytes(mut self, bytes: usize) -> Self {
        self.batch.max_bytes = bytes;
        self
    }
    /// Bound on the bodies held in batches or in flight; past it sends go alone (Java
    /// `totalBatchMaxBytes`; 32 MiB).
    pub fn total_batch_max_bytes(mut self, bytes: usize) -> Self {
        self.batch.total_max_bytes = bytes;
        self
    }
    /// Send a batch at once when no batch of its topic (and queue) is in flight, and what
    /// accumulated meanwhile as soon as the one in flight is answered (default on; not in
    /// Java, whose batches always wait for the delay or the size). Off: Java's rule.
    pub fn batch_flush_when_idle(mut self, on: bool) -> Self {
        self.batch.flush_when_idle = on;
        self
    }

    /// Start the producer: learn our IP, begin route refresh and heartbeats.
    pub async fn start(self) -> Result<Producer> {
        if self.opts.namesrv_addrs.is_empty() {
            return Err(ClientError::InvalidArgument("no nameserver address".into()));
        }
        if self.auto_batch {
            self.batch.validate()?;
        }
        let instance = ClientInstance::new(self.opts.clone()).await;
        let inner = Arc::new(ProducerInner {
            shape: SendShape {
                group: self.group.clone(),
                compress_threshold: self.compress_threshold,
                max_message_size: self.max_message_size,
                default_topic_queue_nums: self.default_topic_queue_nums,
            },
            send_timeout: self.send_timeout,
            retries: self.retries,
            faults: FaultTracker::new(self.fault_backoff),
            publish: DashMap::new(),
            route_loading: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
            batcher: self.auto_batch.then(|| Accumulator::new(self.batch.clone())),
            instance,
        });
        let group = self.group.clone();
        let id = inner.instance.client_id.clone();
        inner.instance.set_heartbeat_source(Arc::new(move || HeartbeatData {
            client_id: id.clone(),
            producer_data_set: vec![
                ProducerData { group_name: group.clone() },
                ProducerData { group_name: "CLIENT_INNER_PRODUCER".into() },
            ],
            consumer_data_set: vec![],
            ..Default::default()
        }));
        let weak = Arc::downgrade(&inner);
        inner.instance.set_route_listener(Arc::new(move |topic, route| {
            if let Some(p) = weak.upgrade() {
                if topic != TBW102 {
                    let qs = publish_queues(topic, route);
                    if !qs.is_empty() {
                        p.publish
                            .insert(topic.to_string(), Arc::new(TopicPublishInfo::new(qs, false)));
                    }
                }
            }
        }));
        inner.instance.spawn_background();
        accumulator::spawn_flusher(&inner, inner.instance.shutdown.clone());
        Ok(Producer { inner })
    }
}

struct ProducerInner {
    instance: Arc<ClientInstance>,
    shape: SendShape,
    send_timeout: Duration,
    retries: usize,
    faults: FaultTracker,
    publish: DashMap<String, Arc<TopicPublishInfo>>,
    route_loading: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    /// The auto-batching accumulator, when on.
    batcher: Option<Accumulator>,
}

/// An async producer. Cheap to clone; clones share connections and routes, and any number of
/// sends may be in flight concurrently (they are pipelined on one connection per broker).
#[derive(Clone)]
pub struct Producer {
    inner: Arc<ProducerInner>,
}

impl Producer {
    /// A builder with Java's defaults.
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    /// This client's id (`ip@instance`).
    pub fn client_id(&self) -> &str {
        &self.inner.instance.client_id
    }

    /// The writable queues of a topic (fetching the route if needed; TBW102 fallback for unknown
    /// topics, which the broker auto-creates on first send).
    pub async fn publish_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        Ok(self.inner.publish_info(topic).await?.queues.clone())
    }

    /// Send a message and wait until the broker stored it. Retries on another broker on
    /// network errors and retriable broker codes.
    /// With [`auto_batch`](ProducerBuilder::auto_batch) it may travel in a batch.
    pub async fn send(&self, msg: Message) -> Result<SendResult> {
        if self.batchable(&msg)? {
            return accumulator::send(&self.inner, msg, None).await;
        }
        let p = prepare_single(&msg, &self.inner.shape, &self.inner.instance.ids)?;
        self.inner.send_prepared(p, None).await
    }

    /// Send to a given queue (no retries on other queues). With
    /// [`auto_batch`](ProducerBuilder::auto_batch) it may travel in a batch to that queue.
    pub async fn send_to_queue(&self, msg: Message, mq: &MessageQueue) -> Result<SendResult> {
        if self.batchable(&msg)? {
            return accumulator::send(&self.inner, msg, Some(mq.clone())).await;
        }
        self.send_to_queue_alone(msg, mq).await
    }

    async fn send_to_queue_alone(&self, msg: Message, mq: &MessageQueue) -> Result<SendResult> {
        let p = prepare_single(&msg, &self.inner.shape, &self.inner.instance.ids)?;
        self.inner.send_prepared(p, Some(mq.clone())).await
    }

    /// Whether `msg` goes through the accumulator. A message a single send would refuse is
    /// refused here, before it could join (and fail) a batch.
    fn batchable(&self, msg: &Message) -> Result<bool> {
        let Some(acc) = &self.inner.batcher else { return Ok(false) };
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(ClientError::Shutdown);
        }
        send::check_topic(&msg.topic)?;
        Ok(acc.accepts(msg, self.inner.shape.compress_threshold))
    }

    /// Send to the queue `selector` picks for `arg` (e.g. [`SelectByHash`] over an order id,
    /// so all messages of one key land in one queue, in order).
    pub async fn send_with_selector(
        &self,
        msg: Message,
        selector: &dyn MessageQueueSelector,
        arg: &str,
    ) -> Result<SendResult> {
        let info = self.inner.publish_info(&msg.topic).await?;
        if info.queues.is_empty() {
            return Err(ClientError::NoRoute(msg.topic.clone()));
        }
        let mq = selector.select(&info.queues, arg);
        // Alone, as Java's selector sends (an ordered key's messages stay one request each).
        self.send_to_queue_alone(msg, &mq).await
    }

    /// Send a message with a delay level (1 = 1 s, 2 = 5 s, 3 = 10 s, ... broker's `messageDelayLevel`).
    pub async fn send_delayed(&self, mut msg: Message, level: i32) -> Result<SendResult> {
        msg.set_delay_level(level);
        self.send(msg).await
    }

    /// Fire and forget: no response is awaited, no retry.
    pub async fn send_oneway(&self, msg: Message) -> Result<()> {
        let p = prepare_single(&msg, &self.inner.shape, &self.inner.instance.ids)?;
        let info = self.inner.publish_info(p.topic()).await?;
        let mq = info
            .select(None, &self.inner.faults)
            .ok_or_else(|| ClientError::NoRoute(p.topic().to_string()))?;
        let addr = self.inner.addr_of(&mq).await?;
        Ok(self
            .inner
            .instance
            .api
            .remoting()
            .invoke_oneway(&addr, p.command(mq.queue_id, &mq.broker_name))
            .await?)
    }

    /// Send several messages of one topic in one request (SEND_BATCH_MESSAGE). The result's
    /// `msg_id` joins the messages' ids with `,`; `queue_offset` is the first message's.
    pub async fn send_batch(&self, msgs: &[Message]) -> Result<SendResult> {
        let p = send::prepare_batch(msgs, &self.inner.shape, &self.inner.instance.ids)?;
        self.inner.send_prepared(p, None).await
    }

    /// Unregister from every broker and close connections. Further sends fail. With
    /// auto-batching, the pending batches are sent first and their answers awaited (at most
    /// the time their sends and retries may take).
    pub async fn shutdown(&self) {
        if self.inner.batcher.is_some() && !self.inner.closed.load(Ordering::SeqCst) {
            let attempts = 1 + self.inner.retries as u32;
            let wait = self.inner.send_timeout * attempts + Duration::from_secs(1);
            accumulator::close(&self.inner, wait).await;
        }
        if !self.inner.closed.swap(true, Ordering::SeqCst) {
            self.inner.instance.close(Some(&self.inner.shape.group), None).await;
        }
    }
}

impl Drop for ProducerInner {
    /// The last clone is gone: stop the route-refresh and heartbeat loops.
    fn drop(&mut self) {
        self.instance.shutdown.cancel();
    }
}

impl ProducerInner {
    async fn publish_info(&self, topic: &str) -> Result<Arc<TopicPublishInfo>> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(ClientError::Shutdown);
        }
        if let Some(p) = self.publish.get(topic) {
            return Ok(p.clone());
        }
        // One lookup at a time: a burst of first sends to a new topic must not become a burst
        // of nameserver requests.
        let _loading = self.route_loading.lock().await;
        if let Some(p) = self.publish.get(topic) {
            return Ok(p.clone());
        }
        self.instance.watch_topic(topic);
        // The route listener fills `publish` for known topics.
        if self.instance.refresh_route(topic).await?.is_some() {
            return match self.publish.get(topic) {
                Some(p) => {
                    let p = p.clone();
                    self.heartbeat_soon();
                    Ok(p)
                }
                // The topic exists but no master has a writable queue for it.
                None => Err(ClientError::NoRoute(topic.to_string())),
            };
        }
        // Unknown topic: send through the template so the broker auto-creates it (§2.12).
        let template = self
            .instance
            .route(TBW102)
            .await?
            .ok_or_else(|| ClientError::NoRoute(topic.to_string()))?;
        let qs = publish_queues(
            topic,
            &route_from_template(&template, self.shape.default_topic_queue_nums),
        );
        if qs.is_empty() {
            return Err(ClientError::NoRoute(topic.to_string()));
        }
        let info = Arc::new(TopicPublishInfo::new(qs, true));
        self.publish.entry(topic.to_string()).or_insert(info.clone());
        self.heartbeat_soon();
        Ok(info)
    }

    fn heartbeat_soon(&self) {
        let inst = self.instance.clone();
        tokio::spawn(async move { inst.heartbeat_all().await });
    }

    async fn addr_of(&self, mq: &MessageQueue) -> Result<String> {
        self.instance
            .master_addr(&mq.broker_name, &mq.topic)
            .await
            .ok_or_else(|| ClientError::BrokerNotFound(mq.broker_name.clone()))
    }

    async fn send_prepared(
        &self,
        p: send::PreparedSend,
        fixed: Option<MessageQueue>,
    ) -> Result<SendResult> {
        let attempts = if fixed.is_some() { 1 } else { 1 + self.retries };
        let mut avoid: Option<String> = None;
        let mut last = None;
        for _ in 0..attempts {
            let mq = match &fixed {
                Some(mq) => mq.clone(),
                None => {
                    let info = self.publish_info(p.topic()).await?;
                    info.select(avoid.as_deref(), &self.faults)
                        .ok_or_else(|| ClientError::NoRoute(p.topic().to_string()))?
                }
            };
            let addr = match self.addr_of(&mq).await {
                Ok(a) => a,
                Err(e) => {
                    avoid = Some(mq.broker_name.clone());
                    last = Some(e);
                    continue;
                }
            };
            let outcome = match self
                .instance
                .api
                .invoke(&addr, p.command(mq.queue_id, &mq.broker_name), self.send_timeout)
                .await
            {
                Ok(resp) => send::parse_response(&addr, &resp, &mq, &p.msg_id),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(r) => {
                    self.faults.mark_ok(&mq.broker_name);
                    return Ok(r);
                }
                Err(e) => {
                    let retriable = match &e {
                        ClientError::Broker { code, .. } => send::is_retriable(*code),
                        _ => true,
                    };
                    tracing::debug!(queue = %mq, error = %e, "send attempt failed");
                    self.faults.mark_failed(&mq.broker_name);
                    if retriable {
                        self.instance.refresh_route_after_failure(p.topic());
                    }
                    avoid = Some(mq.broker_name.clone());
                    if !retriable || fixed.is_some() {
                        return Err(e);
                    }
                    if matches!(&e, ClientError::Broker { code, .. } if *code == mq_common::protocol::codes::response::TOPIC_NOT_EXIST)
                    {
                        // A stale route: drop it so the next attempt looks it up again.
                        self.publish.remove(p.topic());
                    }
                    last = Some(e);
                }
            }
        }
        Err(ClientError::RetriesExhausted {
            attempts,
            last: Box::new(last.unwrap_or(ClientError::NoRoute(p.topic().to_string()))),
        })
    }
}
